"""What a dose-rate chart shows over the readings: emissions as bands, alarm moments as marks.

A PCR reads a peak by what caused it: each exposure of the window is a band
from its start to its end (still open: to the window's end), and each event
of the room opened in the window is a vertical mark, red when critical, with
its name and Paris time for a tooltip. Positions come from the chart's own
:meth:`hub.web.chart.Svg.x`. The annex (:mod:`hub.web.annex_chart`) places its
bands with :func:`band` too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from hub import timefmt
from hub.web.chart import Svg
from hub.workdays import PARIS

#: A band never narrower than this (px of the chart's 960): a 0.3 s shot still shows.
MIN_BAND_W: Final = 3.0
#: Exposures starting this long before the window are looked for (one still running
#: into it); the ``(device, start)`` index bounds the search on both sides.
LOOKBACK_S: Final = 86400
#: At most this many marks (the newest): a quarter of a faulty room stays readable.
MAX_MARKS: Final = 200


@dataclass(frozen=True, slots=True)
class Band:
    x: float
    width: float
    start: str  # Paris wall time, for the tooltip
    end: str  # "" while the exposure is still open
    alarmed: bool


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    kind: str
    critical: bool
    at: str  # Paris wall time


def band(svg: Svg, start: float, end: float) -> tuple[float, float]:
    """The ``(x, width)`` of a span of epoch seconds on the chart."""
    left, right = svg.x(start), svg.x(end)
    return left, max(right - left, MIN_BAND_W)


def bands(conn: sqlite3.Connection, device: str, svg: Svg) -> list[Band]:
    """The exposures of ``device`` overlapping the chart's window, oldest first (those
    stamped by an implausible clock left out, as from the readings)."""
    rows = conn.execute(
        "SELECT start, end, alarms FROM exposures WHERE device = ? AND start >= ?"
        " AND start < ? AND clock_implausible IS NOT 1 ORDER BY start",
        [device, timefmt.iso(svg.t0 - LOOKBACK_S), timefmt.iso(svg.t1)]).fetchall()
    out: list[Band] = []
    for start, end, alarms in rows:
        a, b = timefmt.instant(start), timefmt.instant(end)
        if a is None:
            continue
        stop = b.timestamp() if b is not None else svg.t1
        if stop < svg.t0:
            continue
        x, width = band(svg, a.timestamp(), stop)
        out.append(Band(x, width, timefmt.wall(start, PARIS),
                        timefmt.wall(end, PARIS) if b is not None else "",
                        (alarms or "[]") != "[]"))
    return out


def marks(conn: sqlite3.Connection, device: str, svg: Svg) -> list[Mark]:
    """The events of ``device`` opened in the chart's window, oldest first."""
    rows = conn.execute(
        "SELECT kind, severity, opened_at FROM events WHERE device = ? AND opened_at >= ?"
        " AND opened_at < ? ORDER BY opened_at DESC LIMIT ?",
        [device, timefmt.iso(svg.t0), timefmt.iso(svg.t1), MAX_MARKS]).fetchall()
    out: list[Mark] = []
    for kind, severity, opened_at in reversed(rows):
        moment = timefmt.instant(opened_at)
        if moment is not None:
            out.append(Mark(svg.x(moment.timestamp()), str(kind), severity == "critical",
                            timefmt.wall(opened_at, PARIS)))
    return out
