"""The journal keeps itself small: old acknowledged records pruned, the WAL checkpointed, and a
reserve file that is given back when the disk is full.

Called from the agent's loop at a low rate (each job has its own period), on
the loop's own connection, so nothing here races the record writes.

- **Retention**: a reading, exposure, alarm, input change or chain hash older
  than ``[journal] retention_days`` is deleted once the hub has acknowledged it
  (the hub keeps the ten-year record); the last change of each signal (the next
  start compares the inputs with it) and the chain's last hash (the next
  record's ``prev``) stay. Whether a row is acknowledged is read from the outbox:
  nothing at or after the earliest time any waiting record names is touched,
  so a record the hub has not acknowledged stays whatever its age. With a
  large backlog (the hub away for long) pruning waits.
- **WAL**: ``wal_checkpoint(TRUNCATE)`` so that the WAL file does not stay at
  its largest size.
- **Reserve**: ``<journal>.reserve``, ``[journal] reserve_mb`` allocated at
  start. When a write fails for lack of space the agent deletes it, so that it
  can still journal ``journal_fault`` and what it held; it is made again only
  once the disk has room for twice its size (until then ``journal_fault``
  stays raised: the disk is still full but for the reserve).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any, Final

from edge_agent.journal import Journal
from edge_agent.logs import log

PRUNE_EVERY_S: Final = 3600.0
CHECKPOINT_EVERY_S: Final = 600.0
#: Pruning waits while more records than this wait for the hub (reading them would be slow).
PRUNE_MAX_BACKLOG: Final = 20_000
#: Most rows deleted by one pruning pass (the loop must not stall on a first, large prune).
PRUNE_BATCH: Final = 5000
_DAY_S: Final = 86400.0
#: Where each table keeps its record's time, and which rows stay whatever their age (a
#: record still changing; the last change of each signal, which the next start compares with).
_TABLES: Final = (
    ("readings", "end_wall", ""), ("exposures", "start_wall", " AND state != 'open'"),
    ("alarms", "at_wall", " AND state != 'active'"),
    ("changes", "last_wall", " AND id NOT IN (SELECT max(id) FROM changes GROUP BY signal)"),
    # The chain's hashes: never the last (the next record's prev is read from it).
    ("chain", "queued", " AND seq != (SELECT max(seq) FROM chain)"),
)


class JournalUpkeep:
    """Retention, checkpoints and the reserve file of one journal (see the module docstring)."""

    def __init__(self, journal: Journal, retention_days: float, reserve_mb: float,
                 now: float) -> None:
        self.journal = journal
        self.retention_s = retention_days * _DAY_S
        self.reserve_bytes = int(reserve_mb * 1024 * 1024)
        self.reserve_path = None if journal.path == ":memory:" else journal.path + ".reserve"
        self._next_prune = now + 60.0
        self._next_checkpoint = now + CHECKPOINT_EVERY_S
        self.pruned = 0

    # -- the reserve -------------------------------------------------------------------

    @property
    def reserve_held(self) -> bool:
        """Whether the reserve is in place (always, when there is none to keep)."""
        if self.reserve_path is None or self.reserve_bytes == 0:
            return True
        try:
            return os.path.getsize(self.reserve_path) >= self.reserve_bytes
        except OSError:
            return False

    def ensure_reserve(self) -> bool:
        """Make the reserve file if it is missing and the disk has room for twice its size;
        returns whether it is in place."""
        if self.reserve_held:
            return True
        assert self.reserve_path is not None
        try:
            disk = os.statvfs(os.path.dirname(os.path.abspath(self.reserve_path)))
            if disk.f_bavail * disk.f_frsize < 2 * self.reserve_bytes:
                return False
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self.reserve_path)
            log("journal_reserve_failed", logging.WARNING, path=self.reserve_path,
                error=exc.strerror or str(exc))
            return False
        log("journal_reserve_made", path=self.reserve_path, bytes=self.reserve_bytes)
        return True

    def release_reserve(self) -> bool:
        """Delete the reserve (the disk is full); returns whether that freed anything."""
        if self.reserve_path is None or not os.path.exists(self.reserve_path):
            return False
        try:
            size = os.path.getsize(self.reserve_path)
            os.unlink(self.reserve_path)
        except OSError as exc:
            log("journal_reserve_failed", logging.ERROR, path=self.reserve_path,
                error=exc.strerror or str(exc))
            return False
        log("journal_reserve_released", logging.WARNING, path=self.reserve_path, bytes=size)
        return size > 0

    # -- the periodic jobs ---------------------------------------------------------------

    def next_due(self) -> float:
        """When :meth:`step` next has work (monotonic seconds): the simulator plays frames
        in bursts up to it, never past."""
        return min(self._next_prune, self._next_checkpoint)

    def step(self, now: float, wall: float) -> None:
        """Run what is due at monotonic ``now`` (``wall``: UTC seconds, for the retention)."""
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            self.prune(wall)
        if now >= self._next_checkpoint:
            self._next_checkpoint = now + CHECKPOINT_EVERY_S
            self.checkpoint()
            self.ensure_reserve()  # if the disk had no room for it at start

    def checkpoint(self) -> bool:
        """Move the WAL into the database and truncate it; False if a reader kept it."""
        try:
            row = self.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            log("journal_checkpoint_failed", logging.WARNING, error=str(exc))
            return False
        return row is not None and int(row[0]) == 0

    def prune(self, wall: float) -> int:
        """Delete acknowledged records older than the retention (and their chain hashes);
        returns how many records."""
        db = self.journal.db
        try:
            if db.execute("SELECT count(*) FROM outbox").fetchone()[0] > PRUNE_MAX_BACKLOG:
                return 0
            if not any(db.execute(f"SELECT 1 FROM {table} WHERE {when} < ? LIMIT 1",
                                  [wall - self.retention_s]).fetchone()
                       for table, when, _ in _TABLES):
                return 0  # nothing past the retention: the outbox need not be read
            cutoff = min(wall - self.retention_s, self._oldest_waiting(db.conn))
            deleted = 0
            with db.conn:
                for table, when, kept in _TABLES:
                    key = "seq" if table == "chain" else "id"
                    gone = db.execute(
                        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE"
                        f" {when} < ?{kept} ORDER BY {key} LIMIT {PRUNE_BATCH})", [cutoff],
                    ).rowcount
                    deleted += gone if table != "chain" else 0  # records, not their hashes
        except sqlite3.Error as exc:
            log("journal_prune_failed", logging.WARNING, error=str(exc))
            return 0
        if deleted:
            self.pruned += deleted
            log("journal_pruned", records=deleted, retention_days=self.retention_s / _DAY_S)
        return deleted

    @staticmethod
    def _oldest_waiting(conn: sqlite3.Connection) -> float:
        """The earliest time named by a record still waiting for the hub (+inf: none); a
        record it cannot read protects everything."""
        oldest = float("inf")
        for (text,) in conn.execute("SELECT item FROM outbox"):
            try:
                item: Any = json.loads(text)
                times = [item[k] for k in ("start", "at", "since", "first")
                         if item.get(k) is not None]
                for stamp in times:
                    oldest = min(oldest, _seconds(stamp))
            except (ValueError, TypeError, AttributeError):
                return float("-inf")
        return oldest


def _seconds(stamp: str) -> float:
    """A wire timestamp to UTC seconds, to the whole second below (an earlier bound is safe)."""
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
