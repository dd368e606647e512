"""The dose-rate chart as inline SVG, drawn on the server (no JavaScript library).

Log scale: background near 0.1 µSv/h and an emission's thousands share the
chart. The axis runs from a decade under the lowest positive value drawn
(never under :data:`FLOOR`) to the decade above the highest, so background sits
inside the plot, not on its edge. Up to three lines per step: its maximum, its
mean and, when a step spans several minutes, its quietest minute (``lows``):
a 5-minute step holding 20 s of fluoroscopy has a mean of tens of µSv/h, and
only its quiet minutes still show the room's background. A step without
readings breaks the lines: missing data is shown as missing. Times on the axis
are Paris wall time, numbers in the reader's language (:mod:`hub.web.chart_axis`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from hub.web import chart_axis
from hub.web.rooms import Readings
from wire.records import MAX_DOSE_RATE_USV_H

WIDTH: Final = 960
HEIGHT: Final = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 40  # the bottom: time ticks, then the zone
#: µSv/h: the lowest decade ever drawn (a probe reading 0 is drawn on it).
FLOOR: Final = 0.01
#: The fewest decades the axis spans (a flat background is not blown up into noise).
MIN_DECADES: Final = 2
#: The highest value drawn (the contract's largest dose rate); a larger one, from a hub older
#: than that bound, is drawn at the top rather than stretching the scale to 1e308 or beyond.
CEILING: Final = MAX_DOSE_RATE_USV_H


@dataclass(slots=True)
class Svg:
    """The chart's geometry; ``x(t)`` places an epoch second on it (for bands and marks)."""

    t0: float = 0.0
    t1: float = 1.0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = WIDTH - LEFT - RIGHT
    plot_h: int = HEIGHT - TOP - BOTTOM
    mean_path: str = ""
    max_path: str = ""
    low_path: str = ""
    y_ticks: list[tuple[float, float, str]] = field(default_factory=list)  # y, µSv/h, label
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True

    def x(self, t: float) -> float:
        """The x of epoch second ``t``, kept within the plot."""
        ratio = (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0)
        return round(self.left + ratio * self.plot_w, 1)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def scale(values: Iterable[float]) -> tuple[float, float]:
    """The axis' lowest and highest decades for ``values`` (µSv/h): a decade under the
    lowest positive one (at least :data:`FLOOR`), the decade above the highest."""
    positive = [min(v, CEILING) for v in values if v > 0 and not math.isnan(v)]
    if not positive:
        return FLOOR, FLOOR * 10 ** MIN_DECADES
    low = max(FLOOR, 10.0 ** (math.floor(math.log10(min(positive))) - 1))
    high = 10.0 ** (math.floor(math.log10(max(positive))) + 1)
    return low, max(high, low * 10 ** MIN_DECADES)


def draw(data: Readings, lows: Mapping[int, float] | None = None, lang: str = "fr") -> Svg:
    """The chart of ``data``; ``lows``: the quietest minute's mean of each step, by its
    index from the range's start (none: no such line)."""
    start, end = _epoch(data.start), _epoch(data.end)
    svg = Svg(t0=start, t1=end)
    lows = lows or {}
    low, high = scale([p.max_usv_h for p in data.points] + [p.mean_usv_h for p in data.points]
                      + list(lows.values()))
    log_low, span_log = math.log10(low), math.log10(high) - math.log10(low)

    def y(v: float) -> float:
        clamped = low if math.isnan(v) else min(max(v, low), high)
        return svg.top + svg.plot_h * (1 - (math.log10(clamped) - log_low) / span_log)

    half = data.step_s / 2
    times = [_epoch(p.start) + half for p in data.points]
    svg.mean_path = _path(zip(times, (p.mean_usv_h for p in data.points), strict=True),
                          data.step_s, svg.x, y)
    svg.max_path = _path(zip(times, (p.max_usv_h for p in data.points), strict=True),
                         data.step_s, svg.x, y)
    svg.low_path = _path(((start + k * data.step_s + half, v) for k, v in sorted(lows.items())),
                         data.step_s, svg.x, y)
    svg.empty = not data.points
    for power in range(round(math.log10(low)), round(math.log10(high)) + 1):
        decade = 10.0 ** power
        svg.y_ticks.append((round(y(decade), 1), decade, chart_axis.number(decade, lang)))
    svg.x_ticks = chart_axis.time_ticks(start, end, svg.x, lang)
    return svg


def _path(samples: Iterable[tuple[float, float]], step_s: int, x: Callable[[float], float],
          y: Callable[[float], float]) -> str:
    """An SVG path through ``(epoch second, µSv/h)`` samples, broken where a step is
    missing; an isolated sample still shows as a short flat stroke."""
    out: list[str] = []
    previous: float | None = None
    for t, value in samples:
        verb = "L" if previous is not None and t - previous <= step_s * 1.5 else "M"
        if verb == "M" and out:
            out.append("h1")
        out.append(f"{verb}{x(t):.1f},{y(value):.1f}")
        previous = t
    if out:
        out.append("h1")
    return " ".join(out)
