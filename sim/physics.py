"""The radiation the simulated probe sees: Poisson counts through a GM tube with dead time.

The field at the probe is the background plus the running exposure's field
plus the last ``dose_rate_usv_h`` event (spec/scenarios.md). The tube uses
the agent's effective calibration (no energy dependence in the simulator);
its non-paralysable dead time turns the true rate n into the measured rate
n / (1 + n·τ), and each counting window gets a Poisson number of counts of
that mean. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

from edge_agent.dose.tube import Calibration


class Radiation:
    """Integrates the expected counts between instants and draws them per window."""

    def __init__(self, calibration: Calibration, background_usv_h: float, seed: int) -> None:
        self.cal = calibration
        self.background_usv_h = background_usv_h
        self.field = {"field.exposure": 0.0, "field.event": 0.0}
        self._rng = np.random.default_rng(seed)
        self._t = 0.0
        self._expected = 0.0
        self._rate = self._measured_rate()

    @property
    def dose_rate_usv_h(self) -> float:
        return self.background_usv_h + sum(self.field.values())

    def _measured_rate(self) -> float:
        return self.cal.measured_cps(self.cal.true_cps_for(self.dose_rate_usv_h))

    def advance(self, t: float) -> None:
        """Let the present field act up to ``t``."""
        self._expected += self._rate * (t - self._t)
        self._t = t

    def set_field(self, channel: str, usv_h: float) -> None:
        self.field[channel] = usv_h
        self._rate = self._measured_rate()

    def take(self) -> int:
        """The counts of the window that ends now (since the last take)."""
        counts = int(self._rng.poisson(self._expected)) if self._expected > 0 else 0
        self._expected = 0.0
        return counts
