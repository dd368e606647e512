"""The local journal: every exposure, alarm, reading and input change, on disk before anything else.

SQLite in WAL mode, plain ``sqlite3`` (:mod:`edge_agent.journal_db`). In
durable mode (the default) every write is committed with
``synchronous=FULL``, so a power cut never loses a record that the agent
acted on; the simulator opens a throwaway journal with ``durable=False``.
An exposure is written when it opens and updated when it closes, so one
that was running when the agent died is found at the next start and closed
as *interrupted* with what is known (its start, and the last time the agent
was seen alive). Every record is made into its wire item and
validated against the contract before anything is written
(:mod:`edge_agent.journal_records`); the outbox holds those items as sent,
each chained to the one before it by its hash (the ``chain`` table,
:func:`edge_agent.outbox.queue`).

Each record carries ``clock_synced``: whether the system clock was
synchronised when it was stamped (1/0, NULL when unknown); an exposure or an
alarm is flagged if any of its times was stamped unsynchronised. A write that
fails is rolled back whole and leaves :attr:`Journal.error` set until a write
succeeds again: the agent holds its records in memory meanwhile and raises
``journal_fault`` (:mod:`edge_agent.journal_hold`). A journal of the current
schema opens without writing, so that the agent starts on a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.clock import iso_utc
from edge_agent.errors import JournalError
from edge_agent.journal_db import JournalDb
from edge_agent.journal_records import RecordWriter
from edge_agent.logs import log
from edge_agent.outbox import oldest_record, repair
from wire.records import AlarmItem, ExposureItem

SCHEMA_VERSION = 5

#: Columns added since the first journals, with their SQL type: added at open when missing.
_COLUMNS_ADDED = (
    ("exposures", "clock_synced", "INTEGER"),
    ("alarms", "clock_synced", "INTEGER"),
    ("readings", "clock_synced", "INTEGER"),
    ("outbox", "queued", "REAL"),
)

def _is_full(exc: BaseException) -> bool:
    """Whether a write failed for lack of space (SQLITE_FULL, or ENOSPC from the OS)."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a new run of the agent found in the journal."""

    run: int
    interrupted_exposures: int
    interrupted_alarms: int
    interlock_latched: bool


class Journal(RecordWriter):
    """The agent's journal (see the module docstring; its records: :class:`RecordWriter`)."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path)
            self.db = JournalDb(conn)
            if self._current_schema():  # nothing to write: opens on a full disk too
                self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            else:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._create()
            self.journal_id = self._journal_id()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
        self.run = 0
        #: Why the last write failed; None once a write succeeds (the agent's journal_fault).
        self.error: str | None = None
        #: Whether that failure was for lack of space (the reserve file is released then).
        self.full = False
        self._exposure_ids: dict[int, int] = {}
        self._alarm_ids: dict[int, int] = {}
        #: Open exposures and active alarms of this run as journaled (item, first wall time):
        #: their closing records repeat what was journaled then.
        self._opened: dict[int, tuple[ExposureItem, float]] = {}
        self._raised: dict[int, tuple[AlarmItem, float]] = {}

    def _current_schema(self) -> bool:
        """Whether the file is a WAL journal of this schema already (then opening writes
        nothing, so that the agent starts on a full disk and runs degraded)."""
        try:
            mode = self.db.execute("PRAGMA journal_mode").fetchone()
            return mode is not None and str(mode[0]).lower() == "wal" and self.get_meta(
                "schema_version") == str(SCHEMA_VERSION) and self.get_meta("journal_id") is not None
        except sqlite3.Error:
            return False

    def _journal_id(self) -> str:
        """A random id made once per journal: a new journal is a new sequence space."""
        found = self.get_meta("journal_id")
        if found is not None:
            return found
        with self.db.conn:
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('journal_id', ?)", [uuid.uuid4().hex]
            )
        return str(self.get_meta("journal_id"))

    def _create(self) -> None:
        with self.db.conn:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started TEXT NOT NULL,
                started_wall REAL NOT NULL, stopped TEXT, pid INTEGER)"""
            )
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS exposures (
                id INTEGER PRIMARY KEY, run INTEGER NOT NULL, number INTEGER NOT NULL,
                state TEXT NOT NULL, start TEXT NOT NULL,
                start_wall REAL NOT NULL, end TEXT, end_wall REAL, duration_s REAL,
                requested INTEGER NOT NULL, resumed INTEGER NOT NULL DEFAULT 0,
                interrupted INTEGER NOT NULL DEFAULT 0, procedure INTEGER, pulses INTEGER,
                doors_open TEXT NOT NULL DEFAULT '[]', emission_light_ok INTEGER,
                max_dose_rate_usv_h REAL, dose_usv REAL, saturated INTEGER, alarms TEXT,
                calibration TEXT, UNIQUE (run, number))"""
            )
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS alarms (
                id INTEGER PRIMARY KEY, run INTEGER NOT NULL, number INTEGER NOT NULL,
                state TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT,
                at TEXT NOT NULL, at_wall REAL NOT NULL,
                since TEXT NOT NULL, since_wall REAL NOT NULL,
                cleared TEXT, cleared_wall REAL, detail TEXT, exposure INTEGER,
                UNIQUE (run, number))"""
            )
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS readings (
                id INTEGER PRIMARY KEY, run INTEGER NOT NULL,
                start TEXT NOT NULL, start_wall REAL NOT NULL,
                end TEXT NOT NULL, end_wall REAL NOT NULL,
                counts INTEGER NOT NULL, seconds_covered REAL NOT NULL, cpm REAL, dose_usv REAL,
                mean_usv_h REAL, mean_sigma_usv_h REAL, max_usv_h REAL, max_sigma_usv_h REAL,
                saturated INTEGER NOT NULL, calibration TEXT NOT NULL, frames INTEGER NOT NULL,
                frames_lost INTEGER NOT NULL)"""
            )
            # The outbox: what still has to reach the hub, in order. AUTOINCREMENT so that a
            # sequence number is never reused once acknowledged rows are deleted.
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL, item TEXT NOT NULL, queued REAL)"""
            )
            # Every input change, a run of a pulse train as one row (edge_agent.changes).
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS changes (
                id INTEGER PRIMARY KEY, run INTEGER NOT NULL, seq INTEGER, signal TEXT NOT NULL,
                value INTEGER NOT NULL, first TEXT NOT NULL, first_wall REAL NOT NULL,
                last TEXT NOT NULL, last_wall REAL NOT NULL, count INTEGER NOT NULL,
                origin TEXT NOT NULL, by TEXT, clock_synced INTEGER)"""
            )
            # The hash of each record as queued (edge_agent.outbox.queue): the chain's head
            # and what --verify-against compares with the hub's export.
            self.db.execute(
                """CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                hash TEXT NOT NULL, queued REAL)"""
            )
            for table, column, kind in _COLUMNS_ADDED:
                have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            # Rows older agents queued, made valid where that is certain (edge_agent.outbox).
            fixed = repair(self.db.conn)
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
        if fixed.numbered or fixed.repaired or fixed.invalid:
            log("outbox_upgraded", numbered=fixed.numbered, repaired=fixed.repaired,
                invalid=fixed.invalid)

    # -- runs ----------------------------------------------------------------------

    def start_run(self, wall: float) -> RunStart:
        """Open a new run; close what the previous one left open as interrupted.

        The run's number is settled before anything is written, so that an agent started
        on a full disk knows it (it holds its records under it) and calls this again."""
        first = not self.run
        if first:
            self.run = int(self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM runs")
                           .fetchone()[0])
        if self.db.execute("SELECT 1 FROM runs WHERE id = ?", [self.run]).fetchone():
            self.alive(wall)  # written already: a retry after the alive check failed
            return RunStart(self.run, 0, 0, self.get_meta("interlock_latched") == "1")
        last_alive = self.get_meta("last_alive_wall")
        alive = float(last_alive) if last_alive is not None else wall
        try:
            with self._write():
                exposures, alarms = self._interrupt(alive, wall)
                self.db.execute(
                    "INSERT INTO runs (id, started, started_wall, pid) VALUES (?, ?, ?, ?)",
                    [self.run, iso_utc(wall), wall, os.getpid()],
                )
        except JournalError:
            if first:  # unwritten, max(id) + 1 would be chosen again by a restart on the
                # same full disk, and its alarms would share (run, number) with this one's:
                # the start's own second is a number no other start takes
                self.run = max(self.run, int(wall))
            raise
        self.alive(wall)
        return RunStart(self.run, exposures, alarms, self.get_meta("interlock_latched") == "1")

    def stop_run(self, wall: float) -> None:
        with self._write():
            self.db.execute("UPDATE runs SET stopped = ? WHERE id = ?", [iso_utc(wall), self.run])

    def alive(self, wall: float) -> None:
        """Remember that the agent was alive at ``wall`` (the end of an interrupted exposure).

        Read back at once: the agent's periodic write-and-read check of the journal."""
        with self._write():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('last_alive_wall', ?)",
                            [repr(wall)])
        if self.get_meta("last_alive_wall") != repr(wall):
            self._failed("last_alive_wall did not read back")
            raise JournalError(f"{self.path}: a write did not read back")

    @property
    def healthy(self) -> bool:
        return self.error is None

    @property
    def writes(self) -> int:
        """Rows written through this connection since it opened (SQLite's ``total_changes``):
        it moves with every record, so the loop wakes the publisher only when one was made."""
        return self.db.conn.total_changes

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, all or nothing: a failure (even of the COMMIT, which leaves the
        transaction open on a full disk) is rolled back, remembered in :attr:`error` and
        raised as :class:`JournalError`, so the agent may write the same record again."""
        try:
            with self.db.conn:
                if not self.db.conn.in_transaction:  # else sqlite-utils commits each statement
                    self.db.conn.execute("BEGIN IMMEDIATE")
                yield
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error):
                if self.db.conn.in_transaction:
                    self.db.conn.rollback()
            self._failed(str(exc), full=_is_full(exc))
            raise JournalError(f"{self.path}: journal write failed: {exc}") from exc
        self.error, self.full = None, False

    def _failed(self, reason: str, *, full: bool = False) -> None:
        self.error, self.full = reason, full

    def quick_check(self) -> str:
        """``PRAGMA quick_check``: ``ok`` or the first problem (reads every page: not in the
        loop)."""
        row = self.db.execute("PRAGMA quick_check(1)").fetchone()
        return str(row[0]) if row else "no answer"

    def size_bytes(self) -> int:
        """The journal file and its WAL, in bytes (0 for an in-memory journal)."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # -- reading back ----------------------------------------------------------------

    def exposures(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows("exposures", limit)

    def alarms(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows("alarms", limit)

    def outbox_state(self) -> dict[str, Any]:
        """The journal id, the last sequence number, how many records wait for the hub and
        the oldest of them (its seq, kind and queued wall time, None when unknown)."""
        last = self.db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
        ).fetchone()
        waiting = self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        oldest = oldest_record(self.db.conn)
        return {"journal_id": self.journal_id, "last_seq": int(last[0]) if last else 0,
                "waiting": int(waiting),
                "oldest": None if oldest is None else {
                    "seq": oldest.seq, "kind": oldest.kind, "queued": oldest.queued}}

    def changes(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows("changes", limit)

    def last_inputs(self) -> dict[str, bool]:
        """The last value journaled for each signal (retention keeps each one's last row).

        A journal that cannot be read here gives none: every input then gets its start
        record (one record too many, never an agent that does not start)."""
        try:
            rows = self.db.execute(
                "SELECT signal, value FROM changes WHERE id IN"
                " (SELECT max(id) FROM changes GROUP BY signal)").fetchall()
        except sqlite3.Error as exc:
            log("journal_inputs_unread", logging.WARNING, error=str(exc))
            return {}
        return {str(signal): bool(value) for signal, value in rows}

    def chain_head(self) -> tuple[int, str] | None:
        """The last chained record's sequence number and hash (None before the first)."""
        row = self.db.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def readings_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM readings").fetchone()[0])

    def _rows(self, table: str, limit: int | None) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM {table} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = list(self.db.query(sql))
        rows.reverse()
        return rows

    def close(self) -> None:
        self.db.close()
