"""A reading's own checks (``ReadingItem._consistent``: its end not before its start, its
rates all given or all null as it covers time or not) take the usual case first, on
every reading the hub receives; they accept and refuse exactly what the plain statement of
the rules does, with the same reasons (issue 18 item 2).

The reference below is the rules as they were written before the shortcut; both models
are asked about the same JSON, drawn around the shortcut's edges: times in the same second
(fractions of every width, and none), in the next or the previous second, at the ends of
the calendar; ``seconds_covered`` 0, tiny and whole; each rate null or given.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError, model_validator

from tests.contract_strategies import EDGE_TIMES
from wire.records import READING_RATES, ReadingItem, instant_key
from wire.settings import summarize_errors


class Reference(ReadingItem):
    """The rules as plainly written (the shortcut's reference)."""

    @model_validator(mode="after")
    def _consistent(self) -> Reference:
        if instant_key(self.end) < instant_key(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        missing = [name for name in READING_RATES if getattr(self, name) is None]
        if self.seconds_covered == 0 and len(missing) != len(READING_RATES):
            raise ValueError("a reading that covers 0 s has null rates")
        if self.seconds_covered > 0 and missing:
            raise ValueError(f"{missing[0]}: required when seconds_covered > 0")
        return self


SECONDS = ("2026-01-05T07:00:00", "2026-01-05T07:00:01", "2026-01-05T06:59:59",
           "2026-01-06T07:00:00")
FRACTIONS = ("", ".0", ".5", ".05", ".50", ".000000001", ".999999999", ".1", ".10000")
TIMES = st.one_of(
    st.builds(lambda s, f: f"{s}{f}Z", st.sampled_from(SECONDS), st.sampled_from(FRACTIONS)),
    st.sampled_from(EDGE_TIMES))
RATE = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 120.0, 5e-324]))


def outcome(model: type[ReadingItem], text: str) -> tuple[str, Any]:
    try:
        return "ok", model.model_validate_json(text).model_dump()
    except ValidationError as exc:
        return "refused", summarize_errors(exc).replace("Reference", "ReadingItem")


@settings(max_examples=1500, deadline=None)
@given(TIMES, TIMES, st.sampled_from([0, 0.0, 5e-324, 1.0, 86_400.0]),
       st.tuples(*(RATE for _ in READING_RATES)))
def test_the_same_answer_as_the_rules_plainly_written(
        start: str, end: str, covered: float, rates: tuple[float | None, ...]) -> None:
    raw: dict[str, Any] = {
        "seq": 1, "run": 1, "start": start, "end": end, "counts": 2,
        "seconds_covered": covered, "dose_usv": 2.8e-05, "saturated": False,
        "calibration": "sbm20/Cs-137", "frames": 10, "frames_lost": 0,
        **dict(zip(READING_RATES, rates, strict=True))}
    text = json.dumps(raw)
    assert outcome(ReadingItem, text) == outcome(Reference, text)


def test_both_ways_of_failing_are_met() -> None:
    """The strategy above reaches every branch (else its agreement would say little)."""
    base = {"seq": 1, "run": 1, "counts": 2, "dose_usv": 0.0, "saturated": False,
            "calibration": "x", "frames": 1, "frames_lost": 0}
    rates = dict.fromkeys(READING_RATES, 0.1)
    cases = [
        ("2026-01-05T07:00:00.5Z", "2026-01-05T07:00:00.05Z", 1.0, rates, "before start"),
        ("2026-01-05T07:00:01Z", "2026-01-05T07:00:00.9Z", 1.0, rates, "before start"),
        ("2026-01-05T07:00:00.05Z", "2026-01-05T07:00:00.5Z", 0.0, rates, "null rates"),
        ("2026-01-05T07:00:00Z", "2026-01-05T07:00:00Z", 1.0, {**rates, "max_usv_h": None},
         "max_usv_h: required"),
    ]
    for start, end, covered, given_rates, why in cases:
        text = json.dumps({**base, "start": start, "end": end, "seconds_covered": covered,
                           **given_rates})
        found = outcome(ReadingItem, text)
        assert found == outcome(Reference, text)
        assert found[0] == "refused" and why in found[1]
