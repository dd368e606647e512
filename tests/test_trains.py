"""A pulse train's change records, merged into one line for the page and the annex."""

from __future__ import annotations

from typing import Any

from hub.events.trains import merge_trains


def rec(seq: int, signal: str, first: str, last: str, count: int, value: bool,
        origin: str = "edge", journal: str = "j") -> dict[str, Any]:
    return {"journal": journal, "seq": seq, "signal": signal, "value": value,
            "first": f"2026-03-31T10:00:{first}Z", "last": f"2026-03-31T10:00:{last}Z",
            "count": count, "origin": origin, "clock_synced": True,
            "clock_implausible": False}


def test_a_train_of_records_is_one_entry_with_every_change() -> None:
    """As the agent journals it: the first edge at once, then a record a second at most;
    a door's change in between is its own line."""
    merged = merge_trains([
        rec(10, "emission", "05.000", "05.000", 1, True),
        rec(12, "emission", "05.066", "06.000", 30, True),
        rec(11, "door.corridor", "05.500", "05.500", 1, True),
        rec(13, "emission", "06.066", "07.000", 30, True),
        rec(14, "emission", "07.066", "07.500", 14, False),
    ])
    assert [(m["signal"], m["count"], m["records"], m["seq"], m["last_seq"], m["value"],
             m["last"][-10:]) for m in merged] == [
        ("emission", 75, 4, 10, 14, False, "00:07.500Z"),
        ("door.corridor", 1, 1, 11, 11, True, "00:05.500Z"),
    ]


def test_records_further_apart_than_the_gap_are_two_trains() -> None:
    merged = merge_trains([rec(1, "emission", "05.000", "05.900", 10, False),
                           rec(2, "emission", "07.000", "07.500", 6, False)])
    assert [m["records"] for m in merged] == [1, 1]


def test_start_records_other_journals_and_odd_rows_stay_alone() -> None:
    odd = {**rec(4, "emission", "05.300", "05.300", 1, True), "count": "3"}
    merged = merge_trains([
        rec(1, "emission", "05.000", "05.000", 0, True, origin="start"),
        rec(2, "emission", "05.100", "05.100", 1, False),
        rec(3, "emission", "05.200", "05.200", 1, True, journal="other"),
        odd,
        {**rec(5, "emission", "05.400", "05.400", 1, False), "first": "not a time"},
    ])
    assert [m["seq"] for m in merged] == [1, 2, 3, 4, 5]
    assert all(m["records"] == 1 for m in merged)
