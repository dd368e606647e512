"""The radiation the simulated probe sees: Poisson counts through a GM tube with dead time.

The field at the probe is the background plus the running exposure's field
plus the last ``dose_rate_usv_h`` event (spec/scenarios.md). The tube uses
the agent's effective calibration (no energy dependence in the simulator);
its non-paralysable dead time turns the true rate n into the measured rate
n / (1 + n·τ), and each counting window gets a Poisson number of counts of
that mean. Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_agent.dose.tube import Calibration


class Radiation:
    """Integrates the expected counts between instants and draws them per window."""

    def __init__(self, calibration: Calibration, background_usv_h: float, seed: int) -> None:
        self.cal = calibration
        self.background_usv_h = background_usv_h
        self.field = {"field.exposure": 0.0, "field.event": 0.0}
        self._rng = np.random.default_rng(seed)
        #: The measured rate by dose rate (pure functions of the calibration): pulsed
        #: fluoroscopy switches between two fields thousands of times.
        self._rates: dict[float, float] = {}
        self._t = 0.0
        self._expected = 0.0
        self._rate = self._measured_rate()
        self._ahead: tuple[Any, list[float], list[float]] = (None, [], [])

    @property
    def dose_rate_usv_h(self) -> float:
        return self.background_usv_h + sum(self.field.values())

    def _measured_rate(self) -> float:
        usv_h = self.dose_rate_usv_h
        rate = self._rates.get(usv_h)
        if rate is None:
            if len(self._rates) >= 4096:
                self._rates.clear()
            rate = self._rates[usv_h] = self.cal.measured_cps(self.cal.true_cps_for(usv_h))
        return rate

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

    def draw_ahead(self, times: Sequence[float]) -> list[int]:
        """The counts of the windows ending at ``times`` (increasing, the field unchanged
        meanwhile), as ``advance(t); take()`` for each gives them: the same means, the same
        draws in the same order, made by one call (numpy draws an array of means one mean
        after the other, and a mean of 0 draws nothing, as :meth:`take` skips it). The
        generator's state before them is kept for :meth:`keep`; until then, time stands at
        the last one."""
        means: list[float] = []
        expected, before, rate = self._expected, self._t, self._rate
        for t in times:
            expected += rate * (t - before)
            before = t
            means.append(expected)
            expected = 0.0
        self._ahead = (self._rng.bit_generator.state, means, list(times))
        drawn = iter(self._rng.poisson([m for m in means if m > 0]).tolist())
        self._t, self._expected = before, 0.0
        return [next(drawn) if m > 0 else 0 for m in means]

    def keep(self, taken: int) -> None:
        """Only the first ``taken`` windows of :meth:`draw_ahead` were used: the generator
        is put back as if only they had been drawn, and time at the last of them."""
        state, means, times = self._ahead
        if taken < len(means):
            self._rng.bit_generator.state = state
            used = [m for m in means[:taken] if m > 0]
            if used:
                self._rng.poisson(used)
            self._t, self._expected = times[taken - 1], 0.0
