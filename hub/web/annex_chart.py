"""The annex's dose-rate chart: the window's readings drawn by :mod:`hub.web.chart`.

The room page's chart draws rollup steps over a fixed range; the annex has
the raw readings of its own window (minutes, not days). Each reading becomes
one point of the room chart's helper (same log scale, same breaks where data
is missing); on top of it the annex puts what the declaration is about: the
exposures of the window as grey bands (:func:`hub.web.chart_marks.band`), the
alarm's detection and the end of its condition as marks; the axes are the room
chart's (:mod:`hub.web.chart_axis`: Paris wall time). Everything is drawn in
strokes and greys that survive black and white printing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub import timefmt
from hub.web import chart, chart_axis, chart_marks
from hub.web.rooms import ChartPoint, Readings


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
    out = AnnexChart(svg=svg, points=len(points))
    for y, value, _label in svg.y_ticks:  # decades, in the reader's numbers by the template
        out.y_ticks.append((y, value, chart_axis.places(value)))
    for entry in data.get("entries", []):
        if entry.get("type") != "exposure":
            continue
        a, b = _epoch(entry.get("at")), _epoch(entry.get("end"))
        if a is not None:
            out.bands.append(chart_marks.band(svg, a, b if b is not None else end))
    event = data["event"]
    for key, name in (("opened_at", "detected"), ("condition_cleared_at", "cleared")):
        t = _epoch(event.get(key))
        if t is not None and start <= t <= end:
            out.marks.append((svg.x(t), name))
    return out
