"""Mean time between false alarms of a per-frame Poisson CUSUM, computed exactly.

The CUSUM ``S = max(0, S + a·k - c)`` on per-frame counts ``k ~ Poisson(m)``
renews every time it falls back to 0. So its average run length is exactly
``E[cycle length] / P(a cycle ends in an alarm)``, and inside one cycle the
statistic is ``a·K - c·n`` for ``K`` counts in ``n`` frames: a forward
recursion over the distribution of ``K`` gives both terms with no
discretisation of the statistic. It matters because the usual continuous-time
approximation (Siegmund: ``ARL ≈ e^h / |μ0|``) ignores that counts arrive in
100 ms frames: over a 0.1 µSv/h background it is off by a factor of 1.7 for a
0.3 µSv/h rise, 10 for 5 µSv/h and by many orders of magnitude above
20 µSv/h (docs/dose-rate.md), which would cost a frame or more of detection
delay. With few counts per frame the run length is a step function of the
threshold, so the search (:mod:`edge_agent.dose.arl_core`) looks for the step edge.

This is the numpy engine: the reference that the precomputed table
(``arl_table.json``, made by :mod:`edge_agent.dose.make_arl_table`) and the
plain-Python fallback of the box (:mod:`edge_agent.dose.arl_pure`) are
tested against; the hub, the simulator's analysis and the benches use it.
The agent never imports it (:mod:`edge_agent.dose.thresholds`). The walk
and the threshold search are :mod:`edge_agent.dose.arl_core`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from edge_agent.dose import arl_core
from edge_agent.dose.arl_core import (
    CHECK_EVERY,
    MAX_FRAMES,
    RTOL,
    Walk,
    cramer_root,
    llr_walk,
    poisson_window,
)

__all__ = ["Walk", "arl_s", "llr_walk", "run_lengths", "shared_thresholds", "siegmund_arl_s",
           "threshold_for"]

FloatArray = npt.NDArray[np.float64]


def _poisson(m: float) -> tuple[int, FloatArray, float, float]:
    """Counts kmin..kmax holding all but ~1e-30 of Poisson(m), and the tails above and below."""
    kmin, pmf, above, below = poisson_window(m)
    return kmin, np.asarray(pmf, dtype=np.float64), above, below


def run_lengths(w: Walk, thresholds: Sequence[float]) -> FloatArray:
    """Mean frames from ``S = 0`` to ``S >= h``, for each ``h`` (exact renewal identity)."""
    hs = np.asarray(thresholds, dtype=np.float64)
    if hs.size == 0 or float(hs.min()) <= 0.0:
        raise ValueError("thresholds must be > 0")
    return _Cycle(w, hs).run()


class _Cycle:
    """Forward recursion over one renewal cycle: the mass of (frames n, counts K) still alive.

    Column ``j`` of ``mass`` holds ``K = lo + j`` counts after ``n`` frames, where
    the statistic is ``a·K - c·n``. Each frame convolves with the Poisson law
    (a banded matrix product), books what reaches ``h`` as alarm, drops what
    falls to 0 (the cycle ends there) and slides the window onto what lives.
    """

    def __init__(self, walk: Walk, hs: FloatArray) -> None:
        self.walk, self.hs, self.hcol, self.hmax = walk, hs, hs[:, None], float(hs.max())
        self.width = math.ceil(self.hmax / abs(walk.a)) + 2
        kmin, pmf, above, below = _poisson(walk.m)
        self.conv = np.zeros((self.width, self.width + pmf.size - 1))
        for i in range(self.width):
            self.conv[i, i : i + pmf.size] = pmf
        self.tail = above if walk.a > 0.0 else below  # jumps straight past h
        self.kmin = kmin
        self.s_cols = walk.a * np.arange(self.conv.shape[1], dtype=np.float64)
        self.mass = np.zeros((hs.size, self.width))
        self.mass[:, 0] = 1.0
        self.lo, self.n = 0, 0
        self.cycle = np.ones(hs.size)
        self.alarm = np.zeros(hs.size)

    def run(self) -> FloatArray:
        theta = cramer_root(self.walk)
        while self.step():
            if self.n % CHECK_EVERY == 0 and self.settled(theta):
                break
            if self.n > MAX_FRAMES:
                raise ValueError("CUSUM cycle does not settle: hypotheses too close for the frame")
        cycle = self.cycle + self.remaining_time()
        alarm = self.alarm + self.tail * cycle  # counts past the table jump straight past h
        with np.errstate(divide="ignore"):
            return np.where(alarm > 0.0, cycle / alarm, np.inf)

    def step(self) -> bool:
        """Advance one frame; False once nothing is alive."""
        w = self.walk
        new = self.mass @ self.conv
        base = self.lo + self.kmin
        self.n += 1
        offset = w.a * base - w.c * self.n
        s = self.s_cols + offset
        above = s >= self.hcol
        self.alarm += (new * above).sum(axis=1)
        j0 = self._first_live(offset)
        if j0 >= s.size or not 0.0 < s[j0] < self.hmax:
            self.mass = np.zeros_like(self.mass)
            return False
        j1 = j0 + self.width
        live = new[:, j0:j1] * ~above[:, j0:j1]
        if w.a < 0.0:
            live *= s[j0:j1] > 0.0
        if live.shape[1] < self.width:
            live = np.pad(live, ((0, 0), (0, self.width - live.shape[1])))
        self.mass = live
        self.lo = base + j0
        self.cycle += live.sum(axis=1)
        return True

    def _first_live(self, offset: float) -> int:
        """First column whose statistic lies in (0, hmax): the window's new start."""
        a = self.walk.a
        edge = -offset / a if a > 0.0 else (self.hmax - offset) / a
        return max(0, math.floor(edge) + 1)

    def _statistic(self) -> FloatArray:
        w = self.walk
        ks = self.lo + np.arange(self.width, dtype=np.float64)
        return np.maximum(w.a * ks - w.c * self.n, 0.0)

    def _reach(self) -> float:
        """Largest likely fall below 0 on the frame that ends a cycle."""
        w = self.walk
        return w.c if w.a > 0.0 else abs(w.a) * (w.m + 3.0 * math.sqrt(w.m) + 1.0)

    def remaining_time(self) -> FloatArray:
        """Wald's estimate of the frames the still-alive mass has left before falling to 0."""
        s = self._statistic()
        est = (self.mass * (s[None, :] + 0.5 * self._reach())).sum(axis=1)
        return np.asarray(est / abs(self.walk.drift), dtype=np.float64)

    def settled(self, theta: float) -> bool:
        """True once what is still alive can change no result by more than RTOL."""
        s = self._statistic()
        future_alarm = (self.mass * np.exp(theta * (s[None, :] - self.hcol))).sum(axis=1)
        time_error = self.mass.sum(axis=1) * (0.5 * self._reach() / abs(self.walk.drift))
        return bool(
            np.all(future_alarm <= RTOL * self.alarm) and np.all(time_error <= RTOL * self.cycle)
        )


@lru_cache(maxsize=256)
def shared_thresholds(
    rate0_cps: float, rates1_cps: tuple[float, ...], mtbfa_s: float, frame_s: float
) -> tuple[float, ...]:
    """:func:`edge_agent.dose.arl_core.shared_thresholds` with this engine (cached)."""
    return arl_core.shared_thresholds(run_lengths, rate0_cps, rates1_cps, mtbfa_s, frame_s)


@lru_cache(maxsize=256)
def threshold_for(
    rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float, true_cps: float
) -> float:
    """Smallest threshold giving a mean time to alarm of ``mtbfa_s`` at ``true_cps``."""
    return arl_core.threshold_for(run_lengths, rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)


def arl_s(
    rate0_cps: float, rate1_cps: float, threshold: float, frame_s: float, true_cps: float
) -> float:
    """Mean seconds from a fresh start to an alarm while the measured rate is ``true_cps``."""
    walk = llr_walk(rate0_cps, rate1_cps, frame_s, true_cps)
    return float(run_lengths(walk, [threshold])[0]) * frame_s


def siegmund_arl_s(rate0_cps: float, rate1_cps: float, threshold: float) -> float:
    """Continuous-time approximation ``e^h / |μ0|`` (for comparison only, see the module doc)."""
    a = math.log(rate1_cps / rate0_cps)
    return math.exp(threshold) / abs(rate1_cps - rate0_cps - rate0_cps * a)
