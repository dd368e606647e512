"""The hub's tables: what the evidence looks like at rest.

``received`` is the exactly-once key of every record (any kind);
``readings`` holds each reading once; ``exposures`` and ``alarms`` hold the
latest state of each (device, journal, run, number), replaced only by a
later sequence number. ``rejected`` keeps the first bytes of every refused
message as a BLOB, never decoded. Times are ISO 8601 UTC strings.
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
    "saturated": int, "alarms": str, "calibration": str, "first_seen": str, "updated": str,
}
EXPOSURE_COLUMNS: Final = tuple(EXPOSURE_TYPES)

ALARM_TYPES: Final[dict[str, type]] = {
    **_KEY, "kind": str, "subject": str, "at": str, "since": str, "cleared": str,
    "detail": str, "exposure": int, "interrupted": int, "first_seen": str, "updated": str,
}
ALARM_COLUMNS: Final = tuple(ALARM_TYPES)

_FLOAT_READING = {"seconds_covered", "cpm", "dose_usv", "mean_usv_h", "mean_sigma_usv_h",
                  "max_usv_h", "max_sigma_usv_h"}
_TEXT_READING = {"start", "end", "calibration"}


def _reading_types() -> dict[str, type]:
    types: dict[str, type] = {"device": str, "site": str, "room": str, "journal": str}
    for name in READING_FIELDS:
        types[name] = float if name in _FLOAT_READING else str if name in _TEXT_READING else int
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
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    ref TEXT NOT NULL DEFAULT '',
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_events_one_open
    ON events (kind, device, ref) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS idx_events_device_opened ON events (device, opened_at);
CREATE INDEX IF NOT EXISTS idx_events_state ON events (state, kind);
"""


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
    db.conn.executescript(_EXTRA_DDL)
