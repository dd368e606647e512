"""Events as the PCR sees them: made by the ingest, reviewed by the PCR (hub/events/workflow.py,
hub/events/esr.py; the ESR follow-up in detail: tests/test_esr_*.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db.connection import connect, write
from hub.db.store import Store
from hub.events import esr
from hub.events import workflow as ev
from hub.events.timeline import timeline
from hub.ingest.core import IngestCore
from hub.timefmt import iso
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    ROOM,
    SITE,
    T0,
    alarm,
    alarms,
    core,
    exposure,
    exposures,
    readings,
    status,
)
from wire.contract import LIVE, Live, topic

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # T0 is 2026-01-05T07:00:00Z, a Monday
TODAY = date(2026, 1, 5)


@pytest.fixture
def hub(store: Store) -> IngestCore:
    return core(store)


@pytest.fixture
def conn(tmp_path: Path, store: Store) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "hub.db")
    yield c
    c.close()


def all_events(store: Store) -> list[dict[str, Any]]:
    return list(store.db.query("SELECT * FROM events ORDER BY id"))


def live_msg(at: float, **inputs: bool) -> tuple[str, bytes]:
    message = Live(v=1, device=DEVICE, site=SITE, room=ROOM, at=iso(at), inputs=inputs,
                   alarms=[], exposure_open=False)
    return topic(SITE, ROOM, LIVE), message.to_bytes()


# -- the schema ---------------------------------------------------------------------------------

_OLD_EVENTS = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, device TEXT NOT NULL,
    site TEXT NOT NULL, room TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '',
    opened_at TEXT NOT NULL, closed_at TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')), detail TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX idx_events_one_open ON events (kind, device, ref) WHERE state = 'open';
INSERT INTO events (kind, device, site, room, ref, opened_at, closed_at, state) VALUES
    ('device_offline', 'd1', 's', 'r', '', '2026-01-05T07:00:00.000Z',
     '2026-01-05T07:10:00.000Z', 'closed'),
    ('device_offline', 'd1', 's', 'r', '', '2026-01-05T08:00:00.000Z', NULL, 'open');
"""


def test_an_old_events_table_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(_OLD_EVENTS)
    old.close()
    for _ in range(2):  # idempotent: the second opening changes nothing
        store = Store.open(path)
        rows = all_events(store)
        assert [(r["id"], r["state"], r["condition_cleared_at"], r["closed_at"]) for r in rows] == [
            (1, "open", "2026-01-05T07:10:00.000Z", None),  # nobody reviewed it: open
            (2, "open", None, None)]
        assert rows[0]["esr"] == 0 and rows[0]["severity"] == "warning"
        # the ingest re-attaches the ongoing one after the upgrade
        assert [e.id for e in store.open_events()] == [2]
        store.close()
    store = Store.open(path)
    store.conn.execute("UPDATE events SET state = 'acknowledged' WHERE id = 2")  # allowed now
    store.conn.commit()
    store.close()
    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"event_notes", "signal_changes", "idx_events_one_ongoing"} <= names
    assert "events_before_pcr" not in names and "idx_events_one_open" not in names


def test_state_is_checked(store: Store) -> None:
    with store.transaction():
        event_id = store.open_event("data_gap", DEVICE, SITE, ROOM, "x", "t", {})
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE events SET state = 'done' WHERE id = ?", [event_id])


# -- made by the ingest -------------------------------------------------------------------------


def test_a_raised_alarm_opens_an_event_that_its_clearing_does_not_close(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([alarms(alarm(1, 1, "raised", kind="unsolicited_emission", subject=None,
                                   exposure=4))], T0 + 7)
    (event,) = all_events(store)
    assert (event["kind"], event["severity"], event["state"], event["ref"]) == (
        "unsolicited_emission", "critical", "open", f"{JOURNAL}:1:1")
    assert event["opened_at"] == iso(T0 + 6)  # detection: the alarm's own time
    assert event["condition_cleared_at"] is None
    detail = json.loads(event["detail"])
    assert detail["exposure"] == 4 and detail["at"] == iso(T0 + 6)
    hub.handle_batch([alarms(alarm(2, 1, "cleared", kind="unsolicited_emission"))], T0 + 10)
    (event,) = all_events(store)
    assert event["condition_cleared_at"] == iso(T0 + 9) and event["state"] == "open"
    assert hub.stats()["alarm_events"] == 1


def test_a_replayed_alarm_makes_no_second_event(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([alarms(alarm(1, 1, "raised"))], T0 + 7)
    hub.handle_batch([alarms(alarm(1, 1, "raised"))], T0 + 8)
    hub.handle_batch([alarms(alarm(2, 2, "raised"))], T0 + 9)  # another alarm: another event
    assert [e["ref"] for e in all_events(store)] == [f"{JOURNAL}:1:1", f"{JOURNAL}:1:2"]


def test_a_clearing_that_arrives_first_still_makes_one_event(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([alarms(alarm(2, 1, "cleared"))], T0 + 20)  # seq 1 comes later
    hub.handle_batch([alarms(alarm(1, 1, "raised"))], T0 + 21)
    (event,) = all_events(store)
    assert event["condition_cleared_at"] == iso(T0 + 9)
    assert event["opened_at"] == iso(T0 + 6)


def test_an_alarm_interrupted_by_a_restart_is_an_event_with_its_condition_ended(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([alarms(alarm(1, 3, "interrupted", kind="request_stuck", subject=None))],
                     T0 + 30)
    (event,) = all_events(store)
    assert event["kind"] == "request_stuck" and event["severity"] == "warning"
    assert event["condition_cleared_at"] == iso(T0 + 9)


def test_the_ingest_never_changes_what_the_pcr_did(
    hub: IngestCore, store: Store, conn: sqlite3.Connection
) -> None:
    hub.handle_batch([alarms(alarm(1, 1, "raised"))], T0 + 7)
    (event,) = all_events(store)
    with write(conn):
        ev.acknowledge(conn, event["id"], "pcr", "on it", NOW)
    hub.handle_batch([alarms(alarm(2, 1, "cleared"))], T0 + 10)
    (event,) = all_events(store)
    assert event["state"] == "acknowledged" and event["condition_cleared_at"] == iso(T0 + 9)


def test_an_offline_event_closed_by_the_pcr_while_offline(
    hub: IngestCore, store: Store, conn: sqlite3.Connection
) -> None:
    hub.handle_batch([status("online", T0)], T0)
    hub.handle_batch([status("offline", T0 + 1)], T0 + 1)
    (first,) = all_events(store)
    with write(conn):
        ev.acknowledge(conn, first["id"], "pcr", "room closed for works", NOW)
        ev.close(conn, first["id"], "pcr", "decommissioned for a week", NOW)
    hub.handle_batch([status("offline", T0 + 1)], T0 + 5)  # the retained will again
    assert len(all_events(store)) == 1
    hub.handle_batch([status("online", T0 + 100)], T0 + 100)
    hub.handle_batch([status("offline", T0 + 200)], T0 + 200)
    rows = all_events(store)
    assert [(r["state"], r["condition_cleared_at"] is not None) for r in rows] == [
        ("closed", True), ("open", False)]


def test_signal_changes_are_kept_for_the_timeline(tmp_path: Path, store: Store) -> None:
    hub = core(store)
    hub.handle_batch([live_msg(T0, emission=False, **{"door.corridor": False})], T0)
    hub.handle_batch([live_msg(T0 + 1, emission=True, **{"door.corridor": False})], T0 + 1)
    hub.handle_batch([live_msg(T0 + 2, emission=True, **{"door.corridor": False})], T0 + 2)
    again = core(store, now=T0 + 3)  # a restart remembers the last inputs
    again.handle_batch([live_msg(T0 + 4, emission=False, **{"door.corridor": True})], T0 + 4)
    rows = [(r["at"], r["signal"], r["value"]) for r in store.db.query(
        "SELECT * FROM signal_changes ORDER BY at, signal")]
    assert rows == [
        (iso(T0), "door.corridor", 0), (iso(T0), "emission", 0),
        (iso(T0 + 1), "emission", 1),
        (iso(T0 + 4), "door.corridor", 1), (iso(T0 + 4), "emission", 0)]


# -- the PCR's workflow -------------------------------------------------------------------------


def _event(store: Store, opened_at: str = "2026-01-05T07:00:06.000Z") -> int:
    with store.transaction():
        return store.alarm_event("unsolicited_emission", DEVICE, SITE, ROOM, "j:1:1", opened_at,
                                 {"subject": None}, "critical", None, opened_at)


def _get(conn: sqlite3.Connection, event_id: int, today: date = TODAY) -> dict[str, Any]:
    return ev.get_event(conn, event_id, today)


def qualify(conn: sqlite3.Connection, event_id: int, who: str, comment: str, now: datetime,
            alsace_moselle: bool = False) -> dict[str, Any]:
    """Qualify under criterion 6 of the packaged list ("other event")."""
    return esr.qualify_esr(conn, event_id, who, comment, now, alsace_moselle, criterion="6")


def test_acknowledge_then_close_with_notes(store: Store, conn: sqlite3.Connection) -> None:
    event_id = _event(store)
    with write(conn):
        ev.acknowledge(conn, event_id, "alice", "  seen, calling the engineer  ", NOW)
    with write(conn):
        ev.close(conn, event_id, "alice", "generator fixed", NOW)
    event = _get(conn, event_id)
    assert (event["state"], event["acknowledged_by"], event["closed_by"]) == (
        "closed", "alice", "alice")
    assert [(n["action"], n["comment"]) for n in event["notes"]] == [
        ("acknowledge", "seen, calling the engineer"), ("close", "generator fixed")]


@pytest.mark.parametrize("comment", ["", "   ", "x" * 2001])
def test_a_comment_is_required_and_bounded(
    store: Store, conn: sqlite3.Connection, comment: str
) -> None:
    event_id = _event(store)
    with pytest.raises(ev.EventError) as caught, write(conn):
        ev.acknowledge(conn, event_id, "alice", comment, NOW)
    assert caught.value.field == "comment"
    assert _get(conn, event_id)["state"] == "open" and _get(conn, event_id)["notes"] == []


def test_invalid_transitions_are_refused(store: Store, conn: sqlite3.Connection) -> None:
    event_id = _event(store)
    refusals: list[tuple[Callable[[], Any], str]] = [
        (lambda: ev.close(conn, event_id, "a", "done", NOW), "state"),
        (lambda: esr.declare(conn, event_id, "a", TODAY, "ESNR-1", "", NOW), "esr"),
    ]
    for action, field in refusals:
        with pytest.raises(ev.EventError) as caught, write(conn):
            action()
        assert caught.value.field == field
    with write(conn):
        ev.acknowledge(conn, event_id, "a", "seen", NOW)
    with pytest.raises(ev.EventError, match="already"), write(conn):
        ev.acknowledge(conn, event_id, "a", "seen again", NOW)
    with write(conn):
        ev.close(conn, event_id, "a", "done", NOW)
    late: list[Callable[[], Any]] = [lambda: ev.close(conn, event_id, "a", "again", NOW),
                                     lambda: qualify(conn, event_id, "a", "late", NOW)]
    for action in late:
        with pytest.raises(ev.EventError) as caught, write(conn):
            action()
        assert caught.value.field == "state"
    assert len(_get(conn, event_id)["notes"]) == 2


def test_with_missing_event() -> None:
    c = sqlite3.connect(":memory:")
    c.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY);")
    with pytest.raises(ev.EventNotFound):
        ev.acknowledge(c, 9, "a", "x", NOW)


def test_qualifying_sets_the_due_date_from_detection_not_from_qualification(
    store: Store, conn: sqlite3.Connection
) -> None:
    event_id = _event(store, "2026-05-13T15:00:00.000Z")  # Wednesday before Ascension
    later = datetime(2026, 5, 15, 10, tzinfo=UTC)  # qualified on the Friday
    with write(conn):
        result = qualify(conn, event_id, "bob", "unsolicited emission", later)
    assert result["declaration_due"] == "2026-05-18"
    event = _get(conn, event_id, today=date(2026, 5, 15))
    assert event["esr"] is True and event["esr_qualified_by"] == "bob"
    assert event["state"] == "acknowledged" and event["acknowledged_by"] == "bob"
    assert event["declaration_due"] == "2026-05-18" and event["due_status"] == "pending"
    assert _get(conn, event_id, today=date(2026, 5, 17))["due_status"] == "soon"
    assert _get(conn, event_id, today=date(2026, 5, 18))["due_status"] == "soon"
    assert _get(conn, event_id, today=date(2026, 5, 19))["due_status"] == "overdue"
    with pytest.raises(ev.EventError, match="already qualified"), write(conn):
        qualify(conn, event_id, "bob", "again", later)


def test_alsace_moselle_moves_the_due_date(store: Store, conn: sqlite3.Connection) -> None:
    event_id = _event(store, "2026-04-02T08:00:00.000Z")  # Thursday before Good Friday
    with write(conn):
        due = qualify(conn, event_id, "bob", "x", datetime(2026, 4, 2, 9, tzinfo=UTC),
                             alsace_moselle=True)
    assert due["declaration_due"] == "2026-04-08"


def test_declaring_an_esr(store: Store, conn: sqlite3.Connection) -> None:
    event_id = _event(store)
    with write(conn):
        qualify(conn, event_id, "bob", "significant", NOW)
    with pytest.raises(ev.EventError) as caught, write(conn):
        ev.close(conn, event_id, "bob", "done", NOW)
    assert caught.value.field == "esr" and "declaration" in caught.value.message
    bad = [
        (date(2026, 1, 6), "ESNR-2026-0001", "declared_on"),  # tomorrow
        (date(2026, 1, 4), "ESNR-2026-0001", "declared_on"),  # before detection
        (TODAY, "", "reference"),
        (TODAY, "<script>", "reference"),
        (TODAY, "x" * 65, "reference"),
    ]
    for declared_on, reference, field in bad:
        with pytest.raises(ev.EventError) as caught, write(conn):
            esr.declare(conn, event_id, "bob", declared_on, reference, "", NOW)
        assert caught.value.field == field
    with write(conn):
        esr.declare(conn, event_id, "bob", TODAY, " ESNR-PAR-2026-0001 ", "by the portal", NOW)
    event = _get(conn, event_id, today=date(2026, 2, 1))
    assert (event["declared_at"], event["declaration_ref"]) == ("2026-01-05", "ESNR-PAR-2026-0001")
    assert event["due_status"] is None  # declared: no longer shown as due
    assert event["notes"][-1]["comment"] == "2026-01-05 ESNR-PAR-2026-0001: by the portal"
    with pytest.raises(ev.EventError, match="already recorded"), write(conn):
        esr.declare(conn, event_id, "bob", TODAY, "ESNR-2", "", NOW)
    with pytest.raises(ev.EventError) as caught, write(conn):
        ev.close(conn, event_id, "bob", "declared and analysed", NOW, "closed by the ASNR")
    assert caught.value.field == "followup"
    with write(conn):
        esr.record_followup(conn, event_id, "bob", TODAY, "CR-1", "", NOW)
    with pytest.raises(ev.EventError) as caught, write(conn):
        ev.close(conn, event_id, "bob", "declared and analysed", NOW)
    assert caught.value.field == "outcome"
    with write(conn):
        ev.close(conn, event_id, "bob", "declared and analysed", NOW, "closed by the ASNR")
    assert _get(conn, event_id)["esr_outcome"] == "closed by the ASNR"


def test_the_inbox_lists_open_ones_first_newest_first(
    store: Store, conn: sqlite3.Connection
) -> None:
    with store.transaction():
        a = store.open_event("device_offline", "d1", "s1", "r1", "", "2026-01-05T07:00:00.000Z",
                             {})
        b = store.open_event("data_gap", "d2", "s1", "r2", "j:4", "2026-01-05T08:00:00.000Z", {})
        c = store.open_event("device_offline", "d2", "s2", "r2", "", "2026-01-05T09:00:00.000Z",
                             {})
    with write(conn):
        ev.acknowledge(conn, c, "a", "seen", NOW)
        qualify(conn, a, "a", "serious", NOW)
        ev.acknowledge(conn, b, "a", "seen", NOW)
        ev.close(conn, b, "a", "fine", NOW)
    d = _event(store, "2026-01-05T06:00:00.000Z")

    def ids(**filters: Any) -> list[int]:
        return [e["id"] for e in ev.list_events(conn, ev.Filters(**filters), TODAY)]

    assert ids() == [d, c, a, b]
    assert ids(state="acknowledged") == [c, a]
    assert ids(kind="device_offline") == [c, a]
    assert ids(site="s1", room="r2") == [b]
    assert ids(room="r2") == [c, b]
    assert ids(esr=True) == [a]
    assert ids(esr=False) == [d, c, b]
    assert ids(limit=1, offset=1) == [c]
    assert ev.facets(conn) == {"kinds": ["data_gap", "device_offline", "unsolicited_emission"],
                               "rooms": [(SITE, ROOM), ("s1", "r1"), ("s1", "r2"),
                                         ("s2", "r2")]}


# -- the timeline -------------------------------------------------------------------------------


def test_the_timeline_gathers_what_happened_around_the_event(
    hub: IngestCore, store: Store, conn: sqlite3.Connection
) -> None:
    # readings every 10 s from T0+10 (seq n starts at T0 + 10 n)
    hub.handle_batch([readings(1, 3)], T0 + 1)
    hub.handle_batch([live_msg(T0 + 5, emission=True, request=False)], T0 + 5)
    hub.handle_batch([exposures(exposure(4, 1, "closed", requested=False))], T0 + 9)
    hub.handle_batch([alarms(alarm(5, 1, "raised", kind="unsolicited_emission", subject=None),
                             alarm(6, 1, "cleared", kind="unsolicited_emission", subject=None))],
                     T0 + 10)
    hub.handle_batch([readings(400, 400)], T0 + 11)  # 4000 s later: outside the window
    event = next(e for e in all_events(store) if e["kind"] == "unsolicited_emission")
    full = ev.get_event(conn, event["id"], TODAY)
    line = timeline(conn, full, 30, 30)
    assert line["start"] == iso(T0 + 6 - 1800) and line["end"] == iso(T0 + 9 + 1800)
    # at one instant: alarms, hub events, exposures, then signals
    assert [e["type"] for e in line["entries"]] == ["exposure", "signal", "signal", "alarm"]
    exposure_entry = line["entries"][0]
    assert exposure_entry["requested"] is False and exposure_entry["duration_s"] == 3.0
    assert line["entries"][3]["kind"] == "unsolicited_emission"
    assert [r["start"] for r in line["readings"]] == [iso(T0 + 10), iso(T0 + 20), iso(T0 + 30)]
    assert line["truncated"] is False
    narrow = timeline(conn, full, 0, 0)
    assert [e["type"] for e in narrow["entries"]] == ["exposure", "alarm"]
    assert narrow["readings"] == []


def test_every_refusal_message_has_a_french_translation() -> None:
    import ast
    import inspect

    from hub.web.i18n import translations

    french = translations("fr")
    messages = []
    for node in (n for module in (ev, esr) for n in ast.walk(ast.parse(inspect.getsource(module)))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "EventError" and isinstance(node.args[1], ast.Constant)):
            messages.append(ast.literal_eval(node.args[1]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("clean_reference", "clean_text", "_check_day")):
            messages += [ast.literal_eval(a) for a in node.args if isinstance(a, ast.Constant)
                         and isinstance(a.value, str) and " " in a.value]
    assert len(messages) >= 20
    assert [m for m in messages if french.gettext(m) == m] == []
