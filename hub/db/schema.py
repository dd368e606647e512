"""The hub's tables, indexes and triggers: the evidence at rest (what the ingest writes).

``received`` is the exactly-once key of every record (any kind), with the record
as received (``body``: its canonical bytes, ``wire.chain``), its ``hash`` and ``prev``
(NULL in rows stored before the chain);
``changes`` holds each input change record once;
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

The tables of the web, the calendar, the reports and the rollups are in
:mod:`hub.db.schema_app`; :func:`statements` gives both, in creation order, to
:mod:`hub.db.migrations`, the only code that runs them. Every statement says
``IF NOT EXISTS``: a migration creates what a store lacks.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from hub.db import schema_app
from wire.contract import ReadingItem

#: Reading columns after the identity ones, in ReadingItem order (``prev`` is kept with
#: every record in ``received``).
READING_FIELDS: Final = tuple(name for name in ReadingItem.model_fields if name != "prev")

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

#: One row per input change record (``wire.records.ChangeItem``): what the timeline, the
#: room page and the CSV read.
CHANGE_TYPES: Final[dict[str, type]] = {
    "device": str, "site": str, "room": str, "journal": str, "seq": int, "run": int,
    "signal": str, "value": int, "first": str, "last": str, "count": int, "origin": str,
    "by": str, "clock_synced": int, "clock_implausible": int, "stored_at": str,
}
CHANGE_COLUMNS: Final = tuple(CHANGE_TYPES)

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


_SQL_TYPE: Final = {str: "TEXT", int: "INTEGER", float: "REAL"}


def _table(name: str, columns: dict[str, type], key: tuple[str, ...], *,
           without_rowid: bool = False) -> str:
    """A table of typed columns (the record tables' columns are defined once, as data)."""
    cols = [f'"{c}" {_SQL_TYPE[kind]}' for c, kind in columns.items()]
    if len(key) == 1:
        cols = [c + " PRIMARY KEY" if c.startswith(f'"{key[0]}" ') else c for c in cols]
    else:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in key) + ")")
    body = ",\n    ".join(cols)
    tail = " WITHOUT ROWID" if without_rowid else ""
    return f'CREATE TABLE IF NOT EXISTS "{name}" (\n    {body}\n){tail};\n'


#: The record tables: readings and receipts are clustered on (device, journal, seq), one
#: B-tree without rowid (the ingest's hot path).
_RECORDS: Final = (
    _table("received", {"device": str, "journal": str, "seq": int, "kind": str,
                        "stored_at": str, "hash": str, "prev": str, "body": str},
           ("device", "journal", "seq"), without_rowid=True)
    + _table("readings", _reading_types(), ("device", "journal", "seq"), without_rowid=True)
    + _table("devices", {"device": str, "site": str, "room": str, "journal": str,
                         "acked_upto": int, "last_seen": str, "online": int,
                         "status_state": str, "status_at": str, "heartbeat_s": float,
                         "agent": str}, ("device",))
    + _table("journals", {"device": str, "journal": str, "upto": int, "started_at": str},
             ("device", "journal"))
    + _table("exposures", EXPOSURE_TYPES, ("device", "journal", "run", "number"))
    + _table("alarms", ALARM_TYPES, ("device", "journal", "run", "number"))
    + _table("live", {"device": str, "site": str, "room": str, "payload": str, "at": str},
             ("device",))
    + _table("counters", {"name": str, "value": int}, ("name",))
    + _table("changes", CHANGE_TYPES, ("device", "journal", "seq"), without_rowid=True)
)

_INTAKE: Final = """
CREATE INDEX IF NOT EXISTS idx_readings_device_start ON readings (device, start);
CREATE INDEX IF NOT EXISTS idx_exposures_device_start ON exposures (device, start);
CREATE INDEX IF NOT EXISTS idx_exposures_site_room_start ON exposures (site, room, start);
CREATE INDEX IF NOT EXISTS idx_alarms_device_at ON alarms (device, at);
CREATE INDEX IF NOT EXISTS idx_changes_device_first ON changes (device, first);
-- Readings stamped by an unsynchronised clock, found without scanning the others.
CREATE INDEX IF NOT EXISTS idx_readings_unsynced ON readings (device, start)
    WHERE clock_synced = 0;
CREATE INDEX IF NOT EXISTS idx_readings_implausible ON readings (device)
    WHERE clock_implausible = 1;
CREATE INDEX IF NOT EXISTS idx_exposures_implausible ON exposures (device)
    WHERE clock_implausible = 1;
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
    hash TEXT,
    UNIQUE (device, journal, seq)
);
-- A copy of a stored record sent again with other content (a journal restored or
-- altered): kept whole, never stored over the first; one row per distinct copy.
CREATE TABLE IF NOT EXISTS record_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    journal TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    hash TEXT NOT NULL,
    stored_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (device, journal, seq, hash)
);
-- A break of a journal's hash chain found as records arrived (``prev`` not the hash of
-- the record before, or the chain started again): where, and what.
CREATE TABLE IF NOT EXISTS chain_breaks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    journal TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    found_at TEXT NOT NULL,
    UNIQUE (device, journal, seq, reason)
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
EVENTS_TABLE: Final = """
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
    updated_at TEXT,
    esr_criterion TEXT,
    esr_criteria_version TEXT,
    followup_due TEXT,
    followup_at TEXT,
    followup_ref TEXT,
    materiovigilance_at TEXT,
    materiovigilance_ref TEXT,
    esr_outcome TEXT
);
"""

_EVENT_INDEXES: Final = """
CREATE UNIQUE INDEX IF NOT EXISTS idx_events_one_ongoing
    ON events (kind, device, ref) WHERE condition_cleared_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_events_ref ON events (kind, device, ref);
CREATE INDEX IF NOT EXISTS idx_events_device_opened ON events (device, opened_at);
CREATE INDEX IF NOT EXISTS idx_events_state ON events (state, kind);
CREATE INDEX IF NOT EXISTS idx_events_opened ON events (opened_at);
"""

#: Every action a PCR records on an event, one ``event_notes`` row each (its CHECK lists
#: them: a new action needs the table rebuilt, :mod:`hub.db.migrate_events`).
EVENT_NOTES_TABLE: Final = """
CREATE TABLE IF NOT EXISTS event_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES events (id),
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL
        CHECK (action IN ('acknowledge', 'close', 'qualify_esr', 'declare', 'note',
                          'unqualify_esr', 'followup', 'materiovigilance')),
    comment TEXT NOT NULL DEFAULT ''
);
"""

#: The index of ``event_notes``, made after the table (and again after its rebuild).
EVENT_NOTES_INDEX: Final = """
CREATE INDEX IF NOT EXISTS idx_event_notes_event ON event_notes (event_id, id);
"""

_SIGNAL_CHANGES: Final = """
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

_EVENTS: Final = (EVENTS_TABLE + _EVENT_INDEXES + EVENT_NOTES_TABLE + EVENT_NOTES_INDEX
                  + _SIGNAL_CHANGES)


#: Made by migration 2 (after it adds ``received.prev``): the chained records of each
#: journal, so that its chain's start and head are found without a scan.
CHAIN_INDEXES: Final = """
CREATE INDEX IF NOT EXISTS idx_received_chained ON received (device, journal, seq)
    WHERE prev IS NOT NULL;
"""


def split(script: str) -> tuple[str, ...]:
    """A script's statements, one by one (a trigger's body holds semicolons): run one at a
    time, they stay inside the caller's transaction, where ``executescript`` would commit."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"an unfinished statement: {current.strip()[:60]}")
    return tuple(out)


def statements() -> tuple[str, ...]:
    """Every table, index and trigger of the hub, in creation order (``devices`` before
    the trigger on it in :mod:`hub.db.schema_app`)."""
    return split(_RECORDS + _INTAKE + _EVENTS) + split(schema_app.SCRIPT)
