"""Upgrading a store of the legal guide's calendar (main at 8d84035, a6c646b) to step 3:
the quality controls in force stay in force (recorded or not, their open events stay
open), and the verifications step 3 brings get their grace from the upgrade's day."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import workdays
from hub.config import Controls
from hub.controls import overdue
from hub.controls import records as cr
from hub.controls.types import BUILTIN_KEYS, OPTIONAL_KEYS
from hub.db.connection import connect
from hub.db.store import Store

DATA = Path(__file__).resolve().parent / "data"
QUALITY = {"quality_internal": 3, "quality_external": 60, "quality_audit": 12}


def _migrated(tmp_path: Path, name: str) -> sqlite3.Connection:
    path = tmp_path / "hub.db"
    shutil.copy(DATA / name, path)
    Store.open(path).close()  # the real opening path: the numbered migrations
    return connect(path)


@pytest.fixture(params=["hub_8d84035.db", "hub_a6c646b.db"])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = _migrated(tmp_path, request.param)
    yield db
    db.close()


def _open_refs(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute(
        "SELECT ref FROM events WHERE kind = ? AND condition_cleared_at IS NULL",
        [overdue.KIND])}


def test_the_quality_controls_in_force_stay_in_force_recorded_or_not(
        conn: sqlite3.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM control_records WHERE control LIKE 'quality%'"
                        ).fetchone()[0] == 0  # never recorded
    before = _open_refs(conn)
    assert {f"control:{k}" for k in QUALITY} <= before
    types = {t.key: t for t in cr.types_in_force(conn, Controls())}
    assert {k: types[k].period_months for k in OPTIONAL_KEYS} == QUALITY
    overdue.check_overdue(conn, datetime.now(UTC))
    after = _open_refs(conn)
    assert {f"control:{k}" for k in QUALITY} <= after  # a QC never done stays overdue
    assert "control:technical_internal" not in after  # the repealed control is no longer due


def test_the_disabled_list_still_applies(conn: sqlite3.Connection) -> None:
    settings = Controls(disabled=["quality_audit"])
    assert "quality_audit" not in {t.key for t in cr.types_in_force(conn, settings)}
    overdue.check_overdue(conn, datetime.now(UTC), settings)
    refs = _open_refs(conn)
    assert "control:quality_audit" not in refs and "control:quality_internal" in refs


def test_the_new_types_are_not_all_overdue_on_the_upgrade_day(conn: sqlite3.Connection
                                                              ) -> None:
    now = datetime.now(UTC)
    day = workdays.today(now).isoformat()
    assert [tuple(r) for r in conn.execute("SELECT tracked_since < ?, upgraded_on FROM"
                                           " control_rooms", [day])] == [(1, day)]
    overdue.check_overdue(conn, now)
    new = {f"control:{k}" for k in BUILTIN_KEYS}
    assert not _open_refs(conn) & new
    grace = Controls().first_record_grace_days
    overdue.check_overdue(conn, now + timedelta(days=grace + 2))
    # after the grace: the initial verifications (commissioned 2025-02-01) and the
    # periodic ones never recorded are overdue
    assert {"control:initial_equipment", "control:periodic_equipment"} <= _open_refs(conn)


def test_a_new_store_enables_no_quality_control_and_dates_no_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store.open(path).close()
    db = connect(path)
    try:
        assert db.execute("SELECT count(*) FROM control_type_settings").fetchone()[0] == 0
        db.execute("INSERT INTO devices (device, site, room) VALUES ('b', 's', 'r')")
        db.commit()
        overdue.check_overdue(db, datetime.now(UTC))
        assert db.execute("SELECT count(*) FROM control_rooms WHERE upgraded_on IS NOT NULL"
                          ).fetchone()[0] == 0
        assert not OPTIONAL_KEYS & {t.key for t in cr.types_in_force(db, Controls())}
    finally:
        db.close()
