"""The two statistical alarms: ``radiation_without_emission`` and ``dose_rate_high``.

Both are banks of Poisson CUSUMs on the probe's per-frame counts (the
caller skips frames it knows are lost). A bank raises as soon as any of its
CUSUMs signals; the false-alarm budget (one per ``mtbfa_s``, ten years by
default) is shared among them so that the whole bank keeps it. Once raised,
an alarm clears only when a reverse CUSUM decides the rate has dropped well
below the raising level: a rate hovering near the level does not chatter.
Hypotheses are *measured* count rates: the tube's dead time is applied to
each one through the calibration. Design and figures: docs/dose-rate.md.
Thresholds come from :mod:`edge_agent.dose.thresholds` (precomputed for the
built-in configurations; no numpy on the box).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from edge_agent.dose.cusum import (
    YEAR_S,
    CusumBank,
    PoissonCusum,
    cusum_mtbfa_s,
    cusum_threshold,
)
from edge_agent.dose.thresholds import shared_thresholds, threshold_for
from edge_agent.dose.tube import Calibration

__all__ = [
    "DEFAULT_HIGH_FACTORS",
    "DEFAULT_RISES_USV_H",
    "MIN_RATE_RATIO",
    "YEAR_S",
    "CusumBank",
    "HighRateDetector",
    "PoissonCusum",
    "RiseDetector",
    "Verdict",
    "cusum_mtbfa_s",
    "cusum_threshold",
]

Verdict = Literal["raised", "cleared"] | None

DEFAULT_RISES_USV_H: Final = tuple(0.3 * 2.0**i for i in range(11))
"""Rises over background, 0.3 to 307 µSv/h, one per octave (docs/dose-rate.md)."""

DEFAULT_HIGH_FACTORS: Final = (1.2, 2.0, 5.0)
"""Fields, as multiples of the ``dose_rate_high`` threshold, that its bank is tuned for."""

MIN_RATE_RATIO: Final = 1.05
"""A CUSUM whose alternative raises the measured rate by less than 5 % is not used.

Its log-likelihood ratio per count is so small that it would need minutes of
counts (over a high background, or near saturation); the run-length lattice
would also be too fine to compute at start-up.
"""


class _Estimate:
    """Counts and counting time since the window opened: a mean measured rate."""

    def __init__(self) -> None:
        self.counts, self.seconds = 0, 0.0

    def add(self, counts: int, dt: float) -> None:
        self.counts += counts
        self.seconds += dt

    def clear(self) -> None:
        self.counts, self.seconds = 0, 0.0


class _Detector:
    """A bank that raises, a reverse CUSUM that clears, and the pause logic they share."""

    def __init__(self, bank: CusumBank, clear: PoissonCusum, calibration: Calibration) -> None:
        self.bank, self.clearing, self.calibration = bank, clear, calibration
        self.active = False
        self._window = _Estimate()

    def update(self, counts: int, dt: float) -> Verdict:
        """Take one frame; "raised" or "cleared" when the alarm's state changes."""
        if not self.active:
            if not self.bank.update(counts, dt):
                return None
            self.active = True
            self.bank.reset()
            self.clearing.reset()
            self._window.clear()
            self._window.add(counts, dt)
            return "raised"
        self._window.add(counts, dt)
        if not self.clearing.update(counts, dt):
            return None
        self.active = False
        self.pause()
        return "cleared"

    def pause(self) -> None:
        """Forget all statistics; an active alarm stays active and its clearing starts over."""
        self.bank.reset()
        self.clearing.reset()
        self._window.clear()

    def _window_usv_h(self) -> float | None:
        w, cal = self._window, self.calibration
        if not self.active or w.seconds <= 0.0:
            return None
        return cal.usv_h(cal.true_cps(w.counts / w.seconds))


class RiseDetector(_Detector):
    """``radiation_without_emission``: counts significantly above background, emission off.

    One CUSUM per rise of ``rises_usv_h`` (a geometric bank: the CUSUM tuned
    to the nearest rise loses only a few % of the optimal delay). It clears
    when a reverse CUSUM, background against half the smallest rise, finds
    the rate back at background; its threshold makes a false clear rarer
    than ``clear_mtbf_s`` (default ``mtbfa_s``) while the field stays at the
    smallest rise: a clear followed by a new raise would be a false alarm too.
    The caller calls :meth:`pause` while emitting and during the hold-off
    after each emission edge, and feeds no frame of that time.
    """

    def __init__(
        self,
        calibration: Calibration,
        background_usv_h: float,
        *,
        frame_s: float = 0.1,
        mtbfa_s: float = 10 * YEAR_S,
        rises_usv_h: Sequence[float] = DEFAULT_RISES_USV_H,
        clear_mtbf_s: float | None = None,
    ) -> None:
        if background_usv_h <= 0.0:
            raise ValueError("the background must be > 0 µSv/h: a CUSUM compares to it")
        if not rises_usv_h or min(rises_usv_h) <= 0.0:
            raise ValueError(f"rises must be > 0 µSv/h, got {list(rises_usv_h)}")
        cal = calibration
        r0 = cal.measured_cps_for(background_usv_h)
        kept = sorted(rises_usv_h)
        rates = [cal.measured_cps_for(background_usv_h + r) for r in kept]
        usable = [i for i, r in enumerate(rates) if r >= MIN_RATE_RATIO * r0]
        if not usable:
            raise ValueError(
                f"no rise of {kept} µSv/h raises the count rate by 5 % over"
                f" {background_usv_h} µSv/h of background"
            )
        self.background_usv_h = background_usv_h
        self.rises_usv_h = tuple(kept[i] for i in usable)
        rates1 = tuple(rates[i] for i in usable)
        bank = CusumBank(r0, rates1, shared_thresholds(r0, rates1, mtbfa_s, frame_s), frame_s)
        half = r0 + 0.5 * (rates1[0] - r0)
        h_clear = threshold_for(half, r0, clear_mtbf_s or mtbfa_s, frame_s, rates1[0])
        super().__init__(bank, PoissonCusum(half, r0, h_clear), calibration)

    @property
    def estimate_usv_h(self) -> float | None:
        """Mean excess over background since the alarm was raised (None when not active)."""
        total = self._window_usv_h()
        return None if total is None else max(0.0, total - self.background_usv_h)


class HighRateDetector(_Detector):
    """``dose_rate_high``: the measured (total) dose rate passes ``threshold_usv_h``.

    CUSUMs from the threshold to ``factors`` × threshold, tuned so that a
    field exactly at the threshold raises less than once per ``mtbfa_s``.
    It clears when a reverse CUSUM, threshold against ``clear_fraction`` ×
    threshold, says the field is back under it (a false clear is rarer than
    ``clear_mtbf_s``, default ``mtbfa_s``, at the threshold). Hypotheses go through the dead-time
    model, so a threshold near the tube's saturation still works, as long as
    the first factor still raises the measured rate by 5 %.
    """

    def __init__(
        self,
        calibration: Calibration,
        threshold_usv_h: float,
        *,
        frame_s: float = 0.1,
        mtbfa_s: float = 10 * YEAR_S,
        factors: Sequence[float] = DEFAULT_HIGH_FACTORS,
        clear_fraction: float = 0.7,
        clear_mtbf_s: float | None = None,
    ) -> None:
        if threshold_usv_h <= 0.0 or not 0.0 < clear_fraction < 1.0 or min(factors) <= 1.0:
            raise ValueError("need a threshold > 0, factors > 1 and a clear fraction in (0, 1)")
        cal = calibration
        r0 = cal.measured_cps_for(threshold_usv_h)
        rates1 = tuple(cal.measured_cps_for(f * threshold_usv_h) for f in sorted(factors))
        if rates1[0] < MIN_RATE_RATIO * r0:
            raise ValueError(
                f"{threshold_usv_h} µSv/h is too close to the saturation of {cal.name}:"
                f" {min(factors)}× that field adds under 5 % to the measured count rate"
            )
        self.threshold_usv_h = threshold_usv_h
        bank = CusumBank(r0, rates1, shared_thresholds(r0, rates1, mtbfa_s, frame_s), frame_s)
        low = cal.measured_cps_for(clear_fraction * threshold_usv_h)
        h_clear = threshold_for(r0, low, clear_mtbf_s or mtbfa_s, frame_s, r0)
        clear = PoissonCusum(r0, low, h_clear)
        super().__init__(bank, clear, calibration)

    @property
    def estimate_usv_h(self) -> float | None:
        """Mean total dose rate since the alarm was raised (None when not active)."""
        return self._window_usv_h()
