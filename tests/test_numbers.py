"""Numbers as typed on the page, in French and in English (hub/numbers.py)."""

from __future__ import annotations

import pytest

from hub.numbers import parse_decimal


@pytest.mark.parametrize(("text", "value"), [
    ("12,5", 12.5), ("12.5", 12.5), (" 0,16 ", 0.16), ("1 234,5", 1234.5),
    ("1\u202f234,5", 1234.5), ("1\u00a0234", 1234.0), ("1,234", 1.234),
    (",5", 0.5), ("3", 3.0), ("-2,5", -2.5), ("1,5e3", 1500.0),
])
def test_a_number_typed_in_french_is_read(text: str, value: float) -> None:
    assert parse_decimal(text, "fr") == pytest.approx(value)


@pytest.mark.parametrize(("text", "value"), [
    ("12.5", 12.5), ("1,234.5", 1234.5), ("1,234", 1234.0), ("12,5", 12.5), ("0.16", 0.16),
])
def test_a_number_typed_in_english_is_read(text: str, value: float) -> None:
    assert parse_decimal(text, "en") == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1.234,5", "12,5.3", "nan", "inf", "1e999",
                                  "1,234,5",
                                  "12,5 µSv", "1..2", "١٢"])
def test_what_names_no_finite_number_is_refused(text: str) -> None:
    for lang in ("fr", "en"):
        with pytest.raises(ValueError):
            parse_decimal(text, lang)
