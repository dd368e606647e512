"""The annex's dose-rate chart: the window's readings drawn by :mod:`hub.web.chart`.

The room page's chart draws rollup steps over a fixed range; the annex has
the raw readings of its own window (minutes, not days). Each reading becomes
one point of the room chart's helper (same log scale, same breaks where data
is missing); on top of it the annex puts what the declaration is about: the
exposures of the window as grey bands, the alarm's detection and the end of
its condition as marks, and time ticks in Paris wall time. Everything is drawn
in strokes and greys that survive black and white printing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from hub import timefmt
from hub.web import chart
from hub.web.rooms import ChartPoint, Readings
from hub.workdays import PARIS

#: Tick intervals (seconds) the time axis chooses from: the smallest giving at most
#: :data:`MAX_TICKS` ticks.
INTERVALS: Final = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                    86400)
MAX_TICKS: Final = 8


@dataclass(slots=True)
class AnnexChart:
    svg: chart.Svg
    bands: list[tuple[float, float]] = field(default_factory=list)  # (x, width): exposures
    marks: list[tuple[float, str]] = field(default_factory=list)  # (x, "detected"|"cleared")
    y_ticks: list[tuple[float, float, int]] = field(default_factory=list)  # (y, µSv/h, places)
    points: int = 0


def _epoch(text: Any) -> float | None:
    moment = timefmt.instant(text)
    return None if moment is None else moment.timestamp()


def _points(readings: Sequence[Mapping[str, Any]]) -> tuple[list[ChartPoint], int]:
    """Each reading with a mean as one chart point; the step is the readings' usual span."""
    points: list[ChartPoint] = []
    spans: list[float] = []
    for r in readings:
        mean, peak = r.get("mean_usv_h"), r.get("max_usv_h")
        moment, end = timefmt.instant(r.get("start")), _epoch(r.get("end"))
        if not isinstance(mean, int | float) or moment is None:
            continue  # no value: a hole in the line, as missing data must look
        start = moment.timestamp()
        peak = peak if isinstance(peak, int | float) else mean
        if end is not None and end > start:
            spans.append(end - start)
        points.append(ChartPoint(start=timefmt.stamp(moment), n=1, mean_usv_h=float(mean),
                                 max_usv_h=float(max(peak, mean)), dose_usv=0.0,
                                 saturated=bool(r.get("saturated"))))
    return points, max(1, round(statistics.median(spans))) if spans else 1


def draw(data: Mapping[str, Any]) -> AnnexChart | None:
    """The chart of a timeline (:func:`hub.events.timeline.timeline`); ``None`` when its
    window has no length (an event whose time names no instant)."""
    start, end = _epoch(data.get("start")), _epoch(data.get("end"))
    if start is None or end is None or end <= start:
        return None
    points, step = _points(data.get("readings", []))
    calibrations = sorted({str(r["calibration"]) for r in data.get("readings", [])
                           if r.get("calibration")})
    svg = chart.draw(Readings(device=str(data["event"]["device"]), range="24h",
                              start=str(data["start"]), end=str(data["end"]), step_s=step,
                              calibrations=calibrations, points=points, complete=True))
    span = end - start

    def x(t: float) -> float:
        return round(svg.left + (min(max(t, start), end) - start) / span * svg.plot_w, 1)

    svg.x_ticks = _ticks(start, end, x)
    out = AnnexChart(svg=svg, points=len(points))
    for y, label in svg.y_ticks:  # decades, written in the reader's numbers by the template
        value = float(label)
        out.y_ticks.append((y, value, max(0, -math.floor(math.log10(value)))))
    for entry in data.get("entries", []):
        if entry.get("type") != "exposure":
            continue
        a, b = _epoch(entry.get("at")), _epoch(entry.get("end"))
        if a is not None:
            left, right = x(a), x(b if b is not None else end)
            out.bands.append((left, max(right - left, 3.0)))  # a short one still shows
    event = data["event"]
    for key, name in (("opened_at", "detected"), ("condition_cleared_at", "cleared")):
        t = _epoch(event.get(key))
        if t is not None and start <= t <= end:
            out.marks.append((x(t), name))
    return out


def _ticks(start: float, end: float, x: Any) -> list[tuple[float, str]]:
    """Ticks on round Paris times, at most :data:`MAX_TICKS` (seconds when closer than a
    minute)."""
    span = end - start
    every = next((i for i in INTERVALS if span / i <= MAX_TICKS), INTERVALS[-1])
    offset = datetime.fromtimestamp(start, PARIS).utcoffset()
    shift = offset.total_seconds() if offset is not None else 0.0
    t = -(-(start + shift) // every) * every - shift  # the first round local time >= start
    fmt = "%H:%M:%S" if every < 60 else "%H:%M" if every < 86400 else "%d/%m"
    out: list[tuple[float, str]] = []
    while t <= end:
        out.append((x(t), datetime.fromtimestamp(t, PARIS).strftime(fmt)))
        t += every
    return out
