"""An imaging device's clock offset, from its irradiation events and the room's emissions.

The RDSR's times come from the imaging system's clock, Voyant's from the box's
(synchronised); the reconciliation (issue 17, item 4) compares them, so it must know how
far the first is off. Each irradiation event is paired with the nearest emission start of
the room the device maps to (within :data:`WINDOW_S`, one to one, smallest gaps first:
:func:`pair`); the offset is the *median* of the differences (event start minus emission
start: positive when the device's clock is ahead), which a few wrong pairs (a pedal press
the RDSR groups with another, an emission of another study) do not move (:func:`estimate`).
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


def pair(emissions: Sequence[float], events: Sequence[float],
         window_s: float = WINDOW_S) -> list[tuple[float, float]]:
    """(emission, event) pairs: each event to the nearest emission start within
    ``window_s``, one to one, the smallest gaps taken first (greedy); in event order.

    Only the emissions within the window of an event are candidates (a sorted search),
    so a long history costs its events times the emissions of a half hour."""
    starts = sorted(emissions)
    candidates: list[tuple[float, int, int]] = []
    for j, event in enumerate(events):
        lo = bisect.bisect_left(starts, event - window_s)
        hi = bisect.bisect_right(starts, event + window_s)
        candidates += [(abs(event - starts[i]), j, i) for i in range(lo, hi)]
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
