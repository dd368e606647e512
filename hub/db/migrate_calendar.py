"""Migration step 3, the calendar's part: the verifications of the order of 23 October 2020.

``control_records`` gains, at its end, ``point_id`` (the measurement point of a
workplace verification); the tables ``control_occasions`` and
``control_type_settings`` are made. No record changes: those of the legal guide's
controls (``ambient_internal``...) stay as they were, under types that are no longer
in force (shown read-only, no longer scheduled: :mod:`hub.controls.types`).

In a store made before this step, the quality control types (ANSM), now optional,
were in force by default: they stay enabled at their old intervals, recorded or not
(a quality control never done is the one most overdue; its open events stay open).
``[controls] disabled`` still applies. The day of the upgrade is kept in each room tracked
before (``control_rooms.upgraded_on``): the new types' grace for a first record runs
from it (:mod:`hub.controls.schedule`), not all overdue at once. Idempotent.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from hub import timefmt, workdays
from hub.db import schema
from hub.db.migrations import add_column
from hub.db.schema_app import CONTROLS_3

#: What the optional types were before step 3: in force everywhere, at these intervals.
_WAS_IN_FORCE = (("quality_internal", 3), ("quality_external", 60), ("quality_audit", 12))


def _made_before(conn: sqlite3.Connection) -> bool:
    """Whether the store held a room or a verification before this step (a store being
    made holds none: there, the optional types stay off and nothing is dated)."""
    return any(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
               for table in ("devices", "control_rooms", "control_records"))


def calendar_to_3(conn: sqlite3.Connection) -> None:
    """Bring the calendar's tables to step 3 (caller's transaction)."""
    add_column(conn, "control_records", "point_id", "INTEGER")
    add_column(conn, "control_rooms", "upgraded_on", "TEXT")
    for statement in schema.split(CONTROLS_3):
        conn.execute(statement)
    if not _made_before(conn):
        return
    now = datetime.now(UTC)
    at = timefmt.iso(now.timestamp())
    for key, months in _WAS_IN_FORCE:
        conn.execute("INSERT OR IGNORE INTO control_type_settings (key, enabled,"
                     " period_months, period_months_mobile, updated_at, updated_by)"
                     " VALUES (?, 1, ?, NULL, ?, 'migration 3')", [key, months, at])
    today = workdays.today(now).isoformat()
    conn.execute("UPDATE control_rooms SET upgraded_on = ? WHERE upgraded_on IS NULL"
                 " AND tracked_since < ?", [today, today])
