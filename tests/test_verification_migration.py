"""A calendar made by main at 8d84035 (the legal guide's controls) opens under the order of
23 October 2020 without losing a record: old records under legacy types, read-only."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.config import Controls
from hub.controls import actions as ca
from hub.controls import overdue as co
from hub.controls import records as cr
from hub.controls.due import due_items
from hub.controls.types import BUILTIN_KEYS, OPTIONAL_KEYS, ControlError
from hub.db import migrations
from hub.db.connection import connect, write
from hub.db.migrate_calendar import calendar_to_3
from hub.db.store import Store
from tests.web_helpers import login, make_app

FIXTURE = Path(__file__).resolve().parent / "data" / "hub_8d84035.db"
NOW = datetime(2026, 6, 15, 10, tzinfo=UTC)
OLD_RECORD = (1, "chu-nord", "salle-3", "ambient_internal", "2026-03-20", "ok", "PCR M. Curie",
              "all fine", "DOC-7", "2026-04-02T08:00:00.000Z", "marie")


def _upgrade(path: Path) -> None:
    """The real opening path: the store's numbered migrations, step 3 included."""
    Store.open(path).close()
    conn = connect(path)
    try:
        assert migrations.version(conn) >= 3
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    shutil.copy(FIXTURE, path)
    _upgrade(path)
    return path


@pytest.fixture
def conn(store: Path) -> Iterator[sqlite3.Connection]:
    db = connect(store)
    yield db
    db.close()


def test_every_old_record_is_kept_under_its_legacy_type(conn: sqlite3.Connection) -> None:
    rows = [tuple(r) for r in conn.execute(
        "SELECT id, site, room, control, done_on, result, performed_by, note, document_ref,"
        " recorded_at, recorded_by FROM control_records")]
    assert rows == [OLD_RECORD]
    assert conn.execute("SELECT point_id FROM control_records").fetchone()[0] is None
    legacy = cr.legacy_types(conn, Controls())
    assert [(t.key, t.source, t.legacy) for t in legacy] == [("ambient_internal", "legacy",
                                                               True)]
    assert cr.history(conn)[0]["control"] == "ambient_internal"  # shown


def test_old_records_are_read_only(conn: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="kept"):
        conn.execute("UPDATE control_records SET control = 'periodic_workplace'")
    with pytest.raises(sqlite3.DatabaseError, match="kept"):
        conn.execute("DELETE FROM control_records")
    with pytest.raises(ControlError) as caught, write(conn):
        ca.record_done(conn, Controls(), "marie", "chu-nord", "salle-3", "ambient_internal",
                       "2026-06-01", "ok", "PCR", "", "", NOW)
    assert caught.value.field == "control" and "no longer in force" in caught.value.message


def test_the_new_types_are_scheduled_and_the_old_ones_no_longer(conn: sqlite3.Connection
                                                                ) -> None:
    with write(conn):  # upgraded on 1 May 2026 (the step writes the day it ran)
        conn.execute("UPDATE control_rooms SET upgraded_on = '2026-05-01'")
    items = due_items(conn, Controls(), NOW.date())
    # the site's type, and the quality controls in force before (never recorded)
    assert {i["control"] for i in items} == BUILTIN_KEYS | OPTIONAL_KEYS | {"leak_test"}
    assert all(i["control"] != "ambient_internal" for i in items)
    # commissioned on 2025-02-01 (the room's first use date), before the upgrade: the
    # initial verifications, never recorded under the order, are due at the grace's end
    first = {i["control"]: i for i in items}
    assert (first["initial_equipment"]["due"], first["initial_equipment"]["reason"]) == (
        "2026-05-31", "first_use")
    assert first["periodic_equipment"]["status"] == "overdue"
    leak = first["leak_test"]
    assert (leak["source"], leak["period_months"]) == ("site", 12)
    co.check_overdue(conn, NOW)
    refs = {r[0] for r in conn.execute("SELECT ref FROM events WHERE kind = 'control_overdue'"
                                       " AND condition_cleared_at IS NULL")}
    assert "control:ambient_internal" not in refs and "control:periodic_equipment" in refs


def test_the_step_is_idempotent_and_the_schema_is_a_new_stores(store: Path,
                                                                tmp_path: Path) -> None:
    conn = connect(store)
    try:
        with write(conn):
            calendar_to_3(conn)  # again: nothing changes, nothing fails
        assert conn.execute("SELECT count(*) FROM control_records").fetchone()[0] == 1
    finally:
        conn.close()
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()

    def calendar_schema(path: Path) -> dict[str, list[tuple[object, ...]]]:
        db = sqlite3.connect(path)
        try:
            return {t: [tuple(r)[1:] for r in db.execute(f"PRAGMA table_xinfo({t})")]
                    for t in ("control_rooms", "control_types", "control_records",
                              "control_occasions", "control_type_settings")}
        finally:
            db.close()

    assert calendar_schema(store) == calendar_schema(fresh)


def test_the_pages_show_the_legacy_record_read_only(store: Path, tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    shutil.copy(store, tmp_path / "web" / "hub.db")
    app = make_app(tmp_path / "web")
    app.state.clock = lambda: NOW
    with TestClient(app) as client:
        login(client, "pcr")
        page = client.get("/calendar/room", params={"site": "chu-nord", "room": "salle-3"}).text
        calendar = client.get("/calendar").text
    assert 'data-control="ambient_internal" data-legacy="yes"' in page
    assert "n&#39;est plus en vigueur" in page or "n'est plus en vigueur" in page
    assert 'data-key="ambient_internal" data-source="legacy"' in calendar
    # not offered in the record form
    assert '<option value="ambient_internal"' not in page
