"""Migration step 3, events' part: the ESR follow-up (issue 15).

``events`` gains, at its end, the guide n°11 criterion named at qualification and its
list's version, the follow-up report's due date, date and reference, the matériovigilance
report's date and reference, and the regulator's outcome. ``event_notes`` gains the
actions ``unqualify_esr``, ``followup`` and ``materiovigilance``: SQLite cannot change a
CHECK, so the table is rebuilt, its rows copied with their ids. Idempotent.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from hub.db import schema

#: Columns added to ``events`` by step 3, in the order of :data:`schema.EVENTS_TABLE`.
EVENT_COLUMNS_3: Final = (
    "esr_criterion", "esr_criteria_version", "followup_due", "followup_at", "followup_ref",
    "materiovigilance_at", "materiovigilance_ref", "esr_outcome",
)

#: An action that only the rebuilt ``event_notes`` allows.
_NEW_ACTION: Final = "'materiovigilance'"


def _notes_sql(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"
                       " AND name = 'event_notes'").fetchone()
    return None if row is None else str(row[0])


def _rebuild_notes(conn: sqlite3.Connection) -> None:
    """``event_notes`` with the new CHECK, every row kept with its id. The old table goes
    (with its index) before the index is made again, on the new one."""
    conn.execute("ALTER TABLE event_notes RENAME TO event_notes_before_3")
    conn.execute(schema.EVENT_NOTES_TABLE.strip().rstrip(";"))
    conn.execute("INSERT INTO event_notes (id, event_id, at, username, action, comment)"
                 " SELECT id, event_id, at, username, action, comment"
                 " FROM event_notes_before_3 ORDER BY id")
    conn.execute("DROP TABLE event_notes_before_3")
    for statement in schema.split(schema.EVENT_NOTES_INDEX):
        conn.execute(statement)


def events_to_3(conn: sqlite3.Connection) -> None:
    """The ESR follow-up's columns and actions; the caller holds the transaction."""
    from hub.db.migrations import add_column  # imported here: migrations imports this module

    for column in EVENT_COLUMNS_3:
        add_column(conn, "events", column, "TEXT")
    found = _notes_sql(conn)
    if found is not None and _NEW_ACTION not in found:
        _rebuild_notes(conn)
    for statement in schema.split(schema.EVENT_NOTES_TABLE + schema.EVENT_NOTES_INDEX):
        conn.execute(statement)
