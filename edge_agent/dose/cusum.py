"""Poisson CUSUM statistics on per-frame counts, cheap enough for every 100 ms frame.

A CUSUM for a jump of the *measured* count rate from ``r0`` to ``r1`` adds
each frame's log-likelihood ratio ``k·ln(r1/r0) - (r1 - r0)·dt`` and floors
the sum at 0; it signals when the sum reaches a threshold ``h``. For a known
``r1`` no detector has a smaller worst-case mean delay at the same false-alarm
rate (Lorden, Moustakides). Thresholds come from :mod:`edge_agent.dose.thresholds`
(the detectors') and :mod:`edge_agent.dose.arl`, which computes run lengths
exactly for 100 ms frames.

The runtime side uses plain floats and precomputed constants: the agent
updates it 10 times a second on a Raspberry Pi, the simulator hundreds of
thousands of times per simulated day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

YEAR_S: Final = 365.25 * 86400.0


class PoissonCusum:
    """One CUSUM for a change of the measured rate from ``rate0_cps`` to ``rate1_cps``.

    Works both ways: with ``rate1 < rate0`` it detects a drop (used to decide
    that an alarm's condition is over).
    """

    def __init__(self, rate0_cps: float, rate1_cps: float, threshold: float) -> None:
        if min(rate0_cps, rate1_cps) <= 0.0 or rate0_cps == rate1_cps or threshold <= 0.0:
            raise ValueError("CUSUM needs two different rates > 0 and a threshold > 0")
        self.rate0_cps, self.rate1_cps, self.threshold = rate0_cps, rate1_cps, threshold
        self._weight = math.log(rate1_cps / rate0_cps)
        self._gap = rate1_cps - rate0_cps
        self.statistic = 0.0

    def update(self, counts: int, dt: float) -> bool:
        """Add one frame of ``counts`` over ``dt`` seconds; True when the statistic is at ``h``.

        The statistic is not reset by a signal: call :meth:`reset`.
        """
        s = self.statistic + counts * self._weight - self._gap * dt
        self.statistic = s if s > 0.0 else 0.0
        return self.statistic >= self.threshold

    def reset(self) -> None:
        self.statistic = 0.0


class CusumBank:
    """CUSUMs for several rises over one rate, updated together; signals when any one does.

    Every rise has a positive weight and drift, so a statistic at 0 stays at 0
    on an empty frame: frames without counts cost almost nothing while all
    statistics rest at 0 (most of the time, over background).
    """

    def __init__(
        self,
        rate0_cps: float,
        rates1_cps: Sequence[float],
        thresholds: Sequence[float],
        frame_s: float,
    ) -> None:
        if len(rates1_cps) != len(thresholds) or not rates1_cps:
            raise ValueError("a bank needs one threshold per rate, and at least one rate")
        if min(rates1_cps) <= rate0_cps or min(thresholds) <= 0.0:
            raise ValueError("a bank detects rises: every rate must exceed rate0, h > 0")
        self.rate0_cps = rate0_cps
        self.rates1_cps = tuple(rates1_cps)
        self.thresholds = tuple(thresholds)
        self._weights = tuple(math.log(r / rate0_cps) for r in rates1_cps)
        self._gaps = tuple(r - rate0_cps for r in rates1_cps)
        self._frame_s = frame_s
        self._drifts = tuple(g * frame_s for g in self._gaps)
        self.statistics = [0.0] * len(self._gaps)
        self._idle = True
        self.fired: int | None = None
        """Index of the rise whose CUSUM signalled last (the smallest one if several)."""

    def update(self, counts: int, dt: float) -> bool:
        """Add one frame to every CUSUM; True when at least one reaches its threshold."""
        if counts == 0 and self._idle:
            return False
        drifts = self._drifts if dt == self._frame_s else tuple(g * dt for g in self._gaps)
        new: list[float] = []
        idle, fired = True, -1
        for s, w, d, h in zip(self.statistics, self._weights, drifts, self.thresholds, strict=True):
            s += counts * w - d
            if s <= 0.0:
                s = 0.0
            else:
                idle = False
                if s >= h and fired < 0:
                    fired = len(new)
            new.append(s)
        self.statistics, self._idle = new, idle
        if fired < 0:
            return False
        self.fired = fired
        return True

    def reset(self) -> None:
        self.statistics = [0.0] * len(self._gaps)
        self._idle = True


def cusum_threshold(rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float) -> float:
    """Smallest threshold whose mean time between false alarms at ``rate0_cps`` is ``mtbfa_s``.

    For the per-frame CUSUM of :class:`PoissonCusum` fed frames of ``frame_s``,
    restarted from 0 after each alarm. Computed exactly (see :mod:`edge_agent.dose.arl`),
    not from a continuous-time approximation, and cached. An analysis helper (tests,
    benches): it imports numpy on its first call; the detectors never call it.
    """
    from edge_agent.dose.arl import threshold_for

    if mtbfa_s <= frame_s:
        raise ValueError("the mean time between false alarms must exceed one frame")
    return threshold_for(rate0_cps, rate1_cps, mtbfa_s, frame_s, rate0_cps)


def cusum_mtbfa_s(
    rate0_cps: float,
    rate1_cps: float,
    threshold: float,
    frame_s: float,
    true_cps: float | None = None,
) -> float:
    """Mean seconds to a signal from a fresh start, counting at ``true_cps`` (default ``rate0``).

    At ``rate0`` this is the mean time between false alarms of a CUSUM
    restarted after each one; the statistic must drift down at ``true_cps``. An analysis
    helper like :func:`cusum_threshold` (numpy, imported on call).
    """
    from edge_agent.dose.arl import arl_s

    rate = rate0_cps if true_cps is None else true_cps
    return arl_s(rate0_cps, rate1_cps, threshold, frame_s, rate)
