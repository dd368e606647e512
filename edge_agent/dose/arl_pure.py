"""The exact CUSUM run lengths of :mod:`edge_agent.dose.arl`, in plain Python.

The box has no numpy: a configuration that the precomputed table
(:mod:`edge_agent.dose.thresholds`) does not hold is computed here, by the
same renewal recursion, the same settling rule (all thresholds evaluated
together stop on the same frame) and the same threshold search
(:mod:`edge_agent.dose.arl_core`), so the results agree with numpy's to the
rounding of sums (tests/test_arl_table.py). It is much slower than numpy
(seconds on a PC, a minute or more on a Pi Zero 2 W for one configuration),
which is why the built-in configurations are looked up and a computed one
is cached on disk.

Only the arithmetic's layout differs: the banded matrix product becomes one
convolution per threshold over the columns that hold mass, and the masks
become index ranges (the statistic ``a·K - c·n`` is monotonic in ``K``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import mul

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


def run_lengths(w: Walk, thresholds: Sequence[float]) -> list[float]:
    """Mean frames from ``S = 0`` to ``S >= h``, for each ``h`` (exact renewal identity)."""
    hs = [float(h) for h in thresholds]
    if not hs or min(hs) <= 0.0:
        raise ValueError("thresholds must be > 0")
    return _Cycle(w, hs).run()


def _convolve(row: list[float], rpmf: list[float], ncols: int) -> list[float]:
    """``row`` convolved with the pmf (given reversed), ``ncols`` columns, zeros skipped."""
    live = [i for i, x in enumerate(row) if x != 0.0]
    out = [0.0] * ncols
    if not live:
        return out
    first, last, p = live[0], live[-1], len(rpmf)
    for j in range(first, last + p):
        i0, i1 = max(first, j - p + 1), min(last, j) + 1
        out[j] = sum(map(mul, row[i0:i1], rpmf[p - 1 - j + i0 : p - j + i1 - 1]))
    return out


def _first_at_or_above(a: float, offset: float, h: float, ncols: int) -> int:
    """First column ``j`` of the (monotonic) statistic ``a·j + offset`` that sits at ``h``
    or past it when ``a > 0``; with ``a < 0``, the first that is below ``h``. The guess
    from the division is checked on the very floats the numpy version compares."""
    at = (lambda j: a * j + offset >= h) if a > 0.0 else (lambda j: not a * j + offset >= h)
    j = max(0, min(ncols, math.ceil((h - offset) / a)))
    while j > 0 and at(j - 1):
        j -= 1
    while j < ncols and not at(j):
        j += 1
    return j


class _Cycle:
    """Forward recursion over one renewal cycle, one mass row per threshold."""

    def __init__(self, walk: Walk, hs: list[float]) -> None:
        self.walk, self.hs, self.hmax = walk, hs, max(hs)
        self.width = math.ceil(self.hmax / abs(walk.a)) + 2
        kmin, pmf, above, below = poisson_window(walk.m)
        self.rpmf, self.kmin, self.ncols = pmf[::-1], kmin, self.width + len(pmf) - 1
        self.tail = above if walk.a > 0.0 else below  # jumps straight past h
        self.mass = [[1.0] + [0.0] * (self.width - 1) for _ in hs]
        self.lo, self.n = 0, 0
        self.cycle = [1.0] * len(hs)
        self.alarm = [0.0] * len(hs)

    def run(self) -> list[float]:
        theta = cramer_root(self.walk)
        while self.step():
            if self.n % CHECK_EVERY == 0 and self.settled(theta):
                break
            if self.n > MAX_FRAMES:
                raise ValueError("CUSUM cycle does not settle: hypotheses too close for the frame")
        out = []
        for cycle, alarm, left in zip(self.cycle, self.alarm, self.remaining_time(), strict=True):
            total = cycle + left
            alarm += self.tail * total  # counts past the table jump straight past h
            out.append(total / alarm if alarm > 0.0 else math.inf)
        return out

    def step(self) -> bool:
        """Advance one frame; False once nothing is alive."""
        w, width, ncols = self.walk, self.width, self.ncols
        news = [_convolve(row, self.rpmf, ncols) for row in self.mass]
        base = self.lo + self.kmin
        self.n += 1
        offset = w.a * base - w.c * self.n
        cuts = [_first_at_or_above(w.a, offset, h, ncols) for h in self.hs]
        for r, (new, cut) in enumerate(zip(news, cuts, strict=True)):
            self.alarm[r] += sum(new[cut:]) if w.a > 0.0 else sum(new[:cut])
        j0 = self._first_live(offset)
        if j0 >= ncols or not 0.0 < w.a * j0 + offset < self.hmax:
            self.mass = [[0.0] * width for _ in self.hs]
            return False
        j1 = min(j0 + width, ncols)
        positive = [w.a * j + offset > 0.0 for j in range(j0, j1)]
        for r, (new, cut) in enumerate(zip(news, cuts, strict=True)):
            live = new[j0:j1]
            if w.a > 0.0:
                for j in range(max(cut, j0), j1):
                    live[j - j0] = 0.0
            else:
                for j in range(j0, j1):
                    if j < cut or not positive[j - j0]:
                        live[j - j0] = 0.0
            live += [0.0] * (width - len(live))
            self.mass[r] = live
            self.cycle[r] += sum(live)
        self.lo = base + j0
        return True

    def _first_live(self, offset: float) -> int:
        """First column whose statistic lies in (0, hmax): the window's new start."""
        a = self.walk.a
        edge = -offset / a if a > 0.0 else (self.hmax - offset) / a
        return max(0, math.floor(edge) + 1)

    def _statistic(self) -> list[float]:
        w = self.walk
        return [max(w.a * float(self.lo + j) - w.c * self.n, 0.0) for j in range(self.width)]

    def _reach(self) -> float:
        """Largest likely fall below 0 on the frame that ends a cycle."""
        w = self.walk
        return w.c if w.a > 0.0 else abs(w.a) * (w.m + 3.0 * math.sqrt(w.m) + 1.0)

    def remaining_time(self) -> list[float]:
        """Wald's estimate of the frames the still-alive mass has left before falling to 0."""
        weights = [s + 0.5 * self._reach() for s in self._statistic()]
        drift = abs(self.walk.drift)
        return [sum(map(mul, row, weights)) / drift for row in self.mass]

    def settled(self, theta: float) -> bool:
        """True once what is still alive can change no result by more than RTOL."""
        s = self._statistic()
        per_mass = 0.5 * self._reach() / abs(self.walk.drift)
        for row, h, alarm, cycle in zip(self.mass, self.hs, self.alarm, self.cycle, strict=True):
            future = sum(map(mul, row, [math.exp(theta * (si - h)) for si in s]))
            if not (future <= RTOL * alarm and sum(row) * per_mass <= RTOL * cycle):
                return False
        return True


def shared_thresholds(
    rate0_cps: float, rates1_cps: tuple[float, ...], mtbfa_s: float, frame_s: float
) -> tuple[float, ...]:
    """:func:`edge_agent.dose.arl_core.shared_thresholds` with this engine."""
    return arl_core.shared_thresholds(run_lengths, rate0_cps, rates1_cps, mtbfa_s, frame_s)


def threshold_for(
    rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float, true_cps: float
) -> float:
    """:func:`edge_agent.dose.arl_core.threshold_for` with this engine."""
    return arl_core.threshold_for(run_lengths, rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)


def arl_s(
    rate0_cps: float, rate1_cps: float, threshold: float, frame_s: float, true_cps: float
) -> float:
    """Mean seconds from a fresh start to an alarm while the measured rate is ``true_cps``."""
    return run_lengths(llr_walk(rate0_cps, rate1_cps, frame_s, true_cps), [threshold])[0] * frame_s
