"""The hub's tables: what the evidence looks like at rest.

``received`` is the exactly-once key of every record (any kind);
``readings`` holds each reading once; ``exposures`` and ``alarms`` hold the
latest state of each (device, journal, run, number), replaced only by a
later sequence number. ``rejected`` keeps the first bytes of every refused
message as a BLOB, never decoded; ``quarantine`` keeps every refused *record*
of a sound batch whole, with its (device, journal, seq) and reason, never
pruned (``counted``: it counts as received for the acknowledgement;
``replayed_at``: stored since by ``voyant-hub quarantine replay``);
``accepted_jumps`` holds an admin's word that a journal goes on from ``oldest``
(what lies below is declared lost by the ingest, which sets ``applied_at``).
Times are ISO 8601 UTC strings.
"""

from __future__ import annotations

from typing import Final

import sqlite_utils

from wire.contract import ReadingItem

#: Reading columns after the identity ones, in ReadingItem order.
READING_FIELDS: Final = tuple(ReadingItem.model_fields)

_KEY: Final[dict[str, type]] = {
    "device": str, "site": str, "room": str, "journal": str, "run": int, "number": int,
    "last_seq": int, "event": str, "state": str,
}

EXPOSURE_TYPES: Final[dict[str, type]] = {
    **_KEY, "start": str, "end": str, "duration_s": float, "requested": int, "resumed": int,
    "interrupted": int, "procedure": int, "pulses": int, "doors_open": str,
    "emission_light_ok": int, "max_dose_rate_usv_h": float, "dose_usv": float,
    "saturated": int, "alarms": str, "calibration": str, "clock_synced": int,
    "first_seen": str, "updated": str, "clock_implausible": int,
}
EXPOSURE_COLUMNS: Final = tuple(EXPOSURE_TYPES)

ALARM_TYPES: Final[dict[str, type]] = {
    **_KEY, "kind": str, "subject": str, "at": str, "since": str, "cleared": str,
    "detail": str, "exposure": int, "interrupted": int, "clock_synced": int,
    "first_seen": str, "updated": str, "clock_implausible": int,
}
ALARM_COLUMNS: Final = tuple(ALARM_TYPES)

_FLOAT_READING = {"seconds_covered", "cpm", "dose_usv", "mean_usv_h", "mean_sigma_usv_h",
                  "max_usv_h", "max_sigma_usv_h"}
_TEXT_READING = {"start", "end", "calibration"}


#: Columns the hub adds to every record: ``clock_implausible`` is 1 when the record's times
#: lie outside the plausible window around its receipt (see ``[ingest] plausible_*``): it is
#: kept and shown, but left out of charts and reports.
HUB_READING_FIELDS: Final = ("clock_implausible",)


def _reading_types() -> dict[str, type]:
    types: dict[str, type] = {"device": str, "site": str, "room": str, "journal": str}
    for name in READING_FIELDS:
        types[name] = float if name in _FLOAT_READING else str if name in _TEXT_READING else int
    types.update(dict.fromkeys(HUB_READING_FIELDS, int))
    return types


_TABLES: Final[dict[str, tuple[dict[str, type], tuple[str, ...]]]] = {
    "devices": ({"device": str, "site": str, "room": str, "journal": str, "acked_upto": int,
                 "last_seen": str, "online": int, "status_state": str, "status_at": str,
                 "heartbeat_s": float, "agent": str}, ("device",)),
    "journals": ({"device": str, "journal": str, "upto": int, "started_at": str},
                 ("device", "journal")),
    "exposures": (EXPOSURE_TYPES, ("device", "journal", "run", "number")),
    "alarms": (ALARM_TYPES, ("device", "journal", "run", "number")),
    "live": ({"device": str, "site": str, "room": str, "payload": str, "at": str}, ("device",)),
    "counters": ({"name": str, "value": int}, ("name",)),
}

_INDEXES: Final = (
    ("readings", ("device", "start")),
    ("exposures", ("device", "start")),
    ("exposures", ("site", "room", "start")),
    ("alarms", ("device", "at")),
)

_SQL_TYPE: Final = {str: "TEXT", int: "INTEGER", float: "REAL"}


def _keyed_ddl(table: str, columns: dict[str, type]) -> str:
    """A table clustered on (device, journal, seq): one B-tree, no rowid (the hot path)."""
    cols = ",\n    ".join(f'"{name}" {_SQL_TYPE[kind]}' for name, kind in columns.items())
    return (f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols},\n"
            f"    PRIMARY KEY (device, journal, seq)\n) WITHOUT ROWID;\n")


_EXTRA_DDL: Final = """
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    payload_head BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_rejected_received_at ON rejected (received_at);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    journal TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    item TEXT NOT NULL,
    counted INTEGER NOT NULL CHECK (counted IN (0, 1)),
    replayed_at TEXT,
    UNIQUE (device, journal, seq)
);
CREATE TABLE IF NOT EXISTS accepted_jumps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    journal TEXT NOT NULL,
    oldest INTEGER NOT NULL CHECK (oldest >= 1),
    accepted_by TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    applied_at TEXT
);
"""


#: The events table: the ingest opens a row and sets ``condition_cleared_at`` when the
#: condition ends; the PCR moves ``state`` open -> acknowledged -> closed and may qualify
#: it as an ESR (see ``hub.events.workflow``). ``updated_at`` changes with every write to the row.
EVENTS_DDL: Final = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    ref TEXT NOT NULL DEFAULT '',
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    state TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'closed')),
    detail TEXT NOT NULL DEFAULT '{}',
    severity TEXT NOT NULL DEFAULT 'warning'
        CHECK (severity IN ('critical', 'warning', 'info')),
    condition_cleared_at TEXT,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    closed_by TEXT,
    esr INTEGER NOT NULL DEFAULT 0 CHECK (esr IN (0, 1)),
    esr_qualified_at TEXT,
    esr_qualified_by TEXT,
    declaration_due TEXT,
    declared_at TEXT,
    declaration_ref TEXT,
    updated_at TEXT
);
"""

#: Columns added to ``events`` since its first version, with their SQL definition.
EVENT_COLUMNS_ADDED: Final = (
    ("severity", "TEXT NOT NULL DEFAULT 'warning'"),
    ("condition_cleared_at", "TEXT"),
    ("acknowledged_at", "TEXT"),
    ("acknowledged_by", "TEXT"),
    ("closed_by", "TEXT"),
    ("esr", "INTEGER NOT NULL DEFAULT 0"),
    ("esr_qualified_at", "TEXT"),
    ("esr_qualified_by", "TEXT"),
    ("declaration_due", "TEXT"),
    ("declared_at", "TEXT"),
    ("declaration_ref", "TEXT"),
    ("updated_at", "TEXT"),
)

_EVENTS_EXTRA_DDL: Final = """
DROP INDEX IF EXISTS idx_events_one_open;
CREATE UNIQUE INDEX IF NOT EXISTS idx_events_one_ongoing
    ON events (kind, device, ref) WHERE condition_cleared_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_events_ref ON events (kind, device, ref);
CREATE INDEX IF NOT EXISTS idx_events_device_opened ON events (device, opened_at);
CREATE INDEX IF NOT EXISTS idx_events_state ON events (state, kind);
CREATE INDEX IF NOT EXISTS idx_events_opened ON events (opened_at);
CREATE TABLE IF NOT EXISTS event_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES events (id),
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL
        CHECK (action IN ('acknowledge', 'close', 'qualify_esr', 'declare', 'note')),
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_event_notes_event ON event_notes (event_id, id);
CREATE TABLE IF NOT EXISTS signal_changes (
    device TEXT NOT NULL,
    at TEXT NOT NULL,
    signal TEXT NOT NULL,
    value INTEGER NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    PRIMARY KEY (device, at, signal)
) WITHOUT ROWID;
"""


def _migrate_events(db: sqlite_utils.Database) -> None:
    """Bring an ``events`` table of an older hub to the PCR workflow (idempotent).

    The first version allowed only ``open``/``closed`` (closed meaning the
    condition had ended): SQLite cannot change a CHECK, so the table is
    rebuilt in one transaction. Old ``closed`` rows keep their end as
    ``condition_cleared_at`` and become ``open``: no PCR ever reviewed them.
    """
    conn = db.conn
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"
                       ).fetchone()
    if row is None:
        conn.executescript(EVENTS_DDL)
        return
    if "'acknowledged'" not in row[0]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE events RENAME TO events_before_pcr")
            conn.execute(EVENTS_DDL.strip().rstrip(";"))
            conn.execute(
                "INSERT INTO events (id, kind, device, site, room, ref, opened_at, state, detail,"
                " condition_cleared_at, updated_at)"
                " SELECT id, kind, device, site, room, ref, opened_at, 'open', detail,"
                " CASE WHEN state = 'closed' THEN COALESCE(closed_at, opened_at) END,"
                " COALESCE(closed_at, opened_at) FROM events_before_pcr")
            conn.execute("DROP TABLE events_before_pcr")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return
    have = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
    for name, definition in EVENT_COLUMNS_ADDED:
        if name not in have:
            conn.execute(f"ALTER TABLE events ADD COLUMN {name} {definition}")


#: Record columns added since the first version: (table, column, SQL type).
RECORD_COLUMNS_ADDED: Final = (
    ("readings", "clock_synced", "INTEGER"),
    ("exposures", "clock_synced", "INTEGER"),
    ("alarms", "clock_synced", "INTEGER"),
    ("readings", "clock_implausible", "INTEGER"),
    ("exposures", "clock_implausible", "INTEGER"),
    ("alarms", "clock_implausible", "INTEGER"),
)

#: Readings stamped by an unsynchronised clock, found without scanning the others.
_UNSYNCED_DDL: Final = """
CREATE INDEX IF NOT EXISTS idx_readings_unsynced ON readings (device, start)
    WHERE clock_synced = 0;
CREATE INDEX IF NOT EXISTS idx_readings_implausible ON readings (device)
    WHERE clock_implausible = 1;
CREATE INDEX IF NOT EXISTS idx_exposures_implausible ON exposures (device)
    WHERE clock_implausible = 1;
"""


def _migrate_records(db: sqlite_utils.Database) -> None:
    """Add the record columns an older hub's tables lack (idempotent; NULL: unknown)."""
    for table, column, kind in RECORD_COLUMNS_ADDED:
        have = {r[1] for r in db.conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def create(db: sqlite_utils.Database) -> None:
    """Create every table and index that is missing (idempotent)."""
    db.conn.executescript(
        _keyed_ddl("received", {"device": str, "journal": str, "seq": int, "kind": str,
                                "stored_at": str})
        + _keyed_ddl("readings", _reading_types())
    )
    for name, (columns, pk) in _TABLES.items():
        db[name].create(columns, pk=pk if len(pk) > 1 else pk[0], if_not_exists=True)  # type: ignore[union-attr]
    for table, cols in _INDEXES:
        db[table].create_index(cols, if_not_exists=True)  # type: ignore[union-attr]
    _migrate_records(db)
    db.conn.executescript(_UNSYNCED_DDL)
    db.conn.executescript(_EXTRA_DDL)
    _migrate_events(db)
    db.conn.executescript(_EVENTS_EXTRA_DDL)
