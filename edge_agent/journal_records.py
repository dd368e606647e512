"""The journal's records: each exposure, alarm, reading and input change, in its table and in
the outbox.

Each record becomes its wire item (:mod:`edge_agent.evidence`), with the
sequence number it gets, inside the transaction that journals it: one that
breaks the contract (:class:`~edge_agent.evidence.InvalidRecord`) writes
nothing. The items are built from what the monitor hands over; an exposure's
closing or an alarm's clearing repeats what was journaled at its opening
(kept in memory for the run), never a read-back of the row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from edge_agent.changes import ChangeRecord
from edge_agent.clock import iso_utc
from edge_agent.evidence import (
    alarm_cleared_item,
    alarm_raised_item,
    change_item,
    exposure_closed_item,
    exposure_opened_item,
    interrupted_alarm_item,
    interrupted_exposure_item,
    reading_item,
)
from edge_agent.journal_db import JournalDb
from edge_agent.monitor.records import AlarmRecord, ExposureRecord, Reading
from edge_agent.outbox import next_seq, queue
from wire.records import AlarmItem, ExposureItem

ToWall = Callable[[float], float]

#: ``clock_synced`` after a second stamp: 0 if either was unsynchronised, NULL if either unknown.
_BOTH_SYNCED = "CASE WHEN clock_synced = 0 OR ? = 0 THEN 0 ELSE min(clock_synced, ?) END"


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


class RecordWriter:
    """The record methods of :class:`edge_agent.journal.Journal` (which provides these)."""

    db: JournalDb
    run: int
    _exposure_ids: dict[int, int]
    _alarm_ids: dict[int, int]
    _opened: dict[int, tuple[ExposureItem, float]]
    _raised: dict[int, tuple[AlarmItem, float]]
    #: One transaction, all or nothing (the journal's).
    _write: Callable[[], contextlib.AbstractContextManager[None]]

    def _interrupt(self, alive: float, wall: float) -> tuple[int, int]:
        """Close what the previous run left open, at its last sign of life (never before an
        exposure's start), and queue each as ``interrupted``."""
        conn = self.db.conn
        exposures = list(self.db.query(
            "SELECT * FROM exposures WHERE state = 'open' ORDER BY id"))
        for row in exposures:
            end = max(row["start_wall"], alive)
            row.update(end=iso_utc(end), duration_s=end - row["start_wall"])
            self.db.execute(
                """UPDATE exposures SET state = 'interrupted', interrupted = 1, end_wall = ?,
                end = ?, duration_s = ? WHERE id = ?""",
                [end, row["end"], row["duration_s"], row["id"]],
            )
            queue(conn, "exposures", interrupted_exposure_item(next_seq(conn), row), wall)
        alarms = list(self.db.query(
            """SELECT a.*, e.number AS exposure_number FROM alarms a
            LEFT JOIN exposures e ON e.id = a.exposure WHERE a.state = 'active' ORDER BY a.id"""))
        self.db.execute("UPDATE alarms SET state = 'interrupted' WHERE state = 'active'")
        for row in alarms:
            item = interrupted_alarm_item(next_seq(conn), row, row["exposure_number"])
            queue(conn, "alarms", item, wall)
        return len(exposures), len(alarms)

    def _row_id(self, table: str, number: int) -> int | None:
        """The row of this run's exposure or alarm ``number``, if the journal has one."""
        row = self.db.execute(f"SELECT id FROM {table} WHERE run = ? AND number = ?",
                              [self.run, number]).fetchone()
        return None if row is None else int(row[0])

    def exposure_opened(
        self, e: ExposureRecord, to_wall: ToWall, calibration: str | None, *,
        clock_synced: bool | None = None,
    ) -> int:
        start = to_wall(e.start)
        with self._write():
            item = exposure_opened_item(next_seq(self.db.conn), self.run, e, start, calibration,
                                        clock_synced)
            row_id = self._insert_exposure(e, start, calibration, clock_synced)
            queue(self.db.conn, "exposures", item, start)
        self._exposure_ids[e.number] = row_id
        self._opened[e.number] = (item, start)
        return row_id

    def _insert_exposure(
        self, e: ExposureRecord, start: float, calibration: str | None, clock_synced: bool | None,
    ) -> int:
        cursor = self.db.execute(
            """INSERT INTO exposures (run, number, state, start, start_wall, requested, resumed,
            procedure, calibration, clock_synced) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)""",
            [self.run, e.number, iso_utc(start), start, int(e.requested), int(e.resumed),
             e.procedure, calibration, _flag(clock_synced)],
        )
        return int(cursor.lastrowid or 0)

    def exposure_closed(
        self, e: ExposureRecord, to_wall: ToWall, *, clock_synced: bool | None = None,
        calibration: str | None = None,
    ) -> None:
        """``calibration`` serves only if the exposure's opening was never journaled."""
        assert e.end is not None
        synced = _flag(clock_synced)
        known = self._opened.get(e.number)
        with self._write():
            seq = next_seq(self.db.conn)
            if known is None:  # its opening is not in the journal: the row is made now
                start = to_wall(e.start)
                known = (exposure_opened_item(seq, self.run, e, start, calibration, clock_synced),
                         start)
                self._exposure_ids[e.number] = self._row_id("exposures", e.number) or (
                    self._insert_exposure(e, start, calibration, clock_synced))
            opened, start = known
            end = max(to_wall(e.end), start)  # a wall clock stepped back: never before its start
            item = exposure_closed_item(seq, opened, e, end, clock_synced)
            self.db.execute(
                f"""UPDATE exposures SET state = 'closed', end = ?, end_wall = ?, duration_s = ?,
                pulses = ?, doors_open = ?, emission_light_ok = ?, max_dose_rate_usv_h = ?,
                dose_usv = ?, saturated = ?, alarms = ?, clock_synced = {_BOTH_SYNCED}
                WHERE run = ? AND number = ?""",
                [item.end, end, item.duration_s, e.pulses, json.dumps(item.doors_open),
                 int(e.emission_light_ok), e.max_dose_rate_usv_h, e.dose_usv, int(e.saturated),
                 json.dumps(item.alarms), synced, synced, self.run, e.number],
            )
            queue(self.db.conn, "exposures", item, end)
        self._opened.pop(e.number, None)

    def alarm_raised(
        self, a: AlarmRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> int:
        at, since = to_wall(a.at), to_wall(a.since)
        with self._write():
            item = alarm_raised_item(next_seq(self.db.conn), self.run, a, at, since, clock_synced)
            row_id = self._insert_alarm(a, at, since, clock_synced)
            queue(self.db.conn, "alarms", item, at)
        self._alarm_ids[a.number] = row_id
        self._raised[a.number] = (item, at)
        return row_id

    def _insert_alarm(
        self, a: AlarmRecord, at: float, since: float, clock_synced: bool | None
    ) -> int:
        exposure = self._exposure_ids.get(a.exposure) if a.exposure is not None else None
        cursor = self.db.execute(
            """INSERT INTO alarms (run, number, state, kind, subject, at, at_wall, since,
            since_wall, detail, exposure, clock_synced)
            VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [self.run, a.number, a.kind, a.subject, iso_utc(at), at, iso_utc(since), since,
             a.detail, exposure, _flag(clock_synced)],
        )
        return int(cursor.lastrowid or 0)

    def alarm_cleared(
        self, a: AlarmRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> None:
        assert a.cleared is not None
        synced = _flag(clock_synced)
        known = self._raised.get(a.number)
        with self._write():
            seq = next_seq(self.db.conn)
            if known is None:  # its raising is not in the journal: the row is made now
                at, since = to_wall(a.at), to_wall(a.since)
                known = (alarm_raised_item(seq, self.run, a, at, since, clock_synced), at)
                self._alarm_ids[a.number] = self._row_id("alarms", a.number) or (
                    self._insert_alarm(a, at, since, clock_synced))
            raised, at = known
            cleared = max(to_wall(a.cleared), at)
            item = alarm_cleared_item(seq, raised, a, cleared, clock_synced)
            self.db.execute(
                f"""UPDATE alarms SET state = 'cleared', cleared = ?, cleared_wall = ?, detail = ?,
                clock_synced = {_BOTH_SYNCED} WHERE run = ? AND number = ?""",
                [item.cleared, cleared, a.detail, synced, synced, self.run, a.number],
            )
            queue(self.db.conn, "alarms", item, cleared)
        self._raised.pop(a.number, None)

    def reading(self, r: Reading, to_wall: ToWall, *, clock_synced: bool | None = None) -> int:
        start = to_wall(r.start)
        end = start + (r.end - r.start)  # one clock offset for both ends
        with self._write():
            item = reading_item(next_seq(self.db.conn), self.run, r, start, end, clock_synced)
            row = {
                "run": self.run, "start": item.start, "start_wall": start, "end": item.end,
                "end_wall": end, "counts": r.counts, "seconds_covered": r.seconds_covered,
                "cpm": r.cpm, "dose_usv": r.dose_usv, "mean_usv_h": r.mean_usv_h,
                "mean_sigma_usv_h": r.mean_sigma_usv_h, "max_usv_h": r.max_usv_h,
                "max_sigma_usv_h": r.max_sigma_usv_h, "saturated": int(r.saturated),
                "calibration": r.calibration, "frames": r.frames, "frames_lost": r.frames_lost,
                "clock_synced": _flag(clock_synced),
            }
            cursor = self.db.execute(
                f"INSERT INTO readings ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_alive_wall', ?)", [repr(end)]
            )
            queue(self.db.conn, "readings", item, end)
        return int(cursor.lastrowid or 0)

    def change(
        self, c: ChangeRecord, to_wall: ToWall, *, clock_synced: bool | None = None
    ) -> int:
        """An input change (or a run of them) in the ``changes`` table and the outbox."""
        first = to_wall(c.first)
        last = first + (c.last - c.first)  # one clock offset for both ends
        with self._write():
            seq = next_seq(self.db.conn)
            item = change_item(seq, self.run, c, first, last, clock_synced)
            cursor = self.db.execute(
                """INSERT INTO changes (run, seq, signal, value, first, first_wall, last,
                last_wall, count, origin, by, clock_synced)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [self.run, seq, c.signal, int(c.value), item.first, first, item.last, last,
                 c.count, c.origin, c.by, _flag(clock_synced)],
            )
            queue(self.db.conn, "changes", item, last)
        return int(cursor.lastrowid or 0)
