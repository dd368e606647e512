"""An imaging device's clock offset, from its irradiation events and the room's emissions.

The RDSR's times come from the imaging system's clock, Voyant's from the box's
(synchronised); the reconciliation (issue 17, item 4) compares them, so it must know how
far the first is off. The offset most events agree on is found first: among every
(event start minus emission start) within :data:`WINDOW_S`, the densest cluster within
:data:`AGREE_S`, then its sharpest peak within :data:`REFINE_S` (a consensus: pairing
each event with its *nearest* emission would pair it with the wrong press whenever the
presses are closer together than the offset is large). Each event is then paired with
the emission that offset points to (one to one, smallest gaps first: :func:`pair`); the
offset is the *median* of the pairs' differences (positive when the device's clock is
ahead), which a few wrong pairs (a pedal press the RDSR groups with another, an emission
of another study) do not move (:func:`estimate`).
Pure functions of UTC seconds: the queries are :mod:`hub.rdsr.devices`'.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: How far apart an event and an emission may be and still be paired (seconds): a clock
#: off by more than a quarter of an hour is not estimated but shows no pairs.
WINDOW_S: Final = 15 * 60.0

#: How close two events' differences must be to count as the same offset (seconds): an
#: RDSR's start is to the second, the box's edge to the millisecond.
AGREE_S: Final = 5.0
#: The width of the peak the consensus is the median of (seconds, either side): narrower
#: than the gap between two pedal presses.
REFINE_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Offset:
    """A device's estimated clock offset (seconds, device minus Voyant) from ``pairs``
    matched events; ``drift`` when its size passes the tolerance."""

    seconds: float
    pairs: int
    drift: bool


def estimate(pairs: Iterable[tuple[float, float]], tolerance_s: float) -> Offset | None:
    """The median of (event start - emission start) over ``pairs`` of (emission start as
    Voyant saw it, event start as the RDSR says), UTC seconds; None with no pair."""
    differences = [event - emission for emission, event in pairs]
    if not differences:
        return None
    median = float(statistics.median(differences))
    return Offset(median, len(differences), abs(median) > tolerance_s)


def _densest(values: Sequence[float], lo: int, hi: int, width: float) -> tuple[int, int]:
    """The slice of sorted ``values[lo:hi]`` with the most values within ``width`` of its
    first, its centre smallest in size on a tie (two pointers: linear)."""
    best, best_count, best_centre = (lo, lo), 0, math.inf
    end = lo
    for i in range(lo, hi):
        end = max(end, i)
        while end < hi and values[end] <= values[i] + width:
            end += 1
        centre = (values[i] + values[end - 1]) / 2
        if end - i > best_count or (end - i == best_count and abs(centre) < abs(best_centre)):
            best, best_count, best_centre = (i, end), end - i, centre
    return best


def _agreement(emissions: Sequence[float], events: Sequence[float], window_s: float,
               agree_s: float, refine_s: float) -> tuple[float, float, float] | None:
    """(peak, cluster low, cluster high) of :func:`consensus`; None without differences."""
    starts = sorted(emissions)
    differences: list[float] = []
    for event in events:
        lo = bisect.bisect_left(starts, event - window_s)
        hi = bisect.bisect_right(starts, event + window_s)
        differences += [event - starts[i] for i in range(lo, hi)]
    if not differences:
        return None
    differences.sort()
    lo, hi = _densest(differences, 0, len(differences), 2 * agree_s)
    cluster = (differences[lo], differences[hi - 1])
    lo, hi = _densest(differences, lo, hi, 2 * refine_s)
    return float(statistics.median(differences[lo:hi])), *cluster


def consensus(emissions: Sequence[float], events: Sequence[float],
              window_s: float = WINDOW_S, agree_s: float = AGREE_S,
              refine_s: float = REFINE_S) -> float | None:
    """The offset (event minus emission) the most events share, among the differences
    within ``window_s``; None when no event has an emission within the window.

    Two steps: the densest cluster ``2 × agree_s`` wide (RDSR starts are to the second and
    a pedal may precede the RDSR's start: the true pairs spread over a few seconds), then,
    inside it, the densest peak ``2 × refine_s`` wide, whose median is the consensus. The
    wide cluster's median alone is no estimate when presses are closer together than it is
    wide: the cluster holds each press paired with its neighbours as well and its median
    leans towards them (4 to 5 s off with presses 2 to 6 s apart); the true pairs are the
    sharp peak inside it. The smallest in size on a tie. A sorted sweep (events times the
    emissions of a half hour, whatever the history's length), then linear passes."""
    found = _agreement(emissions, events, window_s, agree_s, refine_s)
    return None if found is None else found[0]


def pair(emissions: Sequence[float], events: Sequence[float],
         window_s: float = WINDOW_S) -> list[tuple[float, float]]:
    """(emission, event) pairs whose difference lies in the consensus's cluster, each event
    to the emission nearest the consensus's peak, one to one, the smallest gaps taken first
    (greedy); in event order. No pair when no emission lies within ``window_s`` of any
    event."""
    found = _agreement(emissions, events, window_s, AGREE_S, REFINE_S)
    if found is None:
        return []
    offset, low, high = found
    starts = sorted(emissions)
    candidates: list[tuple[float, int, int]] = []
    for j, event in enumerate(events):
        lo = bisect.bisect_left(starts, event - high)
        hi = bisect.bisect_right(starts, event - low)
        candidates += [(abs(event - offset - starts[i]), j, i) for i in range(lo, hi)]
    candidates.sort()
    used_events: set[int] = set()
    used_emissions: set[int] = set()
    matched: dict[int, int] = {}
    for _gap, j, i in candidates:
        if j in used_events or i in used_emissions:
            continue
        used_events.add(j)
        used_emissions.add(i)
        matched[j] = i
    return [(starts[matched[j]], events[j]) for j in sorted(matched)]


def split_offset(seconds: float) -> tuple[str, int, int]:
    """The offset as a sign and whole minutes and seconds (``+``, 2, 10 for 130.4 s),
    rounded half up to the second; no sign for zero (never "−0 s")."""
    whole = math.floor(abs(seconds) + 0.5)
    sign = "" if whole == 0 else "−" if seconds < 0 else "+"
    minutes, rest = divmod(whole, 60)
    return sign, minutes, rest
