"""The room page's dose-rate chart: its range and end from the query string, what it draws.

Ranges: the last hour (the default, refreshed live: what a PCR watches while
a room works), 24 hours, 7 days, a quarter. ``end`` (a Paris day: its end; or
a time) moves the window back; a window with an end is not live. A bad field
is named in ``errors`` (the page answers 422) and its default used instead.
The chart draws the readings' steps (:mod:`hub.web.rooms`), each step's
quietest minute (:mod:`hub.web.chart_lows`), the exposures as bands and the
room's events as marks (:mod:`hub.web.chart_marks`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Final
from urllib.parse import urlencode

from fastapi import Request

from hub import timefmt
from hub.web import chart, chart_lows, chart_marks, rooms
from hub.web.deps import now_of
from hub.web.i18n import language
from hub.web.rooms import Range, Readings
from hub.web.templating import translate
from hub.workdays import PARIS

RANGES: Final[tuple[Range, ...]] = ("1h", "24h", "7d", "quarter")
DEFAULT: Final[Range] = "1h"
#: Seconds between two refreshes of a live chart (a reading comes every 10 s).
LIVE_S: Final = 10
#: The room page's query parameters a chart link keeps (the exposures' filters).
KEPT: Final = ("range", "end", "from", "to", "requested", "alarm", "page")


@dataclass(slots=True)
class ChartView:
    device: str
    range: Range
    end: str  # the query's end as typed ("" for now)
    readings: Readings
    svg: chart.Svg
    lows: bool  # a line of each step's quietest minute is drawn
    bands: list[chart_marks.Band]
    marks: list[chart_marks.Mark]
    params: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    refreshed: str = ""  # Paris wall time of the drawing, to the second
    refresh_s: int = LIVE_S

    @property
    def live(self) -> bool:
        return self.range == "1h" and not self.end

    def query(self, **changes: str) -> str:
        """The room page's query string with ``changes`` (an empty value drops a field)."""
        params = {**self.params, **changes}
        return urlencode({k: v for k, v in params.items() if v})


def parse_range(request: Request) -> tuple[Range, str | None]:
    raw = request.query_params.get("range") or DEFAULT
    for key in RANGES:
        if raw == key:
            return key, None
    return DEFAULT, translate(request, "Expected 1h, 24h, 7d or quarter.")


def parse_end(request: Request) -> tuple[datetime | None, str | None]:
    """The chart's end: a Paris day (its last instant) or a time (UTC unless it says its
    offset); none: now."""
    raw = (request.query_params.get("end") or "").strip()
    if not raw:
        return None, None
    try:
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), time.max, PARIS)
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None, translate(request,
                               "Expected a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM).")
    try:
        return rooms.chart_end(parsed), None
    except ValueError:
        return None, translate(request, "Expected a date from {first} to {last}.").format(
            first=rooms.END_MIN.date().isoformat(), last=rooms.END_MAX.date().isoformat())


def build(request: Request, conn: sqlite3.Connection, device: str) -> ChartView:
    """The chart of ``device`` the request asks for (the room must exist: the caller's
    404)."""
    range_, range_error = parse_range(request)
    end, end_error = parse_end(request)
    errors = {k: v for k, v in (("range", range_error), ("end", end_error)) if v}
    now = now_of(request)  # the app's clock: a test's fixed day, or the system's
    data = rooms.readings(conn, device, range_, end or now)
    start_s, end_s = round(timefmt.parse(data.start)), round(timefmt.parse(data.end))
    lows = chart_lows.lowest_minutes(conn, device, start_s, end_s, data.step_s)
    svg = chart.draw(data, lows, language(request))
    params = {k: v for k, v in request.query_params.items() if k in KEPT}
    return ChartView(
        device=device, range=range_, end="" if end_error else params.get("end", ""),
        readings=data, svg=svg, lows=bool(lows),
        bands=chart_marks.bands(conn, device, svg), marks=chart_marks.marks(conn, device, svg),
        params=params, errors=errors,
        refreshed=timefmt.wall(timefmt.iso(now.timestamp()), PARIS))
