"""Numbers as a person reads them in the page's language: ``0,16`` and ``12 345`` in French.

One place for the pages' numbers (dose rates, doses, durations, counts), through
Babel's CLDR data (``babel.numbers``): the decimal comma and the narrow no-break
space (U+202F) between thousands in French, ``0.16`` and ``12,345`` in English.
A missing or meaningless value (None, NaN, infinity: an older hub stored 1e308 or
``inf`` for "no measurement") is shown as a dash, never as ``nan``. Templates use
the global ``number`` (:mod:`hub.web.templating` or a page's context).

A CSV keeps its own rules (no grouping: a spreadsheet reads ``1 234`` as text):
:mod:`hub.web.csv_export`.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from babel.numbers import format_decimal, format_scientific

#: Shown for a value that is missing or no number.
DASH: Final = "—"
#: From this magnitude on, exponent form (``1,00E9``) rather than ten digits and more.
EXPONENT_FROM: Final = 1e9


def _finite(value: float | int | None) -> float | None:
    """The value as a float, or none when it is missing or no number (a bool is no number)."""
    if value is None or isinstance(value, bool):
        return None
    number_ = float(value)
    return number_ if math.isfinite(number_) else None


def _half_up(value: float, places: int) -> Decimal:
    """``value`` rounded to ``places`` decimals as a person rounds (1 234,5 to 1 235, not
    to the even 1 234), from its shortest decimal form; never a negative zero."""
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)


def number(value: float | int | None, lang: str, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (trailing zeros dropped), but never
    rounding its whole part (``12 345``, ``0,16``, ``1,5``), thousands grouped, in
    ``lang``; exponent form from a billion; ``—`` for None, NaN and infinities."""
    number_ = _finite(value)
    if number_ is None:
        return DASH
    if abs(number_) >= EXPONENT_FROM:
        return str(format_scientific(number_, "0." + "0" * max(digits - 1, 0) + "E0",
                                     locale=lang))
    if number_ == 0:
        return str(format_decimal(0, locale=lang))
    if isinstance(value, int) or abs(number_) >= 10 ** digits:
        rounded = _half_up(number_, 0)
    else:  # the place of the last significant digit kept
        rounded = _half_up(number_, max(digits, 1) - 1 - math.floor(math.log10(abs(number_))))
    return str(format_decimal(rounded.normalize() + 0, locale=lang, decimal_quantization=False))


def fixed(value: float | int | None, lang: str, places: int = 1) -> str:
    """``value`` with exactly ``places`` decimals (a duration to a tenth: ``12,0``),
    thousands grouped; exponent form from a billion; ``—`` for None, NaN, infinities."""
    number_ = _finite(value)
    if number_ is None:
        return DASH
    if abs(number_) >= EXPONENT_FROM:
        return str(format_scientific(number_, "0.00E0", locale=lang))
    pattern = "#,##0" + ("." + "0" * places if places > 0 else "")
    return str(format_decimal(_half_up(number_, places), format=pattern, locale=lang))
