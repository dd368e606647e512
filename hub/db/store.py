"""The hub's SQLite store: one writer, WAL, one transaction per ingest batch.

Opening it brings its schema up to date (:mod:`hub.db.migrations`; a store from a
newer hub is refused). Open it in the thread that will use it (sqlite3 refuses a
connection from another thread). ``synchronous=FULL``: an acknowledgement lets the agent
delete its records, so a commit must survive a power cut before the ack
leaves.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sqlite_utils

from hub.db import migrations, schema
from hub.db.connection import connect, insert_values, savepoint, write
from hub.errors import StoreError, StoreReplaced

#: Refused messages kept (oldest pruned first): a hostile flood must not fill the disk.
REJECTED_KEEP: Final = 100_000
TOPIC_MAX: Final = 300
HEAD_BYTES: Final = 512
#: The ingest's wait for another writer's lock.
BUSY_TIMEOUT_MS: Final = 30_000

_READING_COLS: Final = ("device", "site", "room", "journal", *schema.READING_FIELDS,
                         *schema.HUB_READING_FIELDS)
#: Values of one ``readings`` row.
READING_WIDTH: Final = len(_READING_COLS)


def _insert_sql(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"{verb} INTO {table} ({names}) VALUES ({marks})"


def _latest_wins_sql(table: str, columns: Sequence[str]) -> str:
    """Upsert on (device, journal, run, number); a row is replaced only by a later seq."""
    keep = {"device", "journal", "run", "number", "first_seen"}
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in keep)
    return (
        f"{_insert_sql(table, columns)} ON CONFLICT (device, journal, run, number) "
        f"DO UPDATE SET {sets} WHERE excluded.last_seq > {table}.last_seq"
    )


_SQL: Final = {
    "received": _insert_sql("received", ("device", "journal", "seq", "kind", "stored_at"),
                            "INSERT OR IGNORE"),
    "readings": _insert_sql("readings", _READING_COLS, "INSERT OR IGNORE"),
    "exposures": _latest_wins_sql("exposures", schema.EXPOSURE_COLUMNS),
    "alarms": _latest_wins_sql("alarms", schema.ALARM_COLUMNS),
}


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None for a memory store or a missing file."""
    if path == ":memory:":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


@dataclass(frozen=True, slots=True)
class OpenEvent:
    id: int
    kind: str
    device: str
    ref: str
    opened_at: str
    detail: dict[str, Any]


class Store:
    """Every write and start-up read of the ingest, on one connection."""

    def __init__(self, db: sqlite_utils.Database, path: str = ":memory:",
                 upgraded: tuple[int, int] | None = None) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path = path
        self._identity = _identity(path)
        #: (from, to) schema versions when this opening upgraded an existing store.
        self.upgraded = upgraded
        #: Called before each COMMIT: work for another thread while this one waits for disk.
        self.before_commit: Callable[[], None] | None = None

    @classmethod
    def over(cls, conn: sqlite3.Connection) -> Store:
        """The store's writes on a connection opened by :func:`connect` (a job's, a
        request's), in the caller's transaction. The connection stays as the caller
        made it: sqlite-utils would turn ``recursive_triggers`` on for good."""
        return cls(sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False))

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) the store at ``path``; ``:memory:`` for tests."""
        conn: sqlite3.Connection | None = None
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # The ingest waits for another writer (a page, a command, a job) rather than fail
            # its batch: 30 s, far below the agents' patience, above any such write.
            conn = connect(path, busy_timeout_ms=BUSY_TIMEOUT_MS, autocommit=False,
                           any_thread=False)
            found = migrations.check_version(conn, str(path))  # a newer one: not even WAL
            new = migrations.is_new(conn)
            db = sqlite_utils.Database(conn)
            if str(path) != ":memory:":
                db.enable_wal()
            db.execute("PRAGMA synchronous=FULL")
            applied = migrations.migrate(conn, str(path))
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"{path}: cannot open the store: {exc}") from None
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        return cls(db, str(path), (found, applied[-1]) if applied and not new else None)

    def check_still_mine(self) -> None:
        """Raise :class:`StoreReplaced` unless the file at :attr:`path` is still the one this
        store opened, and writable: an acknowledgement must never rest on a deleted file
        (its records die with the process) or on another copy."""
        if self._identity is None:
            return
        now = _identity(self.path)
        if now is None:
            raise StoreReplaced(f"{self.path}: the store file is gone")
        if now != self._identity:
            raise StoreReplaced(f"{self.path}: the store file was replaced by another file")
        if not os.access(self.path, os.W_OK):
            raise StoreReplaced(f"{self.path}: the store file can no longer be written")

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested, a savepoint (one message's writes, undone on error).

        The outer one is :func:`~hub.db.connection.write` (the write lock taken at BEGIN:
        a batch waits for a job's or a page's write instead of failing).
        """
        if self.conn.in_transaction:
            with savepoint(self.conn):
                yield
            return
        with write(self.conn):
            yield
            if self.before_commit is not None:
                self.before_commit()

    # -- records ---------------------------------------------------------------------------

    def insert_received(self, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        self.conn.executemany(_SQL["received"], rows)

    def insert_readings(self, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(_SQL["readings"], rows)

    def insert_readings_values(self, values: Sequence[Any]) -> None:
        """Rows one after another, in a few statements (:func:`insert_values`)."""
        insert_values(self.conn, _SQL["readings"], READING_WIDTH, values)

    def upsert_exposure(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(_SQL["exposures"], [row[c] for c in schema.EXPOSURE_COLUMNS])

    def upsert_alarm(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(_SQL["alarms"], [row[c] for c in schema.ALARM_COLUMNS])

    def upsert_live(self, device: str, site: str, room: str, payload: str, at: str) -> None:
        self.conn.execute(
            _insert_sql("live", ("device", "site", "room", "payload", "at"), "INSERT OR REPLACE"),
            (device, site, room, payload, at),
        )

    def insert_rejected(self, at: str, topic: str, reason: str, payload: bytes) -> None:
        self.conn.execute(
            "INSERT INTO rejected (received_at, topic, reason, size, payload_head)"
            " VALUES (?, ?, ?, ?, ?)",
            (at, topic[:TOPIC_MAX], reason[:1000], len(payload), bytes(payload[:HEAD_BYTES])),
        )

    def insert_quarantined(
        self, device: str, site: str, room: str, journal: str, seq: int, kind: str, at: str,
        reason: str, item: str, counted: bool, digest: str | None = None,
    ) -> None:
        """Keep a refused record whole, with its hash (``wire.chain``; None when JSON cannot
        hash it); a resend of it only updates ``counted``."""
        self.conn.execute(
            "INSERT INTO quarantine (device, site, room, journal, seq, kind, received_at,"
            " reason, item, counted, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device, journal, seq) DO UPDATE SET counted = max(counted,"
            " excluded.counted)",
            (device, site, room, journal, seq, kind, at, reason, item, int(counted), digest),
        )

    def count_quarantined(self, device: str, journal: str, seq: int) -> None:
        """A quarantined record waiting above the acknowledgement now counts as received."""
        self.conn.execute(
            "UPDATE quarantine SET counted = 1 WHERE device = ? AND journal = ? AND seq = ?",
            (device, journal, seq),
        )
        self.insert_received([(device, journal, seq, "quarantined", "")])

    def supersede_quarantined(self, device: str, journal: str, seq: int, at: str) -> None:
        """A valid copy of a waiting refused record arrived and is stored in its place."""
        self.conn.execute(
            "UPDATE quarantine SET replayed_at = ? WHERE device = ? AND journal = ? AND seq = ?"
            " AND replayed_at IS NULL", (at, device, journal, seq))

    def quarantined_waiting(self, device: str, journal: str, upto: int) -> set[int]:
        rows = self.conn.execute(
            "SELECT seq FROM quarantine WHERE device = ? AND journal = ? AND seq > ?"
            " AND counted = 0 AND replayed_at IS NULL", (device, journal, upto))
        return {int(r[0]) for r in rows}

    def pending_jumps(self) -> list[tuple[int, str, str, int, str, str]]:
        """(id, device, journal, oldest, accepted_by, reason) not applied yet."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT id, device, journal, oldest, accepted_by, reason FROM accepted_jumps"
            " WHERE applied_at IS NULL ORDER BY id")]

    def jump_applied(self, jump_id: int, at: str) -> None:
        self.conn.execute("UPDATE accepted_jumps SET applied_at = ? WHERE id = ?",
                          (at, jump_id))

    # -- registry --------------------------------------------------------------------------

    def upsert_devices(self, rows: Iterable[Mapping[str, Any]]) -> None:
        cols = ("device", "site", "room", "journal", "acked_upto", "last_seen", "online",
                "status_state", "status_at", "heartbeat_s", "agent")
        self.conn.executemany(
            _insert_sql("devices", cols, "INSERT OR REPLACE"), [[r[c] for c in cols] for r in rows]
        )

    def upsert_journals(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        """(device, journal, upto, started_at); started_at is kept from the first row."""
        self.conn.executemany(
            "INSERT INTO journals (device, journal, upto, started_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (device, journal) DO UPDATE SET upto = excluded.upto",
            rows,
        )

    def save_counters(self, counters: Mapping[str, int]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", counters.items()
        )

    # -- events ----------------------------------------------------------------------------

    def open_event(
        self, kind: str, device: str, site: str, room: str, ref: str, at: str,
        detail: Mapping[str, Any], severity: str = "warning",
    ) -> int:
        """Open an event, or return the one of (kind, device, ref) whose condition still holds."""
        row = self.conn.execute(
            "SELECT id FROM events WHERE kind = ? AND device = ? AND ref = ?"
            " AND condition_cleared_at IS NULL",
            (kind, device, ref),
        ).fetchone()
        if row is not None:
            return int(row[0])
        return self._insert_event(kind, device, site, room, ref, at, detail, severity, None, at)

    def _insert_event(
        self, kind: str, device: str, site: str, room: str, ref: str, opened_at: str,
        detail: Mapping[str, Any], severity: str, cleared_at: str | None, at: str,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO events (kind, device, site, room, ref, opened_at, state, detail,"
            " severity, condition_cleared_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
            (kind, device, site, room, ref, opened_at,
             json.dumps(detail, separators=(",", ":")), severity, cleared_at, at),
        )
        return int(cursor.lastrowid or 0)

    def clear_condition(self, event_id: int, at: str) -> None:
        """The event's condition ended (device back, gap filled): the PCR's state is kept."""
        self.conn.execute(
            "UPDATE events SET condition_cleared_at = ?, updated_at = ?"
            " WHERE id = ? AND condition_cleared_at IS NULL",
            (at, at, event_id),
        )

    def alarm_event(
        self, kind: str, device: str, site: str, room: str, ref: str, opened_at: str,
        detail: Mapping[str, Any], severity: str, cleared_at: str | None, at: str,
    ) -> int:
        """The one event of an edge alarm (``ref`` names it for ever): opened at its first
        record, whatever the order they arrive in; ``cleared_at`` ends its condition."""
        row = self.conn.execute(
            "SELECT id FROM events WHERE kind = ? AND device = ? AND ref = ?"
            " ORDER BY id DESC LIMIT 1",
            (kind, device, ref),
        ).fetchone()
        if row is None:
            return self._insert_event(kind, device, site, room, ref, opened_at, detail,
                                      severity, cleared_at, at)
        if cleared_at is not None:
            self.clear_condition(int(row[0]), cleared_at)
        return int(row[0])

    def count_event(
        self, kind: str, device: str, site: str, room: str, ref: str, at: str,
        detail: Mapping[str, Any], severity: str,
    ) -> int:
        """One event per (kind, device, ref) for ever, counting its occurrences (``count``
        and the last occurrence in ``detail``): e.g. one per device and day."""
        row = self.conn.execute(
            "SELECT id, detail FROM events WHERE kind = ? AND device = ? AND ref = ?"
            " ORDER BY id DESC LIMIT 1", (kind, device, ref)).fetchone()
        if row is None:
            return self._insert_event(kind, device, site, room, ref, at, {**detail, "count": 1},
                                      severity, at, at)
        try:
            count = int(json.loads(row[1]).get("count", 0)) + 1
        except (ValueError, TypeError, AttributeError):
            count = 1
        self.set_event_detail(int(row[0]), {**detail, "count": count}, at)
        return int(row[0])

    def set_event_detail(self, event_id: int, detail: Mapping[str, Any], at: str) -> None:
        self.conn.execute(
            "UPDATE events SET detail = ?, updated_at = ? WHERE id = ?",
            (json.dumps(detail, separators=(",", ":")), at, event_id),
        )

    def insert_signal_changes(self, rows: Iterable[tuple[str, str, str, int, str, str]]) -> None:
        """(device, at, signal, value, site, room): one row per input that changed."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO signal_changes (device, at, signal, value, site, room)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def prune_rejected(self, keep: int = REJECTED_KEEP) -> None:
        with self.transaction():
            self.conn.execute(
                "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?", (keep,)
            )

    # -- start-up reads --------------------------------------------------------------------

    def devices(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM devices"))

    def journals(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.conn.execute("SELECT device, journal, upto FROM journals")]

    def stored_above(self, device: str, journal: str, upto: int) -> set[int]:
        rows = self.conn.execute(
            "SELECT seq FROM received WHERE device = ? AND journal = ? AND seq > ?",
            (device, journal, upto),
        )
        return {int(r[0]) for r in rows}

    def open_events(self) -> list[OpenEvent]:
        """Events whose condition still holds (whatever the PCR did with them)."""
        rows = self.conn.execute(
            "SELECT id, kind, device, ref, opened_at, detail FROM events"
            " WHERE condition_cleared_at IS NULL ORDER BY id"
        )
        return [OpenEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def live_times(self) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self.conn.execute("SELECT device, at FROM live")}

    def live_inputs(self) -> dict[str, dict[str, bool]]:
        """Each device's last known inputs (from its stored live state)."""
        out: dict[str, dict[str, bool]] = {}
        for device, payload in self.conn.execute("SELECT device, payload FROM live"):
            try:
                state = json.loads(payload)
                inputs = {str(k): bool(v) for k, v in (state.get("inputs") or {}).items()}
                if state.get("interlock_open") is not None:
                    inputs["interlock_open"] = bool(state["interlock_open"])
            except (ValueError, AttributeError, TypeError):
                continue
            out[str(device)] = inputs
        return out

    def counters(self) -> dict[str, int]:
        return {str(r[0]): int(r[1]) for r in self.conn.execute("SELECT name, value FROM counters")}
