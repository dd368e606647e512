"""CSV downloads that a spreadsheet opens as they should, in the reader's language.

Excel reads a CSV with the computer's regional settings, and reads it as UTF-8
only when it starts with a byte order mark. So every download here starts with
the BOM, and:

- in French (the request's language, :mod:`hub.web.i18n`): ``;`` between fields
  and a decimal comma, as French Excel expects;
- in English: RFC 4180 (``,``, decimal point), the BOM too.

Numbers are rounded for a person and never grouped (a spreadsheet reads ``1 234``
as text): dose rates and doses to 3 significant digits (as the room page shows
them), durations to a tenth of a second; past a billion or below a billionth
(an older hub's 1e308, no measurement), exponent form (``1,00E+308``). Every
time is Europe/Paris wall time with its UTC offset, to the millisecond
(``2026-10-25T02:30:00.000+01:00``: the October hour repeats, the offset tells
the two apart); a stored text that names no instant is written as stored. The
columns keep their (documented) English names in both languages: scripts read
them. Lines end with CRLF; lists are joined with ``;``; booleans are 1/0; a text
cell a spreadsheet would run as a formula gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Literal

from babel.numbers import get_decimal_symbol

from hub.timefmt import instant
from hub.workdays import PARIS

#: How a column's values are written: a time, a dose (rate), a duration in seconds.
Kind = Literal["time", "dose", "seconds"]
BOM: Final = "\ufeff"
#: Beyond these magnitudes a number is written in exponent form.
PLAIN_MAX: Final = 1e9
PLAIN_MIN: Final = 1e-9
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def document(columns: Sequence[str], rows: Iterable[Sequence[Any]], lang: str,
             kinds: Mapping[str, Kind]) -> bytes:
    """The CSV file of ``rows`` (in ``columns`` order, a header row first) for ``lang``."""
    decimal = get_decimal_symbol(lang)
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";" if decimal == "," else ",")
    writer.writerow(columns)
    order = [kinds.get(name) for name in columns]
    for row in rows:
        writer.writerow([cell(value, kind, decimal) for value, kind in zip(row, order,
                                                                             strict=True)])
    return out.getvalue().encode("utf-8")


def cell(value: Any, kind: Kind | None, decimal: str) -> str:
    """One value as the CSV writes it (``decimal``: the language's decimal symbol)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if kind == "time" and isinstance(value, str):
        return local_time(value)
    if isinstance(value, float) or (kind in ("dose", "seconds") and isinstance(value, int)):
        number = float(value)
        text = seconds(number) if kind == "seconds" else significant(number)
        return text.replace(".", decimal)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return guarded(str(value))


def guarded(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros dropped (``0.16``,
    ``1230``); exponent form out of plain range; ``inf``/``nan`` as such."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if not PLAIN_MIN <= abs(value) < PLAIN_MAX:
        return f"{value:.{digits - 1}E}"
    text = format(Decimal(f"{value:.{digits - 1}e}"), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def seconds(value: float) -> str:
    """A duration to a tenth of a second (exponent form past a billion, as doses)."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.1f}" if abs(value) < PLAIN_MAX else f"{value:.2E}"


def local_time(text: str) -> str:
    """A stored UTC time as Europe/Paris wall time with its offset, to the millisecond;
    a text that names no instant, or whose Paris time falls outside years 1-9999, as
    stored (a formula-looking one guarded)."""
    moment = instant(text)
    if moment is None:
        return guarded(text)
    try:
        local = moment.astimezone(PARIS)
    except (OverflowError, ValueError):
        return guarded(text)
    delta = local.utcoffset()  # never None: an aware time
    offset = int(delta.total_seconds()) if delta is not None else 0
    if offset % 60:  # Paris mean time (+00:09:21, before 1891): ISO 8601 has no seconds
        return guarded(text)
    sign, minutes = "+" if offset >= 0 else "-", abs(offset) // 60
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:"
            f"{local.minute:02d}:{local.second:02d}.{local.microsecond // 1000:03d}"
            f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")
