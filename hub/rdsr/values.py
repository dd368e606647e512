"""Reading one SR content item, defensively: its concept, its coded value, its number
in a known unit, its text, its date-time with a UTC offset.

The bytes come from outside: any attribute may be absent, of the wrong type or
unparsable, so every accessor answers ``None`` rather than raising, and says in
``notes`` why a value that was there was set aside.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Final

from hub.rdsr.codes import Code
from hub.workdays import PARIS


def attr(node: Any, keyword: str) -> Any:
    """``node.keyword``, or None when absent or unreadable (a malformed element)."""
    try:
        return getattr(node, keyword, None)
    except Exception:  # pydicom parses lazily: a bad element raises on access
        return None


def first(node: Any, keyword: str) -> Any:
    """The first item of the sequence ``keyword``, or None."""
    seq = attr(node, keyword)
    try:
        return seq[0] if seq else None
    except Exception:
        return None


def items(node: Any) -> list[Any]:
    """The item's children (its ContentSequence), or none."""
    seq = attr(node, "ContentSequence")
    try:
        return list(seq) if seq else []
    except Exception:
        return []


def text(value: Any) -> str | None:
    """A value as stripped text, None when empty."""
    if value is None:
        return None
    try:
        out = str(value).strip().replace("\x00", "")
    except Exception:
        return None
    return out or None


#: (0040,A30A) Numeric Value, a DS: read as the file's text so that a value that is no
#: decimal string is noted as such (pydicom would only fail on access).
NUMERIC_VALUE = 0x0040A30A
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def raw_text(node: Any, tag: int) -> str | None:
    """An element's value as the file wrote it (the first of several), or None."""
    try:
        element = node.get_item(tag) if node is not None else None
        if element is None:
            return None
        value = element.value
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        elif isinstance(value, list | tuple):  # a converted multi-valued DS
            value = value[0] if value else None
        return text(str(value).split("\\")[0]) if value is not None else None
    except Exception:
        return None


def _code(entry: Any) -> Code | None:
    scheme, value = text(attr(entry, "CodingSchemeDesignator")), text(attr(entry, "CodeValue"))
    return (scheme, value) if scheme and value else None


def concept(node: Any) -> Code | None:
    """The item's concept name, as (scheme, value)."""
    return _code(first(node, "ConceptNameCodeSequence"))


def coded(node: Any) -> Code | None:
    """A CODE item's value, as (scheme, value)."""
    return _code(first(node, "ConceptCodeSequence"))


def meaning(node: Any) -> str | None:
    """The concept name's wording: only for notes a person reads, never for matching."""
    return text(attr(first(node, "ConceptNameCodeSequence"), "CodeMeaning"))


#: No figure of a dose report comes near this in the reader's units (Gy·m², Gy, s, pulses,
#: kV, mA): a larger one is a broken or hostile file, set aside before it overflows an
#: integer column or a sum.
MAX_VALUE: Final = 1e9


def number(node: Any, units: Mapping[str, float], notes: list[str], where: str) -> float | None:
    """A NUM item's value converted by its UCUM unit's factor; None (and a note) when the
    value is no finite non-negative number below :data:`MAX_VALUE` or its unit is not one
    of ``units``."""
    measured = first(node, "MeasuredValueSequence")
    if measured is None:
        return None
    raw = raw_text(measured, NUMERIC_VALUE)
    if raw is None:
        raw = text(attr(measured, "FloatingPointValue"))
    if raw is None:
        return None
    name = meaning(node) or str(concept(node))
    if _DECIMAL.fullmatch(raw) is None:  # float() would take "1_0", "nan", "ⅸ"...
        notes.append(f"{where}: {name} is not a number ({raw[:40]!r})")
        return None
    value = float(raw)
    unit_code = first(measured, "MeasurementUnitsCodeSequence")
    unit = text(attr(unit_code, "CodeValue"))
    if unit is None or unit not in units:
        notes.append(f"{where}: {name} in a unit not understood ({unit!r})")
        return None
    factor = units[unit]
    # 410 ms is 0.41 s: dividing by the exact 1000 keeps the decimal the file wrote,
    # where multiplying by 0.001 would print 0.41000000000000003
    value = value / round(1 / factor) if factor < 1 else value * factor
    if not math.isfinite(value) or not 0 <= value < MAX_VALUE:
        notes.append(f"{where}: {name} is not a plausible non-negative number ({raw[:40]!r})")
        return None
    return value


_DT = re.compile(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?")
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")


def offset(value: Any) -> tzinfo | None:
    """A DICOM UTC offset (``+0200``, ``-0500``) as a fixed zone, None if not one."""
    raw = text(value)
    match = _OFFSET.fullmatch(raw) if raw else None
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return timezone(-delta if sign == "-" else delta)


def date_time(raw: Any, file_zone: tzinfo | None) -> tuple[datetime | None, bool]:
    """A DICOM DT (or DA and TM joined) as an aware datetime, and whether Europe/Paris
    was assumed. The value's own offset wins, then the file's TimezoneOffsetFromUTC;
    without either the time is Paris wall time, its offset that of its own date (so a
    summer report says +02:00 and a winter one +01:00)."""
    value = text(raw)
    match = _DT.fullmatch(value) if value else None
    if match is None:
        return None, False
    day, hour, minute, second, fraction, suffix = match.groups()
    try:
        naive = datetime(int(day[:4]), int(day[4:6]), int(day[6:8]), int(hour or 0),
                         int(minute or 0), int(second or 0),
                         int((fraction or "0").ljust(6, "0")))
    except ValueError:
        return None, False
    zone = offset(suffix) if suffix else None
    if suffix and zone is None:
        return None, False
    if zone is not None or file_zone is not None:
        return naive.replace(tzinfo=zone or file_zone), False
    return naive.replace(tzinfo=PARIS), True


def joined(date: Any, time: Any) -> str | None:
    """A DA and a TM as one DT text (the TM's old ``HH:MM:SS`` form too)."""
    day, clock = text(date), text(time)
    if day is None:
        return None
    return day + (clock.replace(":", "") if clock else "")
