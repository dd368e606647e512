"""The ESR follow-up report (compte rendu): its due date, its record, the list the inbox and
the calendar show, on a new store and on one migrated from an older hub
(hub/events/followup.py, hub/events/esr.py, hub/db/migrate_events.py)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db.connection import connect, write
from hub.db.migrate_events import events_to_3
from hub.db.store import Store
from hub.events import esr
from hub.events import workflow as ev
from hub.events.followup import add_months, due_followups, followup_due
from tests.hub_factory import DEVICE, ROOM, SITE
from tests.test_db_migrations import FIXTURES, structure

DETECTED = "2026-01-05T07:00:06.000Z"  # a Monday
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = date(2026, 1, 5)
KEYS = {"event_id", "kind", "device", "site", "room", "declared_at", "due_on",
        "declaration_ref"}


@pytest.fixture
def conn(tmp_path: Path, store: Store) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "hub.db")
    yield c
    c.close()


def _event(store: Store, ref: str = "j:1:1", opened_at: str = DETECTED) -> int:
    with store.transaction():
        return store.alarm_event("unsolicited_emission", DEVICE, SITE, ROOM, ref, opened_at,
                                 {"subject": None}, "critical", None, opened_at)


def _declared(conn: sqlite3.Connection, event_id: int, on: date = TODAY,
              months: int = 2, now: datetime = NOW) -> dict[str, Any]:
    with write(conn):
        esr.qualify_esr(conn, event_id, "pcr", "emitted on its own", now, criterion="6")
        return esr.declare(conn, event_id, "pcr", on, "ESNR-2026-1", "", now, months)


@pytest.mark.parametrize(("declared", "months", "due"), [
    (date(2026, 1, 5), 2, date(2026, 3, 5)),
    (date(2025, 12, 31), 2, date(2026, 2, 28)),  # no 31 February: its last day
    (date(2027, 12, 31), 2, date(2028, 2, 29)),  # a leap year
    (date(2026, 8, 31), 1, date(2026, 9, 30)),
    (date(2026, 11, 15), 3, date(2027, 2, 15)),  # across the year
])
def test_the_due_date_is_calendar_months_after_the_declaration(
    declared: date, months: int, due: date
) -> None:
    assert followup_due(declared, months) == add_months(declared, months) == due


def test_a_declaration_sets_the_due_date_and_the_list_shows_it(
    store: Store, conn: sqlite3.Connection
) -> None:
    first, second, third = _event(store), _event(store, "j:1:2"), _event(store, "j:1:3")
    assert _declared(conn, first)["followup_due"] == "2026-03-05"
    assert _declared(conn, second, months=3)["followup_due"] == "2026-04-05"
    with write(conn):
        esr.qualify_esr(conn, third, "pcr", "qualified, not declared", NOW, criterion="1.1")
    listed = due_followups(conn)
    assert [(f["event_id"], f["due_on"]) for f in listed] == [(first, "2026-03-05"),
                                                             (second, "2026-04-05")]
    assert set(listed[0]) == KEYS
    assert listed[0] == {"event_id": first, "kind": "unsolicited_emission", "device": DEVICE,
                         "site": SITE, "room": ROOM, "declared_at": "2026-01-05",
                         "due_on": "2026-03-05", "declaration_ref": "ESNR-2026-1"}


def test_the_follow_up_status_runs_like_the_declaration_deadline(
    store: Store, conn: sqlite3.Connection
) -> None:
    event_id = _event(store)
    _declared(conn, event_id)

    def status(today: date) -> str | None:
        return ev.get_event(conn, event_id, today)["followup_status"]  # type: ignore[no-any-return]

    assert [status(date(2026, 3, 3)), status(date(2026, 3, 4)), status(date(2026, 3, 5)),
            status(date(2026, 3, 6))] == ["pending", "soon", "soon", "overdue"]


def test_recording_the_follow_up_report(store: Store, conn: sqlite3.Connection) -> None:
    event_id = _event(store)
    later = datetime(2026, 2, 20, 9, tzinfo=UTC)
    with pytest.raises(ev.EventError) as caught, write(conn):
        esr.record_followup(conn, event_id, "pcr", TODAY, "CR-1", "", later)
    assert caught.value.field == "esr"  # not even an ESR
    _declared(conn, event_id, date(2026, 1, 6), now=datetime(2026, 1, 6, 9, tzinfo=UTC))
    bad = [(date(2026, 2, 21), "CR-1", "sent_on"),  # tomorrow
           (date(2026, 1, 5), "CR-1", "sent_on"),  # before the declaration
           (date(2026, 2, 20), "C" * 65, "reference"),
           (date(2026, 2, 20), "", "reference"),
           (date(2026, 2, 20), "CR\n1", "reference")]
    for sent_on, reference, field in bad:
        with pytest.raises(ev.EventError) as caught, write(conn):
            esr.record_followup(conn, event_id, "pcr", sent_on, reference, "", later)
        assert caught.value.field == field
    assert [f["event_id"] for f in due_followups(conn)] == [event_id]
    with write(conn):
        done = esr.record_followup(conn, event_id, "pcr", date(2026, 2, 20), " CR-2026-7 ",
                                   "sent by mail", later)
    assert done == {"followup_at": "2026-02-20", "followup_ref": "CR-2026-7",
                    "comment": "sent by mail"}
    assert due_followups(conn) == []
    event = ev.get_event(conn, event_id, date(2026, 6, 1))
    assert event["followup_status"] is None
    assert event["notes"][-1]["action"] == "followup"
    assert event["notes"][-1]["comment"] == "2026-02-20 CR-2026-7: sent by mail"
    with pytest.raises(ev.EventError, match="already recorded"), write(conn):
        esr.record_followup(conn, event_id, "pcr", date(2026, 2, 20), "CR-2", "", later)


def test_a_declared_esr_closes_after_its_report_with_the_outcome(
    store: Store, conn: sqlite3.Connection
) -> None:
    event_id = _event(store)
    _declared(conn, event_id)
    refusals = [("", "followup"), ("no action asked", "followup")]
    for outcome, field in refusals:
        with pytest.raises(ev.EventError) as caught, write(conn):
            ev.close(conn, event_id, "pcr", "analysed", NOW, outcome)
        assert caught.value.field == field
    with write(conn):
        esr.record_followup(conn, event_id, "pcr", TODAY, "CR-1", "", NOW)
    for outcome in ("", "   ", "x" * (ev.OUTCOME_MAX + 1)):
        with pytest.raises(ev.EventError) as caught, write(conn):
            ev.close(conn, event_id, "pcr", "analysed", NOW, outcome)
        assert caught.value.field == "outcome"
    assert ev.get_event(conn, event_id, TODAY)["state"] == "acknowledged"
    with write(conn):
        closed = ev.close(conn, event_id, "pcr", "analysed", NOW, " level 0, closed ")
    assert closed["outcome"] == "level 0, closed"
    event = ev.get_event(conn, event_id, TODAY)
    assert (event["state"], event["esr_outcome"]) == ("closed", "level 0, closed")


def _migrated(name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    shutil.copyfile(Path(__file__).resolve().parent / "data" / name, path)
    Store.open(path).close()  # the migrations of this hub (up to 2)
    conn = connect(path)
    try:
        for _ in range(2):  # idempotent
            with write(conn):
                events_to_3(conn)
    finally:
        conn.close()
    return path


@pytest.mark.parametrize("name", FIXTURES)
def test_a_migrated_store_keeps_its_notes_and_gets_the_follow_up(
    name: str, tmp_path: Path
) -> None:
    original = sqlite3.connect(f"file:{Path(__file__).parent / 'data' / name}?immutable=1",
                               uri=True)
    notes_before = original.execute("SELECT * FROM event_notes ORDER BY id").fetchall()
    original.close()
    path = _migrated(name, tmp_path)
    fresh = tmp_path / "fresh" / "hub.db"
    fresh.parent.mkdir()
    Store.open(fresh).close()
    assert structure(path)["table events"] == structure(fresh)["table events"]
    assert structure(path)["table event_notes"] == structure(fresh)["table event_notes"]
    conn = connect(path)
    try:
        assert [tuple(r) for r in conn.execute("SELECT * FROM event_notes ORDER BY id")] == [
            tuple(r) for r in notes_before]
        # The fixture's ESR was declared and closed by the old hub: no report is asked now.
        assert due_followups(conn) == []
        # An ESR declared by the old hub, still open: due two months after its declaration.
        (declared,) = conn.execute("SELECT id, declared_at FROM events WHERE esr = 1"
                                   ).fetchall()
        conn.execute("UPDATE events SET state = 'acknowledged' WHERE id = ?", [declared[0]])
        [due] = due_followups(conn)
        assert (due["event_id"], due["due_on"]) == (
            declared[0], add_months(date.fromisoformat(declared[1]), 2).isoformat())
        assert due_followups(conn, months=3)[0]["due_on"] == add_months(
            date.fromisoformat(declared[1]), 3).isoformat()
        with write(conn):  # the new actions are allowed by the rebuilt table
            esr.record_followup(conn, declared[0], "pcr", date(2026, 4, 20), "CR-9", "",
                                datetime(2026, 4, 20, 9, tzinfo=UTC))
            esr.record_materiovigilance(conn, declared[0], "pcr", date(2026, 4, 20), "R-1",
                                        "", datetime(2026, 4, 20, 9, tzinfo=UTC))
        assert due_followups(conn) == []
    finally:
        conn.close()
