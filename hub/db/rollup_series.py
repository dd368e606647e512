"""A chart's series: the rollups, and the raw readings of the span they do not count yet.

Pages never write (the job refreshes the rollups every
:data:`hub.db.rollups.REFRESH_INTERVAL_S`), so a chart read between two passes
would miss the newest readings. :func:`series` therefore sums the rollup rows
before a cut, and after it the raw readings, bucketed by the very expressions
the refresh stores (so the figures are those a refresh would have given): the
cut is the earliest reading the rollups do not count yet (by their watermarks),
and never later than :data:`RAW_S` before the chart's end. A backlog older than
:data:`RAW_MAX_S` (the job catching up on a large store) is left to the job:
the series says it is not complete, as a page's budgeted refresh used to.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.db.rollups import COUNTED, MINUTE_AGGREGATES, SUM_AGGREGATES, hour_key, minute_key

#: The last hour is always read raw (the job's last pass may be a minute old).
RAW_S: Final = 3600
#: At most this much is read raw: about 60,000 readings of a 10 s probe.
RAW_MAX_S: Final = 7 * 24 * 3600

#: One row per minute of the raw readings, as ``hub.db.rollups`` stores ``rollup_minute``.
_RAW_MINUTES: Final = f"""
SELECT substr(start, 1, 16) AS bucket, {MINUTE_AGGREGATES}
FROM readings WHERE device = ? AND start >= ? AND start < ? AND {COUNTED}
GROUP BY substr(start, 1, 16)
"""
#: ... and per hour, as ``rollup_hour`` is summed from the minutes.
_RAW_HOURS: Final = f"""
SELECT substr(bucket, 1, 13) AS bucket, {SUM_AGGREGATES}
FROM ({_RAW_MINUTES}) GROUP BY substr(bucket, 1, 13)
"""
_COLUMNS: Final = "bucket, n, sum_mean, max_max, dose, saturated, cal_min, cal_max"


@dataclass(frozen=True, slots=True)
class Step:
    """Buckets summed over one chart step (``k``: steps since the series' start)."""

    k: int
    n: int
    mean_usv_h: float
    max_usv_h: float
    dose_usv: float
    saturated: bool
    calibrations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Series:
    steps: list[Step]
    complete: bool  # false: readings older than the raw span wait for the job


def pending_since(conn: sqlite3.Connection, device: str) -> float | None:
    """The start (epoch seconds) of the earliest counted-kind reading of ``device`` that the
    rollups do not count yet: above a journal's ``wm``, or in a gap below it whose reading
    count changed. None if they count everything. A read: no lock taken. Where no job runs
    (an app without the ingest, a benchmark), every chart scans the readings above the
    watermarks, within :data:`RAW_MAX_S` of its end."""
    earliest: float | None = None
    marks = conn.execute(
        "SELECT j.journal, m.done, m.wm, m.gap_rows FROM journals j"
        " LEFT JOIN rollup_marks m ON m.device = j.device AND m.journal = j.journal"
        " WHERE j.device = ?", [device]).fetchall()
    for journal, done, wm, gap_rows in marks:
        done, wm = int(done or 0), int(wm or 0)
        spans: list[tuple[int, int | None]] = [(wm, None)]
        if wm > done and int(conn.execute(
                "SELECT count(*) FROM readings WHERE device = ? AND journal = ? AND seq > ?"
                " AND seq <= ?", [device, journal, done, wm]).fetchone()[0]) != int(gap_rows or 0):
            spans.append((done, wm))
        for above, upto in spans:
            row = conn.execute(
                f"SELECT min(start) FROM readings WHERE device = ? AND journal = ? AND seq > ?"
                f" AND seq <= ? AND {COUNTED}",
                [device, journal, above, upto if upto is not None else 2**63 - 1]).fetchone()
            if row[0] is not None:
                at = datetime.fromisoformat(str(row[0])[:19]).replace(tzinfo=UTC).timestamp()
                earliest = at if earliest is None else min(earliest, at)
    return earliest


def series(conn: sqlite3.Connection, device: str, table: str, start_s: int, end_s: int,
           step_s: int) -> Series:
    """The buckets of ``[start_s, end_s)`` summed per ``step_s`` (a multiple of the bucket),
    in SQL: a quarter is about 2,200 hour rows in, a few hundred steps out."""
    name, suffix, key, raw = {"minute": ("rollup_minute", "", minute_key, _RAW_MINUTES),
                              "hour": ("rollup_hour", ":00", hour_key, _RAW_HOURS)}[table]
    cut_s, complete = end_s - RAW_S, True
    pending = pending_since(conn, device)
    if pending is not None and pending < cut_s:
        cut_s = max(int(pending), end_s - RAW_MAX_S)
        complete = cut_s <= max(int(pending), start_s)
    cut_s = max(cut_s, start_s)
    first, cut, last = key(start_s), key(cut_s), key(end_s - 1)
    rows = conn.execute(
        f"SELECT (CAST(strftime('%s', bucket || '{suffix}') AS INTEGER) - ?) / ? AS k,"
        f" sum(n), total(sum_mean), max(max_max), total(dose), max(saturated), min(cal_min),"
        f" max(cal_max) FROM ("
        f"SELECT {_COLUMNS} FROM {name} WHERE device = ? AND bucket >= ? AND bucket < ?"
        f" UNION ALL SELECT {_COLUMNS} FROM ({raw}))"
        f" GROUP BY k HAVING sum(n) > 0 AND k IS NOT NULL ORDER BY k",
        [start_s, step_s, device, first, cut, device, cut, last + ";"]).fetchall()
    steps = [
        Step(int(r[0]), int(r[1]), float(r[2]) / max(int(r[1]), 1), float(r[3]), float(r[4]),
             bool(r[5]), tuple(dict.fromkeys(c for c in (r[6], r[7]) if c is not None)))
        for r in rows
    ]
    return Series(steps, complete)
