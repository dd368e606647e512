"""Times and dates as a person reads them on the events, reports, calendar and account
pages: Paris wall time (the zone said once per page, by ``_paris_note.html``), and a
deadline's day with its weekday ("lundi 7 décembre 2026"), through Babel's CLDR data.

A stored time or day that names none (an older hub stored ``2026-02-30``) is shown as
stored, never taking the page down.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from babel.dates import format_date

from hub import timefmt, workdays

#: Babel's locale for each page language.
LOCALES: Final = {"fr": "fr_FR", "en": "en_GB"}


def paris(text: Any, seconds: bool = False) -> str:
    """A stored UTC time as Europe/Paris wall time (``2026-01-05 09:00``)."""
    return timefmt.wall(text, workdays.PARIS, seconds)


def _as_day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    text = str(value or "")
    if len(text) != 10 or not text.isascii():
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def long_day(value: Any, lang: str) -> str:
    """A day with its weekday, in ``lang``: "lundi 7 décembre 2026", "Monday 7 December
    2026"; as stored when it names no day."""
    day = _as_day(value)
    if day is None:
        return "" if value is None else str(value)
    return str(format_date(day, format="EEEE d MMMM y", locale=LOCALES.get(lang, "fr_FR")))


def short_day(value: Any, lang: str) -> str:
    """A day without weekday, in ``lang`` ("7 déc. 2026"): for lists where the weekday is
    not what matters; as stored when it names no day."""
    day = _as_day(value)
    if day is None:
        return "" if value is None else str(value)
    return str(format_date(day, format="medium", locale=LOCALES.get(lang, "fr_FR")))


def helpers(lang: str) -> dict[str, Any]:
    """The template functions of this module, bound to the page's language."""
    return {"local": paris, "long_day": lambda value: long_day(value, lang),
            "short_day": lambda value: short_day(value, lang)}
