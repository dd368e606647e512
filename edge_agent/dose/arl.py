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
threshold, so the search below looks for the step edge.

Only this module uses numpy; detectors call it once, at construction, and
the results are cached per process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_RTOL = 1e-4  # relative accuracy of each run length
_CHECK_EVERY = 16  # frames between convergence checks
_MAX_FRAMES = 400_000  # cycles longer than this are refused (hypotheses too close)
_H_FLOOR = 1e-6  # smallest threshold considered
_H_TOL = 1e-4  # threshold precision (nats) where the run length steps
_ARL_TOL = 0.02  # ... or once the bracket's run lengths agree this well (lattice micro-steps)
_EDGE_MARGIN = 1e-9  # keeps float rounding at runtime on the safe side of a step edge


@dataclass(frozen=True)
class Walk:
    """Per-frame increments ``a·k - c`` of a CUSUM, with ``k ~ Poisson(m)``."""

    a: float
    c: float
    m: float

    @property
    def drift(self) -> float:
        return self.m * self.a - self.c


def llr_walk(rate0_cps: float, rate1_cps: float, frame_s: float, true_cps: float) -> Walk:
    """Per-frame log-likelihood ratio of ``rate1`` against ``rate0``, counted at ``true_cps``."""
    if min(rate0_cps, rate1_cps, frame_s, true_cps) <= 0.0 or rate0_cps == rate1_cps:
        raise ValueError("CUSUM rates and frame must be > 0, and the two rates must differ")
    walk = Walk(
        math.log(rate1_cps / rate0_cps), (rate1_cps - rate0_cps) * frame_s, true_cps * frame_s
    )
    if walk.drift >= 0.0:
        raise ValueError(f"the statistic does not drift down at {true_cps} cps: no false-alarm ARL")
    return walk


def _poisson(m: float) -> tuple[int, FloatArray, float, float]:
    """Counts kmin..kmax holding all but ~1e-30 of Poisson(m), and the tails above and below."""
    spread = 12.0 * math.sqrt(m) + 12.0
    kmin, kmax = max(0, math.floor(m - spread)), math.ceil(m + spread)
    ks = np.arange(kmin, kmax + 61, dtype=np.float64)
    lgam = np.array([math.lgamma(k + 1.0) for k in ks.tolist()])
    pmf = np.exp(ks * math.log(m) - m - lgam) if m > 0.0 else (ks == 0.0).astype(np.float64)
    inside = pmf[: kmax - kmin + 1]
    above = float(pmf[kmax - kmin + 1 :].sum())
    return kmin, inside, above, max(0.0, 1.0 - float(inside.sum()) - above)


def _cramer_root(w: Walk) -> float:
    """θ > 0 with E[exp(θX)] = 1: the chance of ever climbing ``d`` is at most e^(-θd)."""

    def phi(t: float) -> float:
        return w.m * math.expm1(t * w.a) - t * w.c

    lo, hi = 0.0, 1.0
    while phi(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if phi(mid) < 0.0 else (lo, mid)
    return lo


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
        theta = _cramer_root(self.walk)
        while self.step():
            if self.n % _CHECK_EVERY == 0 and self.settled(theta):
                break
            if self.n > _MAX_FRAMES:
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
        """True once what is still alive can change no result by more than _RTOL."""
        s = self._statistic()
        future_alarm = (self.mass * np.exp(theta * (s[None, :] - self.hcol))).sum(axis=1)
        time_error = self.mass.sum(axis=1) * (0.5 * self._reach() / abs(self.walk.drift))
        return bool(
            np.all(future_alarm <= _RTOL * self.alarm) and np.all(time_error <= _RTOL * self.cycle)
        )


class ArlCurve:
    """Run length as a function of the threshold for one walk, remembering each evaluation."""

    def __init__(self, walk: Walk) -> None:
        self.walk = walk
        self.known: dict[float, float] = {}

    def at(self, thresholds: Sequence[float]) -> list[float]:
        """Run lengths in frames (evaluated together, cached)."""
        todo = sorted({h for h in thresholds if h not in self.known})
        if todo:
            self.known.update(zip(todo, run_lengths(self.walk, todo).tolist(), strict=True))
        return [self.known[h] for h in thresholds]

    def smallest_threshold(self, target_frames: float) -> float:
        """The smallest ``h`` whose run length is at least ``target_frames``."""
        if self.at([_H_FLOOR])[0] >= target_frames:
            return _H_FLOOR
        lo, hi = self._bracket(target_frames)
        while hi - lo > _H_TOL and self.known[hi] > self.known[lo] * (1.0 + _ARL_TOL):
            probes = self._probes(lo, hi, target_frames)
            for h, arl in zip(probes, self.at(probes), strict=True):
                if arl >= target_frames:
                    hi = h
                    break
                lo = h
        return hi + _EDGE_MARGIN * (1.0 + hi)

    def _bracket(self, target: float) -> tuple[float, float]:
        """Known thresholds just below and at-or-above the target, probing around a guess."""
        above = [h for h, v in self.known.items() if v >= target]
        if not above:
            theta = _cramer_root(self.walk)
            guess = max(1.0, math.log(target * abs(self.walk.drift)) / theta)
            offsets = (-3.0, -1.0, 0.0, 1.0, 3.0)
            self.at([max(guess + d, 2.0 * _H_FLOOR) for d in offsets])
        while not any(v >= target for v in self.known.values()):
            self.at([max(self.known) + 8.0])
        hi = min(h for h, v in self.known.items() if v >= target)
        lo = max(h for h, v in self.known.items() if v < target and h < hi)
        return lo, hi

    def _probes(self, lo: float, hi: float, target: float) -> list[float]:
        """Points around the log-linear interpolation of the target, plus the midpoint."""
        a_lo, a_hi = math.log(self.known[lo]), math.log(self.known[hi])
        x = lo + (hi - lo) * (math.log(target) - a_lo) / (a_hi - a_lo) if a_hi < math.inf else lo
        span = (hi - lo) / 16.0
        candidates = (x - span, x - span / 8.0, x, x + span / 8.0, x + span, 0.5 * (lo + hi))
        return sorted({h for h in candidates if lo < h < hi})


@lru_cache(maxsize=256)
def shared_thresholds(
    rate0_cps: float, rates1_cps: tuple[float, ...], mtbfa_s: float, frame_s: float
) -> tuple[float, ...]:
    """Thresholds for a bank of CUSUMs whose union keeps a mean time between false alarms.

    The false-alarm rate budget ``1/mtbfa`` is split equally; as run lengths
    step at lattice edges, a CUSUM usually lands under its share, and what is
    left is shared out again until the budget is spent. Rates add, so the
    bank's mean time between false alarms is at least ``mtbfa_s``.
    """
    budget = frame_s / mtbfa_s
    curves = [ArlCurve(llr_walk(rate0_cps, r, frame_s, rate0_cps)) for r in rates1_cps]
    shares = [budget / len(curves)] * len(curves)
    thresholds: list[float] = []
    for _ in range(3):
        thresholds = [c.smallest_threshold(1.0 / s) for c, s in zip(curves, shares, strict=True)]
        used = [1.0 / c.at([h])[0] for c, h in zip(curves, thresholds, strict=True)]
        spare = budget - sum(used)
        if spare <= 0.05 * budget:
            break
        shares = [u + spare / len(curves) for u in used]
    return tuple(thresholds)


@lru_cache(maxsize=256)
def threshold_for(
    rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float, true_cps: float
) -> float:
    """Smallest threshold giving a mean time to alarm of ``mtbfa_s`` at ``true_cps``."""
    curve = ArlCurve(llr_walk(rate0_cps, rate1_cps, frame_s, true_cps))
    return curve.smallest_threshold(mtbfa_s / frame_s)


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
