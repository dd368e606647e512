"""The dose-rate charts' axes as a French reader reads them: Paris wall time, French numbers.

Shared by the room page's chart (:mod:`hub.web.chart`) and the declaration's
annex (:mod:`hub.web.annex_chart`). Time ticks fall on round Paris times (a
day tick at Paris midnight, whatever the UTC offset that day); a dose rate is
written in the reader's numbers (``0,01`` and ``1 000`` in French).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Final

from babel.dates import format_date

from hub.web import numfmt
from hub.web.timeshow import LOCALES
from hub.workdays import PARIS

#: Tick intervals (seconds) the time axis chooses from: the smallest giving at most
#: :data:`MAX_TICKS` ticks.
INTERVALS: Final = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                    86400, 2 * 86400, 7 * 86400, 14 * 86400)
MAX_TICKS: Final = 8
DAY: Final = 86400


def locale(lang: str) -> str:
    """Babel's locale for a page language (French unless English)."""
    return LOCALES.get(lang, LOCALES["fr"])


def number(value: float, lang: str) -> str:
    """A tick's dose rate in the reader's numbers (:mod:`hub.web.numfmt`)."""
    return numfmt.number(value, lang)


def places(value: float) -> int:
    """The decimals a decade needs to be written exactly (0.01: 2)."""
    return max(0, -math.floor(math.log10(value))) if value > 0 else 0


def time_ticks(start: float, end: float, x: Callable[[float], float],
               lang: str = "fr") -> list[tuple[float, str]]:
    """Ticks on round Paris times between two epoch seconds, at most :data:`MAX_TICKS`:
    ``09:30`` (``09:30:10`` when closer than a minute), a day as ``lun. 07/12``, a week
    and more as ``07/12`` (on Mondays)."""
    span = end - start
    every = next((i for i in INTERVALS if span / i <= MAX_TICKS), INTERVALS[-1])
    if every >= DAY:
        return _day_ticks(start, end, every // DAY, x, lang)
    offset = datetime.fromtimestamp(start, PARIS).utcoffset()
    shift = offset.total_seconds() if offset is not None else 0.0
    t = -(-(start + shift) // every) * every - shift  # the first round local time >= start
    fmt = "%H:%M:%S" if every < 60 else "%H:%M"
    out: list[tuple[float, str]] = []
    while t <= end:
        out.append((x(t), datetime.fromtimestamp(t, PARIS).strftime(fmt)))
        t += every
    return out


def _day_ticks(start: float, end: float, days: int, x: Callable[[float], float],
               lang: str) -> list[tuple[float, str]]:
    """Paris midnights: every ``days`` days (a week or more: on Mondays)."""
    out: list[tuple[float, str]] = []
    day: date = datetime.fromtimestamp(start, PARIS).date()
    pattern = "EEE dd/MM" if days < 7 else "dd/MM"
    while True:
        t = datetime.combine(day, time(), PARIS).timestamp()
        if t > end:
            return out
        wanted = (day.weekday() == 0 and (day.toordinal() // 7) % (days // 7) == 0
                  if days >= 7 else day.toordinal() % days == 0)
        if t >= start and wanted:
            out.append((x(t), str(format_date(day, pattern, locale=locale(lang)))))
        day += timedelta(days=1)
