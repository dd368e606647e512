"""Generated readings for the report tests, written straight into the store by SQL (fast).

``fill(conn, device, start_s, end_s, step_s, usv_h)`` writes one reading every
``step_s`` seconds (``seconds_covered = step_s``, ``dose_usv = usv_h * step_s / 3600``)
with consecutive sequence numbers, skipping ``holes`` (epoch ranges); the journal's
``upto`` is the end of the contiguous prefix, as the ingest would have it.
``clock_synced`` is left NULL (an agent that did not say) unless given: 0 marks readings
stamped by a clock that was not synchronised.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from hub.db.connection import write
from hub.timefmt import iso
from hub.workdays import PARIS

SITE = "chu-nord"
JOURNAL = "0123456789abcdef0123456789abcdef"


def paris(*args: int) -> int:
    return int(datetime(*args, tzinfo=PARIS).timestamp())  # type: ignore[misc]


def device(conn: sqlite3.Connection, name: str, room: str, first_seen: float) -> None:
    with write(conn):
        conn.execute("INSERT OR IGNORE INTO devices (device, site, room, journal, acked_upto,"
                     " last_seen, online) VALUES (?, ?, ?, ?, 0, ?, 1)",
                     [name, SITE, room, JOURNAL, iso(first_seen)])
        conn.execute("INSERT OR IGNORE INTO journals (device, journal, upto, started_at)"
                     " VALUES (?, ?, 0, ?)", [name, JOURNAL, iso(first_seen)])


_INSERT = """
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < :n)
INSERT INTO readings (device, site, room, journal, seq, run, start, "end", counts,
    seconds_covered, cpm, dose_usv, mean_usv_h, mean_sigma_usv_h, max_usv_h, max_sigma_usv_h,
    saturated, calibration, frames, frames_lost, clock_synced)
SELECT :device, :site, :room, :journal, :seq0 + i, 1,
       strftime('%Y-%m-%dT%H:%M:%S.000Z', :t0 + i * :step, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%S.000Z', :t0 + (i + 1) * :step, 'unixepoch'),
       CAST(:usv_h * 2.5 * :step AS INTEGER), :step, :usv_h * 150, :usv_h * :step / 3600.0,
       :usv_h, 0.01, :peak, 0.02, 0, 'sbm20/Cs-137', 10, 0, :clock_synced
FROM s
"""


def fill(conn: sqlite3.Connection, name: str, start_s: int, end_s: int, step_s: int,
         usv_h: float, *, seq0: int | None = None, peak: float | None = None,
         upto: bool = True, clock_synced: int | None = None) -> int:
    """Readings of ``name`` over [start_s, end_s) at ``usv_h``; returns the last seq."""
    row = conn.execute("SELECT site, room FROM devices WHERE device = ?", [name]).fetchone()
    if seq0 is None:
        seq0 = int(conn.execute("SELECT coalesce(max(seq), 0) FROM readings WHERE device = ?",
                                [name]).fetchone()[0]) + 1
    n = (end_s - start_s) // step_s
    with write(conn):
        conn.execute(_INSERT, {"n": n, "device": name, "site": row[0], "room": row[1],
                               "journal": JOURNAL, "seq0": seq0, "t0": start_s, "step": step_s,
                               "usv_h": usv_h, "peak": usv_h * 2 if peak is None else peak,
                               "clock_synced": clock_synced})
        if upto:
            conn.execute("UPDATE journals SET upto = max(upto, ?) WHERE device = ?",
                         [seq0 + n - 1, name])
    return seq0 + n - 1


def set_upto(conn: sqlite3.Connection, name: str, upto: int) -> None:
    with write(conn):
        conn.execute("UPDATE journals SET upto = ? WHERE device = ?", [upto, name])


def exposure(conn: sqlite3.Connection, name: str, number: int, start_s: float,
             clock_synced: int | None = None) -> None:
    with write(conn):
        conn.execute("INSERT INTO exposures (device, site, room, journal, run, number, last_seq,"
                     " event, state, start, clock_synced) VALUES (?, ?, (SELECT room FROM"
                     " devices WHERE device = ?), ?, 1, ?, 1, 'closed', 'closed', ?, ?)",
                     [name, SITE, name, JOURNAL, number, iso(start_s), clock_synced])
