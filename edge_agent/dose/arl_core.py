"""What the two run-length engines share: the walk, its Poisson law, the threshold search.

:mod:`edge_agent.dose.arl` (numpy: the reference, the table's generator, the
hub's and the simulator's) and :mod:`edge_agent.dose.arl_pure` (plain
Python: the box's fallback) each compute mean run lengths for given
thresholds; everything else, from the per-frame walk to the search for the
smallest threshold that keeps a false-alarm budget, is this one code, so
the two can only differ by the rounding of their sums. No numpy here: the
agent imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

RTOL = 1e-4  # relative accuracy of each run length
CHECK_EVERY = 16  # frames between convergence checks
MAX_FRAMES = 400_000  # cycles longer than this are refused (hypotheses too close)
H_FLOOR = 1e-6  # smallest threshold considered
H_TOL = 1e-4  # threshold precision (nats) where the run length steps
ARL_TOL = 0.02  # ... or once the bracket's run lengths agree this well (lattice micro-steps)
EDGE_MARGIN = 1e-9  # keeps float rounding at runtime on the safe side of a step edge
POISSON_EXTRA = 61  # counts computed past kmax, whose mass jumps straight past h


@dataclass(frozen=True)
class Walk:
    """Per-frame increments ``a·k - c`` of a CUSUM, with ``k ~ Poisson(m)``."""

    a: float
    c: float
    m: float

    @property
    def drift(self) -> float:
        return self.m * self.a - self.c


RunLengths = Callable[[Walk, Sequence[float]], Iterable[float]]
"""An engine: mean frames from ``S = 0`` to ``S >= h`` for each threshold ``h``."""


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


def poisson_bounds(m: float) -> tuple[int, int]:
    """Counts kmin..kmax holding all but ~1e-30 of Poisson(m)."""
    spread = 12.0 * math.sqrt(m) + 12.0
    return max(0, math.floor(m - spread)), math.ceil(m + spread)


def poisson_window(m: float) -> tuple[int, list[float], float, float]:
    """``kmin``, the pmf over kmin..kmax, and the tails above and below (``m > 0``).

    Both tails are summed term by term (``POISSON_EXTRA`` counts past each end), not
    taken as ``1 - the rest``: that difference is rounding noise of 1e-16, as large as
    the alarm chance per cycle of a ten-year CUSUM, and it differed between engines.
    """
    kmin, kmax = poisson_bounds(m)
    low = max(0, kmin - POISSON_EXTRA)
    log_m = math.log(m)
    pmf = [
        math.exp(k * log_m - m - math.lgamma(k + 1.0))
        for k in map(float, range(low, kmax + POISSON_EXTRA))
    ]
    first, last = kmin - low, kmax - low + 1
    return kmin, pmf[first:last], sum(pmf[last:]), sum(pmf[:first])


def cramer_root(w: Walk) -> float:
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


class ArlCurve:
    """Run length as a function of the threshold for one walk, remembering each evaluation."""

    def __init__(self, walk: Walk, engine: RunLengths) -> None:
        self.walk, self.engine = walk, engine
        self.known: dict[float, float] = {}

    def at(self, thresholds: Sequence[float]) -> list[float]:
        """Run lengths in frames (evaluated together, cached)."""
        todo = sorted({h for h in thresholds if h not in self.known})
        if todo:
            self.known.update(zip(todo, [float(v) for v in self.engine(self.walk, todo)],
                                  strict=True))
        return [self.known[h] for h in thresholds]

    def smallest_threshold(self, target_frames: float) -> float:
        """The smallest ``h`` whose run length is at least ``target_frames``.

        With few counts per frame the run length is a step function of the
        threshold, so the search looks for the step edge.
        """
        if self.at([H_FLOOR])[0] >= target_frames:
            return H_FLOOR
        lo, hi = self._bracket(target_frames)
        while hi - lo > H_TOL and self.known[hi] > self.known[lo] * (1.0 + ARL_TOL):
            probes = self._probes(lo, hi, target_frames)
            for h, arl in zip(probes, self.at(probes), strict=True):
                if arl >= target_frames:
                    hi = h
                    break
                lo = h
        return hi + EDGE_MARGIN * (1.0 + hi)

    def _bracket(self, target: float) -> tuple[float, float]:
        """Known thresholds just below and at-or-above the target, probing around a guess."""
        above = [h for h, v in self.known.items() if v >= target]
        if not above:
            theta = cramer_root(self.walk)
            guess = max(1.0, math.log(target * abs(self.walk.drift)) / theta)
            offsets = (-3.0, -1.0, 0.0, 1.0, 3.0)
            self.at([max(guess + d, 2.0 * H_FLOOR) for d in offsets])
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


def shared_thresholds(
    engine: RunLengths,
    rate0_cps: float,
    rates1_cps: tuple[float, ...],
    mtbfa_s: float,
    frame_s: float,
) -> tuple[float, ...]:
    """Thresholds for a bank of CUSUMs whose union keeps a mean time between false alarms.

    The false-alarm rate budget ``1/mtbfa`` is split equally; as run lengths
    step at lattice edges, a CUSUM usually lands under its share, and what is
    left is shared out again until the budget is spent. Rates add, so the
    bank's mean time between false alarms is at least ``mtbfa_s``.
    """
    budget = frame_s / mtbfa_s
    curves = [ArlCurve(llr_walk(rate0_cps, r, frame_s, rate0_cps), engine) for r in rates1_cps]
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


def threshold_for(
    engine: RunLengths,
    rate0_cps: float,
    rate1_cps: float,
    mtbfa_s: float,
    frame_s: float,
    true_cps: float,
) -> float:
    """Smallest threshold giving a mean time to alarm of ``mtbfa_s`` at ``true_cps``."""
    curve = ArlCurve(llr_walk(rate0_cps, rate1_cps, frame_s, true_cps), engine)
    return curve.smallest_threshold(mtbfa_s / frame_s)
