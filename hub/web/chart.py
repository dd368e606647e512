"""The dose-rate chart as inline SVG, drawn on the server (no JavaScript library).

Log scale (background near 0.1 µSv/h and an emission's thousands share the
chart), one line for the mean and one for the maximum of each point's step;
a step without readings breaks the lines: missing data is shown as missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from hub.web.rooms import Readings
from wire.records import MAX_DOSE_RATE_USV_H

WIDTH: Final = 960
HEIGHT: Final = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 28
FLOOR: Final = 0.001  # µSv/h: the lowest decade ever drawn
#: The highest value drawn (the contract's largest dose rate); a larger one, from a hub older
#: than that bound, is drawn at the top rather than stretching the scale to 1e308 or beyond.
CEILING: Final = MAX_DOSE_RATE_USV_H


@dataclass(slots=True)
class Svg:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = WIDTH - LEFT - RIGHT
    plot_h: int = HEIGHT - TOP - BOTTOM
    mean_path: str = ""
    max_path: str = ""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _number(value: float) -> str:
    return f"{value:g}"


def draw(data: Readings) -> Svg:
    svg = Svg()
    start, end = _epoch(data.start), _epoch(data.end)
    values = [p.max_usv_h for p in data.points] + [p.mean_usv_h for p in data.points]
    positive = [min(v, CEILING) for v in values if v > 0 and not math.isnan(v)]
    low = max(FLOOR, 10 ** math.floor(math.log10(min(positive)))) if positive else 0.01
    high = 10 ** math.ceil(math.log10(max(positive))) if positive else 1.0
    if math.log10(high) - math.log10(low) < 2:
        high = low * 100
    span_log = math.log10(high) - math.log10(low)

    def x(t: float) -> float:
        return svg.left + (t - start) / (end - start) * svg.plot_w

    def y(v: float) -> float:
        clamped = low if math.isnan(v) else min(max(v, low), high)
        ratio = (math.log10(clamped) - math.log10(low)) / span_log
        return svg.top + svg.plot_h * (1 - ratio)

    mean: list[str] = []
    peak: list[str] = []
    previous: float | None = None
    half = data.step_s / 2
    for point in data.points:
        t = _epoch(point.start) + half
        verb = "L" if previous is not None and t - previous <= data.step_s * 1.5 else "M"
        if verb == "M" and mean:  # an isolated point still shows: a short flat stroke
            mean.append("h1")
            peak.append("h1")
        mean.append(f"{verb}{x(t):.1f},{y(point.mean_usv_h):.1f}")
        peak.append(f"{verb}{x(t):.1f},{y(point.max_usv_h):.1f}")
        previous = t
    if mean:
        mean.append("h1")
        peak.append("h1")
    svg.mean_path, svg.max_path = " ".join(mean), " ".join(peak)
    svg.empty = not data.points
    decade = low
    while decade <= high * 1.0001:
        svg.y_ticks.append((round(y(decade), 1), _number(decade)))
        decade *= 10
    svg.x_ticks = _x_ticks(start, end, data.range, x)
    return svg


def _x_ticks(start: float, end: float, range_: str,
             x: Callable[[float], float]) -> list[tuple[float, str]]:
    every, fmt = {"24h": (3 * 3600, "%H:%M"), "7d": (86400, "%m-%d"),
                  "quarter": (14 * 86400, "%m-%d")}[range_]
    out: list[tuple[float, str]] = []
    t = math.ceil(start / every) * every
    while t <= end:
        out.append((round(x(t), 1), datetime.fromtimestamp(t, UTC).strftime(fmt)))
        t += every
    return out
