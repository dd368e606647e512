"""The local journal: every exposure, alarm and reading, on disk before anything else.

SQLite in WAL mode through sqlite-utils. In durable mode (the default) every
write is committed with ``synchronous=FULL``, so a power cut never loses a
record that the agent acted on; the simulator opens a throwaway journal with
``durable=False``. An exposure is written when it opens and updated when it
closes, so one that was running when the agent died is found at the next
start and closed as *interrupted* with what is known (its start, and the last
time the agent was seen alive).

Each record carries ``clock_synced``: whether the system clock was
synchronised when it was stamped (1/0, NULL when unknown); an exposure or an
alarm is flagged if any of its times was stamped unsynchronised. A write that
fails leaves :attr:`Journal.error` set: the agent's watchdog stops and systemd
restarts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from edge_agent.clock import iso_utc
from edge_agent.errors import JournalError
from edge_agent.monitor.records import AlarmRecord, ExposureRecord, Reading

ToWall = Callable[[float], float]

SCHEMA_VERSION = 3

#: Columns added since the first journals, with their SQL type: added at open when missing.
_COLUMNS_ADDED = (
    ("exposures", "clock_synced", "INTEGER"),
    ("alarms", "clock_synced", "INTEGER"),
    ("readings", "clock_synced", "INTEGER"),
)

#: Exposure columns carried by a wire ExposureItem (besides seq, event, run, number).
_EXPOSURE_FIELDS = (
    "start", "end", "duration_s", "requested", "resumed", "procedure", "pulses", "doors_open",
    "emission_light_ok", "max_dose_rate_usv_h", "dose_usv", "saturated", "alarms", "calibration",
    "clock_synced",
)
_READING_FIELDS = (
    "start", "end", "counts", "seconds_covered", "cpm", "dose_usv", "mean_usv_h",
    "mean_sigma_usv_h", "max_usv_h", "max_sigma_usv_h", "calibration", "frames", "frames_lost",
)
_BOOLS = {"requested", "resumed", "emission_light_ok", "saturated", "clock_synced"}
_JSON_LISTS = {"doors_open", "alarms"}


#: ``clock_synced`` after a second stamp: 0 if either was unsynchronised, NULL if either unknown.
_BOTH_SYNCED = "CASE WHEN clock_synced = 0 OR ? = 0 THEN 0 ELSE min(clock_synced, ?) END"


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a new run of the agent found in the journal."""

    run: int
    interrupted_exposures: int
    interrupted_alarms: int
    interlock_latched: bool


class Journal:
    """The agent's journal (see the module docstring)."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._create()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
        self.run = 0
        #: The first write failure, if any (sticky: the agent reports itself unhealthy).
        self.error: str | None = None
        self.journal_id = self._journal_id()
        self._exposure_ids: dict[int, int] = {}
        self._alarm_ids: dict[int, int] = {}

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
                kind TEXT NOT NULL, item TEXT NOT NULL)"""
            )
            for table, column, kind in _COLUMNS_ADDED:
                have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )

    # -- runs ----------------------------------------------------------------------

    def start_run(self, wall: float) -> RunStart:
        """Open a new run; close what the previous one left open as interrupted."""
        last_alive = self.get_meta("last_alive_wall")
        alive = float(last_alive) if last_alive is not None else wall
        with self._write():
            open_exposures = [r[0] for r in self.db.execute(
                "SELECT id FROM exposures WHERE state = 'open' ORDER BY id").fetchall()]
            active_alarms = [r[0] for r in self.db.execute(
                "SELECT id FROM alarms WHERE state = 'active' ORDER BY id").fetchall()]
            self.db.execute(
                """UPDATE exposures SET state = 'interrupted', interrupted = 1,
                end_wall = max(start_wall, ?), end = ?, duration_s = max(start_wall, ?) - start_wall
                WHERE state = 'open'""",
                [alive, iso_utc(max(alive, 0.0)), alive],
            )
            self.db.execute("UPDATE alarms SET state = 'interrupted' WHERE state = 'active'")
            for row_id in open_exposures:
                self._queue_exposure(row_id, "interrupted")
            for row_id in active_alarms:
                self._queue_alarm(row_id, "interrupted")
            exposures, alarms = len(open_exposures), len(active_alarms)
            cursor = self.db.execute(
                "INSERT INTO runs (started, started_wall, pid) VALUES (?, ?, ?)",
                [iso_utc(wall), wall, os.getpid()],
            )
        self.run = int(cursor.lastrowid or 0)
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

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction; a failure is remembered (see :attr:`error`) and raised as
        :class:`JournalError`."""
        try:
            with self.db.conn:
                yield
        except sqlite3.Error as exc:
            self._failed(str(exc))
            raise JournalError(f"{self.path}: journal write failed: {exc}") from exc

    def _failed(self, reason: str) -> None:
        if self.error is None:
            self.error = reason

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

    # -- records -------------------------------------------------------------------

    def exposure_opened(
        self, e: ExposureRecord, to_wall: ToWall, calibration: str | None, *,
        clock_synced: bool | None = None,
    ) -> int:
        start = to_wall(e.start)
        with self._write():
            cursor = self.db.execute(
                """INSERT INTO exposures (run, number, state, start, start_wall, requested, resumed,
                procedure, calibration, clock_synced) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)""",
                [self.run, e.number, iso_utc(start), start, int(e.requested), int(e.resumed),
                 e.procedure, calibration, _flag(clock_synced)],
            )
            row_id = int(cursor.lastrowid or 0)
            self._queue_exposure(row_id, "opened")
        self._exposure_ids[e.number] = row_id
        return row_id

    def exposure_closed(
        self, e: ExposureRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> None:
        assert e.end is not None
        end = to_wall(e.end)
        synced = _flag(clock_synced)
        with self._write():
            self.db.execute(
                f"""UPDATE exposures SET state = 'closed', end = ?, end_wall = ?, duration_s = ?,
                pulses = ?, doors_open = ?, emission_light_ok = ?, max_dose_rate_usv_h = ?,
                dose_usv = ?, saturated = ?, alarms = ?, clock_synced = {_BOTH_SYNCED}
                WHERE run = ? AND number = ?""",
                [iso_utc(end), end, e.end - e.start, e.pulses, json.dumps(sorted(e.doors_open)),
                 int(e.emission_light_ok), e.max_dose_rate_usv_h, e.dose_usv, int(e.saturated),
                 json.dumps(sorted(e.alarms)), synced, synced, self.run, e.number],
            )
            self._queue_exposure(self._exposure_ids[e.number], "closed")

    def alarm_raised(
        self, a: AlarmRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> int:
        at, since = to_wall(a.at), to_wall(a.since)
        exposure = self._exposure_ids.get(a.exposure) if a.exposure is not None else None
        with self._write():
            cursor = self.db.execute(
                """INSERT INTO alarms (run, number, state, kind, subject, at, at_wall, since,
                since_wall, detail, exposure, clock_synced)
                VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [self.run, a.number, a.kind, a.subject, iso_utc(at), at, iso_utc(since), since,
                 a.detail, exposure, _flag(clock_synced)],
            )
            row_id = int(cursor.lastrowid or 0)
            self._queue_alarm(row_id, "raised")
        self._alarm_ids[a.number] = row_id
        return row_id

    def alarm_cleared(
        self, a: AlarmRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> None:
        assert a.cleared is not None
        cleared = to_wall(a.cleared)
        synced = _flag(clock_synced)
        with self._write():
            self.db.execute(
                f"""UPDATE alarms SET state = 'cleared', cleared = ?, cleared_wall = ?, detail = ?,
                clock_synced = {_BOTH_SYNCED} WHERE run = ? AND number = ?""",
                [iso_utc(cleared), cleared, a.detail, synced, synced, self.run, a.number],
            )
            self._queue_alarm(self._alarm_ids[a.number], "cleared")

    def reading(self, r: Reading, to_wall: ToWall, *, clock_synced: bool | None = None) -> int:
        start, end = to_wall(r.start), to_wall(r.end)
        row = {
            "run": self.run, "start": iso_utc(start), "start_wall": start, "end": iso_utc(end),
            "end_wall": end, "counts": r.counts, "seconds_covered": r.seconds_covered,
            "cpm": r.cpm, "dose_usv": r.dose_usv, "mean_usv_h": r.mean_usv_h,
            "mean_sigma_usv_h": r.mean_sigma_usv_h, "max_usv_h": r.max_usv_h,
            "max_sigma_usv_h": r.max_sigma_usv_h, "saturated": int(r.saturated),
            "calibration": r.calibration, "frames": r.frames, "frames_lost": r.frames_lost,
            "clock_synced": _flag(clock_synced),
        }
        with self._write():
            cursor = self.db.execute(
                f"INSERT INTO readings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_alive_wall', ?)", [repr(end)]
            )
            item = {key: row[key] for key in _READING_FIELDS}
            item.update(run=self.run, saturated=bool(r.saturated), clock_synced=clock_synced)
            self._queue("readings", item)
        return int(cursor.lastrowid or 0)

    # -- the outbox ------------------------------------------------------------------

    def _queue(self, kind: str, item: dict[str, Any]) -> None:
        """Add one record to the outbox, inside the caller's transaction."""
        self.db.execute(
            "INSERT INTO outbox (kind, item) VALUES (?, ?)",
            [kind, json.dumps(item, separators=(",", ":"))],
        )

    def _queue_exposure(self, row_id: int, event: str) -> None:
        row = self.db.execute("SELECT * FROM exposures WHERE id = ?", [row_id]).fetchone()
        names = [d[0] for d in self.db.execute("SELECT * FROM exposures LIMIT 0").description]
        record = dict(zip(names, row, strict=True))
        item: dict[str, Any] = {"event": event, "run": record["run"], "number": record["number"]}
        for key in _EXPOSURE_FIELDS:
            value = record[key]
            if key in _JSON_LISTS:
                value = json.loads(value) if value else []
            elif key in _BOOLS and value is not None:
                value = bool(value)
            item[key] = value
        self._queue("exposures", item)

    def _queue_alarm(self, row_id: int, event: str) -> None:
        row = self.db.execute(
            """SELECT a.run, a.number, a.kind, a.subject, a.at, a.since, a.cleared, a.detail,
            e.number, a.clock_synced FROM alarms a LEFT JOIN exposures e ON e.id = a.exposure
            WHERE a.id = ?""",
            [row_id],
        ).fetchone()
        keys = ("run", "number", "kind", "subject", "at", "since", "cleared", "detail", "exposure",
                "clock_synced")
        item: dict[str, Any] = {"event": event, **dict(zip(keys, row, strict=True))}
        item["detail"] = item["detail"] or ""
        if item["clock_synced"] is not None:
            item["clock_synced"] = bool(item["clock_synced"])
        self._queue("alarms", item)

    # -- reading back ----------------------------------------------------------------

    def exposures(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows("exposures", limit)

    def alarms(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows("alarms", limit)

    def outbox_state(self) -> dict[str, Any]:
        """The journal id, the last sequence number and how many records wait for the hub."""
        last = self.db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
        ).fetchone()
        waiting = self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return {"journal_id": self.journal_id, "last_seq": int(last[0]) if last else 0,
                "waiting": int(waiting)}

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
