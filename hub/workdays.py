"""French working days, and the ESR declaration deadline.

An ESR (événement significatif de radioprotection) is declared to the
regulator (ASN/ASNR) "sans délai" (Code de la santé publique L1333-3 and
R1333-109, quoted by the legal guide in ``/work/shared/seeds``); the ASN's
guide n°11, to which that guide refers, sets the practical delay at **two
working days after detection** of the event. So the deadline runs from
*detection*, not from the moment the PCR qualifies the event: a late review
must not push it back. :func:`declaration_due` therefore counts from the
event's detection time (the alarm's ``at`` for an edge alarm, the hub's
opening time for a hub event), in France's legal time (Europe/Paris).

The rule, precisely: take the calendar day of detection in Europe/Paris
(day 0, whatever the hour, even a Sunday or a holiday); step forward one day
at a time, counting only working days (Monday to Friday, not a public
holiday); the due date is the day on which the count reaches two. The
declaration is due by the end of that day. Detected on Wednesday 13 May 2026
(Ascension is Thursday 14): Friday 15 is the first working day, Monday 18 the
second, so it is due on Monday 18 May 2026.

Public holidays (Code du travail L3133-1): 1 January, Easter Monday, 1 May,
8 May, Ascension Thursday, Whit Monday, 14 July, 15 August, 1 November,
11 November, 25 December; with ``alsace_moselle`` (Bas-Rhin, Haut-Rhin,
Moselle: local law, L3134-13) also Good Friday and 26 December. Easter comes
from the Gregorian computus (Meeus/Jones/Butcher).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

#: The legal time in which a French site counts its days.
PARIS: Final = ZoneInfo("Europe/Paris")
#: Working days between detection and the declaration deadline (ASN guide n°11).
ESR_WORKING_DAYS: Final = 2

_FIXED: Final = (
    (1, 1, "New Year's Day"), (5, 1, "Labour Day"), (5, 8, "Victory in Europe Day"),
    (7, 14, "Bastille Day"), (8, 15, "Assumption"), (11, 1, "All Saints' Day"),
    (11, 11, "Armistice Day"), (12, 25, "Christmas Day"),
)


def easter(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian calendar; Meeus/Jones/Butcher algorithm)."""
    if year < 1583:
        raise ValueError(f"year {year}: the Gregorian computus starts in 1583")
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def holidays(year: int, alsace_moselle: bool = False) -> dict[date, str]:
    """The public holidays of ``year`` in France (by date, with their English name)."""
    out = {date(year, month, day): name for month, day, name in _FIXED}
    sunday = easter(year)
    out[sunday + timedelta(days=1)] = "Easter Monday"
    out[sunday + timedelta(days=39)] = "Ascension Day"
    out[sunday + timedelta(days=50)] = "Whit Monday"
    if alsace_moselle:
        out[sunday - timedelta(days=2)] = "Good Friday"
        out[date(year, 12, 26)] = "St Stephen's Day"
    return dict(sorted(out.items()))


def is_working_day(day: date, alsace_moselle: bool = False) -> bool:
    """Monday to Friday, and not a public holiday."""
    return day.weekday() < 5 and day not in holidays(day.year, alsace_moselle)


def local_date(moment: datetime | date) -> date:
    """The calendar day of ``moment`` in Europe/Paris (a naive datetime is taken as UTC)."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(PARIS).date()
    return moment


def add_working_days(moment: datetime | date, days: int, alsace_moselle: bool = False) -> date:
    """The day on which ``days`` working days have passed since ``moment``'s local day.

    The day of ``moment`` itself is day 0 and never counts; ``days = 0`` gives
    that day back.
    """
    if days < 0:
        raise ValueError("days: must be 0 or more")
    current = local_date(moment)
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        if is_working_day(current, alsace_moselle):
            counted += 1
    return current


def declaration_due(detected_at: datetime, alsace_moselle: bool = False) -> date:
    """The ESR declaration deadline: two working days after detection (ASN guide n°11)."""
    return add_working_days(detected_at, ESR_WORKING_DAYS, alsace_moselle)


def today(now: datetime | None = None) -> date:
    """Today in Europe/Paris."""
    return local_date(now or datetime.now(UTC))


# -- calendar days, as the calendar and the ESR follow-up count them ---------------------


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month
    (and to :data:`date.max`: a stored day near it must not overflow)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_days(day: date, days: int) -> date:
    """``day`` plus ``days``, clamped to :data:`date.max` and :data:`date.min`."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def parse_day(text: object) -> date | None:
    """An ISO day as stored, or None when absent or unreadable (a row written by hand or
    by an older hub must not stop the whole calendar)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
