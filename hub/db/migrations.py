"""The store's numbered migrations, under ``PRAGMA user_version``.

The version a store is at is its ``user_version``; :data:`MIGRATIONS` lists the
steps after 0, in order. :func:`migrate` runs at start by whoever opens the
store for writing first (:meth:`hub.db.store.Store.open`: the ingest, the
command line, the web application's store preparation): each step missing is
applied in one transaction of its own (``BEGIN IMMEDIATE``), which also sets
``user_version``, so a step is either done and counted or not done at all; two
processes starting at once take turns, the second finding the work done. A
store whose version is higher than :data:`LATEST` was written by a newer hub:
it is refused (:class:`StoreTooNew`), never opened for writing.

Stores made before versions (``user_version`` 0) come in several vintages, each
made by the ad-hoc upgrades of its time (``ALTER TABLE ... ADD COLUMN`` when
``table_info`` lacked it, ``CREATE ... IF NOT EXISTS``, a table rebuilt, the day
rollups filled from the hours): step 1 does all of them, whatever the vintage,
and creates every table, index and trigger a store lacks (a new store is made by
it too). Every step is idempotent (a column is added only if missing): it runs
on a store that may already hold what a later ad-hoc upgrade or a newer table
definition gave it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

from hub.db import rollups, schema
from hub.db.chain_store import kept_hash
from hub.errors import StoreError
from hub.logs import log


class StoreTooNew(StoreError):
    """The store's schema version is newer than this hub knows: a newer hub wrote it."""


#: Record columns added before versions: (table, column, SQL type); NULL: unknown.
_RECORD_COLUMNS: Final = (
    ("readings", "clock_synced", "INTEGER"),
    ("exposures", "clock_synced", "INTEGER"),
    ("alarms", "clock_synced", "INTEGER"),
    ("readings", "clock_implausible", "INTEGER"),
    ("exposures", "clock_implausible", "INTEGER"),
    ("alarms", "clock_implausible", "INTEGER"),
)

#: Columns added to ``events`` after its PCR version, with their SQL definition.
_EVENT_COLUMNS: Final = (
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

#: A token made before scopes keeps doing what it did (``api``).
_TOKEN_SCOPE: Final = "TEXT NOT NULL DEFAULT 'api' CHECK (scope IN ('api', 'calendar'))"


def _exists(conn: sqlite3.Connection, kind: str, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?",
                        [kind, name]).fetchone() is not None


def add_column(conn: sqlite3.Connection, table: str, column: str, definition: str) -> None:
    """Add ``column`` to ``table`` if the table exists without it (idempotent)."""
    have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
    if have and column not in have:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _events_to_pcr(conn: sqlite3.Connection) -> None:
    """An ``events`` table of the first version allowed only ``open``/``closed`` (closed
    meaning the condition had ended): SQLite cannot change a CHECK, so it is rebuilt. Old
    ``closed`` rows keep their end as ``condition_cleared_at`` and become ``open``: no PCR
    ever reviewed them. (Before ``event_notes`` existed: no other table refers to it.)"""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"
                       " AND name = 'events'").fetchone()
    if row is None or "'acknowledged'" in str(row[0]):
        return
    conn.execute("ALTER TABLE events RENAME TO events_before_pcr")
    conn.execute(schema.EVENTS_TABLE.strip().rstrip(";"))
    conn.execute(
        "INSERT INTO events (id, kind, device, site, room, ref, opened_at, state, detail,"
        " condition_cleared_at, updated_at)"
        " SELECT id, kind, device, site, room, ref, opened_at, 'open', detail,"
        " CASE WHEN state = 'closed' THEN COALESCE(closed_at, opened_at) END,"
        " COALESCE(closed_at, opened_at) FROM events_before_pcr")
    conn.execute("DROP TABLE events_before_pcr")


def _to_1(conn: sqlite3.Connection) -> None:
    """Any store made before versions (or none: a new one) to the schema of #13."""
    had_hours = _exists(conn, "table", "rollup_hour")
    had_days = _exists(conn, "table", "rollup_day")
    _events_to_pcr(conn)
    for table, column, kind in _RECORD_COLUMNS:
        add_column(conn, table, column, kind)
    for column, definition in _EVENT_COLUMNS:
        add_column(conn, "events", column, definition)
    add_column(conn, "api_tokens", "scope", _TOKEN_SCOPE)
    conn.execute("DROP INDEX IF EXISTS idx_events_one_open")  # one ongoing, not one open
    for statement in schema.statements():
        conn.execute(statement)
    if had_hours and not had_days:  # a store made before the day rollup
        rollups.rebuild_days(conn)


def _to_2(conn: sqlite3.Connection) -> None:
    """The hash chain (issue 14): every record kept as received with its hash, the input
    change records, the conflicts and the breaks of the chain. Records stored before keep
    NULL there: they were received before the chain, their bytes are gone. A quarantined
    record was kept as received: its hash is taken from it (NULL when the chain cannot
    hash it), so that ``verify`` finds it as it is, not altered."""
    for column in ("hash", "prev", "body"):
        add_column(conn, "received", column, "TEXT")
    add_column(conn, "quarantine", "hash", "TEXT")
    kept = conn.execute("SELECT id, item FROM quarantine WHERE hash IS NULL")
    conn.executemany("UPDATE quarantine SET hash = ? WHERE id = ?",
                     [(kept_hash(item), qid) for qid, item in kept])
    for statement in (*schema.statements(), *schema.split(schema.CHAIN_INDEXES)):
        conn.execute(statement)


def _to_3(conn: sqlite3.Connection) -> None:
    """The French rules (issue 15): each point's declared zones and configured background
    (reports signed before keep their content, method 1: never recomputed); the
    verification calendar of the order of 23 October 2020 (the old types kept as legacy,
    read-only: :mod:`hub.db.migrate_calendar`); the ESR follow-up
    (:mod:`hub.db.migrate_events`)."""
    add_column(conn, "points", "declared_zones", "TEXT NOT NULL DEFAULT '{}'")
    add_column(conn, "points", "background_cpm", "REAL")
    # Imported here: those steps use add_column, from this module.
    from hub.db.migrate_calendar import calendar_to_3
    from hub.db.migrate_events import events_to_3

    calendar_to_3(conn)
    events_to_3(conn)
    for statement in schema.statements():
        conn.execute(statement)


def _to_4(conn: sqlite3.Connection) -> None:
    """The site's display names of its boxes, doors, lamps and points (issue 16)."""
    from hub.db.migrate_names import names_to_4

    names_to_4(conn)


def _to_5(conn: sqlite3.Connection) -> None:
    """The DICOM radiation dose reports received (issue 17): files, studies, irradiation
    events, refused files (:mod:`hub.db.migrate_rdsr`)."""
    from hub.db.migrate_rdsr import rdsr_to_5

    rdsr_to_5(conn)


def _to_6(conn: sqlite3.Connection) -> None:
    """Each imaging device that sends RDSRs and the room it maps to, for the clock offset
    and the reconciliation (issue 17, :mod:`hub.db.migrate_rdsr_devices`)."""
    from hub.db.migrate_rdsr_devices import devices_to_6

    devices_to_6(conn)


def _to_7(conn: sqlite3.Connection) -> None:
    """An imaging device's row made with its first file (a trigger), never by a page;
    the devices of the files stored before (:mod:`hub.db.migrate_rdsr_devices`)."""
    from hub.db.migrate_rdsr_devices import devices_to_7

    devices_to_7(conn)


def _to_8(conn: sqlite3.Connection) -> None:
    """The reconciliation with the RDSRs: the calendar's optional hours, the matches
    (issue 17, item 4, :mod:`hub.db.migrate_reconcile`)."""
    from hub.db.migrate_reconcile import reconcile_to_8

    reconcile_to_8(conn)


def _to_9(conn: sqlite3.Connection) -> None:
    """The ``clinical`` role, the patients' identities kept apart, the retention marks
    (issue 17, item 5, :mod:`hub.db.migrate_clinical`)."""
    from hub.db.migrate_clinical import clinical_to_9

    clinical_to_9(conn)


def _to_10(conn: sqlite3.Connection) -> None:
    """The operators' register and the names the RDSRs give, off until an admin turns
    it on (issue 17, item 6, :mod:`hub.db.migrate_operators`)."""
    from hub.db.migrate_operators import operators_to_10

    operators_to_10(conn)


#: (version, what it brings, the step): applied in order to a store below ``version``.
MIGRATIONS: Final[tuple[tuple[int, str, Callable[[sqlite3.Connection], None]], ...]] = (
    (1, "every table, index and trigger; the upgrades of the stores made before versions",
     _to_1),
    (2, "records kept as received with their hash; input changes; conflicts; chain breaks",
     _to_2),
    (3, "declared zones and background per point; the 2020 verification calendar; ESR"
        " follow-up", _to_3),
    (4, "the site's display names of its boxes, doors, lamps and points", _to_4),
    (5, "the DICOM radiation dose reports received: files, studies, irradiation events,"
        " refused files", _to_5),
    (6, "the imaging devices that send RDSRs and the room each maps to", _to_6),
    (7, "an imaging device's row made with its first file, never by a page", _to_7),
    (8, "the hours of a verification or a maintenance; the emissions matched to RDSR"
        " irradiation events", _to_8),
    (9, "the clinical role; the patients' identities kept apart; the retention marks",
     _to_9),
    (10, "the operators' register and the names the RDSRs give, off until an admin"
         " turns it on", _to_10),
)
LATEST: Final = MIGRATIONS[-1][0]


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection, where: str) -> int:
    """The store's version; :class:`StoreTooNew` if a newer hub wrote it."""
    found = version(conn)
    if found > LATEST:
        raise StoreTooNew(
            f"{where}: the store is at schema version {found}, newer than this hub knows"
            f" ({LATEST}): a newer hub wrote it. Run that hub (or a newer one), or restore"
            " a copy made by this one; it is not opened.")
    return found


def is_new(conn: sqlite3.Connection) -> bool:
    """Whether the store holds nothing yet: step 1 makes it (not an upgrade)."""
    return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0)


def migrate(conn: sqlite3.Connection, where: str = "store") -> list[int]:
    """Apply the missing steps, each in its own transaction; the versions applied.

    ``conn`` must be outside a transaction, in autocommit or legacy mode alike.
    """
    applied: list[int] = []
    found = check_version(conn, where)
    if found == LATEST:
        return applied
    fresh = is_new(conn)
    for number, _what, step in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have just done it.
            if check_version(conn, where) < number:
                step(conn)
                conn.execute(f"PRAGMA user_version = {number:d}")
                applied.append(number)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    if applied and not fresh:  # an upgrade, for the administrator; not the making of a store
        log("store_migrated", store=where, from_version=found, to_version=applied[-1])
    return applied
