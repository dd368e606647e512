"""Records stamped by an unsynchronised clock are flagged, from the journal to the hub's pages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge_agent.agent import Agent
from edge_agent.clock import ManualClock
from edge_agent.journal import Journal
from edge_agent.monitor.records import Reading
from edge_agent.outbox import Outbox
from edge_agent.timesync import ClockSync, adjtimex_synced, system_clock_synced
from hub.db.store import Store
from hub.events.timeline import timeline
from hub.ingest.core import IngestCore
from hub.web import rooms
from tests.hub_factory import T0, core, open_store
from tests.test_agent import Room, config
from wire import contract as wire

DEVICE, SITE, ROOM = "test.r1", "test", "r1"


def test_the_probe_is_asked_at_most_once_a_minute() -> None:
    now, answers = [0.0], [False, True]
    sync = ClockSync(lambda: answers.pop(0), monotonic=lambda: now[0])
    assert sync.last is None
    assert sync.synced() is False
    now[0] = 59.0
    assert sync.synced() is False  # cached
    now[0] = 60.0
    assert sync.synced() is True and sync.last is True


def test_a_failing_probe_means_unknown_and_the_simulator_is_always_synced() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    assert ClockSync(broken).synced() is None
    assert ClockSync.fixed(True).synced() is True


def test_the_system_probe_answers() -> None:
    assert adjtimex_synced() in (True, False)  # Linux: adjtimex via ctypes, no privilege
    assert system_clock_synced() in (True, False)


def test_an_old_journal_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE exposures (id INTEGER PRIMARY KEY, run INTEGER NOT NULL,
            number INTEGER NOT NULL, state TEXT NOT NULL, start TEXT NOT NULL,
            start_wall REAL NOT NULL, end TEXT, end_wall REAL, duration_s REAL,
            requested INTEGER NOT NULL, resumed INTEGER NOT NULL DEFAULT 0,
            interrupted INTEGER NOT NULL DEFAULT 0, procedure INTEGER, pulses INTEGER,
            doors_open TEXT NOT NULL DEFAULT '[]', emission_light_ok INTEGER,
            max_dose_rate_usv_h REAL, dose_usv REAL, saturated INTEGER, alarms TEXT,
            calibration TEXT, UNIQUE (run, number));
        INSERT INTO exposures (run, number, state, start, start_wall, requested)
            VALUES (1, 1, 'closed', '2026-01-05T07:00:00.000000Z', 0, 1);
    """)
    conn.close()
    journal = Journal(path, durable=False)
    journal.close()
    journal = Journal(path, durable=False)  # twice: idempotent
    try:
        for table in ("exposures", "alarms", "readings"):
            cols = {r[1] for r in journal.db.execute(f"PRAGMA table_info({table})")}
            assert "clock_synced" in cols, table
        assert journal.exposures()[0]["clock_synced"] is None  # old rows: unknown
    finally:
        journal.close()


def _outbox(path: str) -> list[tuple[str, dict[str, Any]]]:
    outbox = Outbox(path)
    try:
        return [(p.kind, {"seq": p.seq, **json.loads(p.item)}) for p in outbox.pending(1, 1000)]
    finally:
        outbox.close()


def _agent_records(tmp_path: Path, clock: ManualClock, synced: list[bool]) -> str:
    """An unrequested exposure (an alarm) whose start is stamped synced, its end not."""
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    room = Room(factory, clock)
    sync = ClockSync(lambda: synced[0], refresh_s=0.0, monotonic=clock.monotonic)
    room.agent = Agent(config(tmp_path), clock, pin_factory=factory, on_pins_ready=room.rest,
                       clock_sync=sync)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)  # nobody asked
    room.run_to(2.0)
    synced[0] = False  # NTP lost: what is stamped from now on is flagged
    room.run_to(3.0)
    room.set(emission=False, light_emission=False)
    room.run_to(5.0)
    room.agent.journal.reading(
        Reading(3.0, 4.0, 3, 1.0, 18.0, 0.0003, 0.1, 0.06, 0.8, 0.5, False, "sbm20/Cs-137", 10,
                0), room.agent.writer.to_wall, clock_synced=False)
    path = room.agent.journal.path
    room.agent.close()
    return path


def test_the_journal_flags_what_an_unsynchronised_clock_stamped(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = _agent_records(tmp_path, clock, [True])
    items = _outbox(path)
    exposures = [i for k, i in items if k == "exposures"]
    assert [(e["event"], e["clock_synced"]) for e in exposures] == [
        ("opened", True), ("closed", False)]
    alarms = [i for k, i in items if k == "alarms"]
    assert alarms and alarms[0]["clock_synced"] is True  # raised while synced
    assert [i["clock_synced"] for k, i in items if k == "readings"] == [False]
    for kind, item in items:  # every item is valid on the wire
        models: dict[str, type[BaseModel]] = {
            "exposures": wire.ExposureItem, "alarms": wire.AlarmItem, "readings": wire.ReadingItem,
            "changes": wire.ChangeItem}
        model = models[kind]
        model.model_validate_json(json.dumps(item))


def _to_hub(store: Store, path: str) -> IngestCore:
    hub = core(store)
    journal_id = Outbox(path).journal_id
    messages = []
    for kind, item in _outbox(path):
        payload = wire.batch_payload(kind, DEVICE, SITE, ROOM, journal_id,
                                     "2026-01-05T07:00:00.000000Z", [item])
        messages.append((wire.topic(SITE, ROOM, wire.RECORD_TOPIC[kind]), payload))
    hub.handle_batch(messages, T0)
    return hub


def test_a_flagged_record_arrives_flagged_at_the_hub(tmp_path: Path, clock: ManualClock) -> None:
    path = _agent_records(tmp_path, clock, [True])
    store = open_store(tmp_path / "hub")
    try:
        hub = _to_hub(store, path)
        assert hub.stats()["rejected_total"] == 0
        conn = store.conn
        assert conn.execute("SELECT event, clock_synced FROM exposures").fetchall() == [
            ("closed", 0)]
        assert conn.execute("SELECT clock_synced FROM readings").fetchall() == [(0,)]
        alarm_flags = {r[0] for r in conn.execute("SELECT clock_synced FROM alarms")}
        assert alarm_flags <= {0, 1}
        conn.row_factory = sqlite3.Row
        page = rooms.exposures(conn, DEVICE, rooms.ExposureFilters())
        assert [e.clock_synced for e in page.items] == [False]
        start = conn.execute("SELECT start FROM exposures").fetchone()[0]
        event = {"id": 0, "device": DEVICE, "opened_at": start, "condition_cleared_at": None,
                 "kind": "unsolicited_emission"}
        shown = timeline(conn, event, 5, 5)
        assert [e["clock_synced"] for e in shown["entries"] if e["type"] == "exposure"] == [
            False]
        assert [r["clock_synced"] for r in shown["readings"]] == [False]
    finally:
        store.close()


def test_an_old_hub_store_gains_the_column_and_old_items_stay_valid(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.conn.execute("DROP INDEX idx_readings_unsynced")
    store.conn.execute("ALTER TABLE exposures DROP COLUMN clock_synced")
    store.conn.execute("PRAGMA user_version = 0")  # made before schema versions
    store.close()
    store = open_store(tmp_path)  # the migration adds it back
    try:
        cols = {r[1] for r in store.conn.execute("PRAGMA table_info(exposures)")}
        assert "clock_synced" in cols
    finally:
        store.close()
    item = {"seq": 1, "event": "opened", "run": 1, "number": 1,
            "start": "2026-01-05T07:00:00.000000Z", "requested": True}
    assert wire.ExposureItem.model_validate_json(json.dumps(item)).clock_synced is None
