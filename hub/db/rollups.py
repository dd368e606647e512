"""Dose-rate rollups: per-device 1-minute, 1-hour and 1-day aggregates of ``readings``.

A quarter of 10 s readings is about 780,000 rows per room: no page may scan
them. The hub keeps two tables beside the ingest's, keyed by (device, bucket),
a bucket being the UTC minute (``2026-01-05T07:03``) or hour
(``2026-01-05T07``) of the reading's ``start``, and a third keyed by the
**Paris** day (``2026-01-05``: 23, 24 or 25 UTC hours, Paris offsets being
whole hours), the day of the PCR's reports, summed from the hours:

``n`` readings, ``seconds`` covered, ``sum_mean`` (of ``mean_usv_h``; the mean
is ``sum_mean / n``), ``max_mean``, ``max_max`` (of ``max_usv_h``), ``dose``
(sum of ``dose_usv``), ``saturated`` (any), ``cal_min``/``cal_max`` (the
calibration names seen: equal unless it changed within the bucket).

They are maintained incrementally, without touching the ingest, from a
watermark per (device, journal) in ``rollup_marks``:

- ``done``: every reading of that journal with ``seq <= done`` is counted, and
  no reading can still arrive below it (``done <= journals.upto``, the
  acknowledged contiguous prefix);
- ``wm``: the highest ``seq`` counted; between ``done`` and ``wm`` lies a
  sequence gap (records that arrived early), whose reading count is kept in
  ``gap_rows``: when that count changes, the gap has been (partly) filled and
  those readings are counted again.

A refresh finds the minute buckets the new readings fall in and *recomputes*
them (and their hours and Paris days) from ``readings`` through its ``(device, start)``
index: recomputing is idempotent, so a reading seen twice is never counted
twice. Work is cut into transactions of at most ``chunk`` new readings, so the
ingest never waits long for the write lock. The job (:mod:`hub.jobs`) refreshes them every
:data:`REFRESH_INTERVAL_S`; the tables are in :mod:`hub.db.schema_app`.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from hub.db.connection import write
from hub.workdays import PARIS
from wire.records import MAX_DOSE_RATE_USV_H, MAX_DOSE_USV, MAX_READING_S

#: New readings per transaction, at most.
CHUNK: Final = 20_000
#: How often the job (:mod:`hub.jobs`) brings every rollup up to date: a page reads the
#: raw readings of the span the rollups do not cover yet (:mod:`hub.db.rollup_series`).
REFRESH_INTERVAL_S: Final = 60
#: Hours further apart than this are recomputed as separate ranges.
CLUSTER_GAP_H: Final = 2

#: The readings a rollup counts: those whose start is a real instant (a hub older than the
#: contract's checks stored 2026-02-30 or hour 25 as sent; SQLite's julianday() moves
#: 02-30 to 03-02 and refuses hour 25, so the text comes back changed or not at all).
#: Nor those the ingest flagged ``clock_implausible`` (stamped far from their receipt: kept
#: and shown, listed as excluded by the reports, never counted in a chart or a zone).
COUNTED: Final = ("start >= '0001' AND strftime('%Y-%m-%dT%H:%M:%S',"
                  " julianday(substr(start, 1, 19))) = substr(start, 1, 19)"
                  " AND clock_implausible IS NOT 1")
#: A minute's figures from its readings, and an hour's or a day's from the rows below it:
#: written once, for the refresh that stores them and for the charts that sum the readings
#: not counted yet (:mod:`hub.db.rollup_series`), so both give the same figures.
#: Each value is counted at most at the contract's bound (an older hub stored up to 1e308:
#: two of them would sum to infinity); ``min`` keeps a null (no data) null.
MINUTE_AGGREGATES: Final = f"""count(mean_usv_h) AS n,
       total(min(seconds_covered, {MAX_READING_S!r})) AS seconds,
       total(min(mean_usv_h, {MAX_DOSE_RATE_USV_H!r})) AS sum_mean,
       coalesce(max(min(mean_usv_h, {MAX_DOSE_RATE_USV_H!r})), 0) AS max_mean,
       coalesce(max(min(max_usv_h, {MAX_DOSE_RATE_USV_H!r})), 0) AS max_max,
       total(min(dose_usv, {MAX_DOSE_USV!r})) AS dose, max(saturated) AS saturated,
       min(calibration) AS cal_min, max(calibration) AS cal_max"""
SUM_AGGREGATES: Final = """sum(n) AS n, total(seconds) AS seconds,
       total(sum_mean) AS sum_mean, max(max_mean) AS max_mean, max(max_max) AS max_max,
       total(dose) AS dose, max(saturated) AS saturated, min(cal_min) AS cal_min,
       max(cal_max) AS cal_max"""
_MINUTE_SQL: Final = f"""
INSERT OR REPLACE INTO rollup_minute
SELECT device, substr(start, 1, 16), {MINUTE_AGGREGATES}
FROM readings WHERE device = ? AND start >= ? AND start < ? AND {COUNTED}
GROUP BY substr(start, 1, 16)
"""
_HOUR_SQL: Final = f"""
INSERT OR REPLACE INTO rollup_hour
SELECT device, substr(bucket, 1, 13), {SUM_AGGREGATES}
FROM rollup_minute WHERE device = ? AND bucket >= ? AND bucket < ?
GROUP BY substr(bucket, 1, 13)
"""
_DAY_SQL: Final = f"""
INSERT OR REPLACE INTO rollup_day
SELECT device, ?, {SUM_AGGREGATES}
FROM rollup_hour WHERE device = ? AND bucket >= ? AND bucket < ?
GROUP BY device
"""


def rebuild_days(conn: sqlite3.Connection, device: str | None = None) -> None:
    """Recompute every day of ``device`` (every device if None) from its hours: for a
    store made before the day rollup, or whose hours were written by other means
    (the benchmark's generator). Call it in a transaction."""
    devices = [device] if device is not None else [
        str(r[0]) for r in conn.execute("SELECT DISTINCT device FROM rollup_hour").fetchall()]
    for name in devices:
        hours = [str(r[0]) for r in conn.execute(
            "SELECT bucket FROM rollup_hour WHERE device = ?", [name])]
        _recompute_days(conn, name, hours)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rollup row, as read back."""

    bucket: str
    n: int
    seconds: float
    mean_usv_h: float
    max_mean_usv_h: float
    max_usv_h: float
    dose_usv: float
    saturated: bool
    calibrations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refreshed:
    examined: int  # readings looked at
    complete: bool  # false: stopped at ``limit``, more to do


def refresh(conn: sqlite3.Connection, device: str | None = None, *, chunk: int = CHUNK,
            limit: int | None = None, pace: Callable[[], None] | None = None) -> Refreshed:
    """Bring the rollups of ``device`` (every device if None) up to date.

    ``limit``: stop after about that many readings (the job's pass never holds its
    thread long; the next call goes on from there). Only the job and the report's
    preparation call it (a GET never writes: pages read the span not yet counted from
    the raw readings, :mod:`hub.db.rollup_series`).

    ``pace``: called after each write transaction (one per device and chunk), the write
    lock free: the job's :class:`~hub.db.connection.WritePace` pauses there. Without it
    the ingest, waiting for the lock, never found it free between a thousand rooms'
    back-to-back transactions (issue 18: an alarm stored a second late once a minute).
    """
    if device is None:
        devices = [str(r[0]) for r in conn.execute("SELECT DISTINCT device FROM journals")]
    else:
        devices = [device]
    examined = 0
    for name in devices:
        while _stale(conn, name):
            if limit is not None and examined >= limit:
                return Refreshed(examined, False)
            with write(conn):
                seen, more = _step(conn, name, chunk)
            if pace is not None:
                pace()
            examined += seen
            if not more and not seen:
                break
    return Refreshed(examined, True)


def _step(conn: sqlite3.Connection, device: str, chunk: int) -> tuple[int, bool]:
    """One transaction: at most ``chunk`` new readings of ``device``; (examined, more left)."""
    minutes: set[str] = set()
    budget, examined, more = chunk, 0, False
    journals = conn.execute("SELECT journal, upto FROM journals WHERE device = ?",
                            [device]).fetchall()
    for journal, upto in journals:
        mark = conn.execute("SELECT done, wm, gap_rows FROM rollup_marks"
                            " WHERE device = ? AND journal = ?", [device, journal]).fetchone()
        done, wm, between = (int(mark[0]), int(mark[1]), int(mark[2])) if mark else (0, 0, 0)
        if wm > done and _count(conn, device, journal, done, wm) != between:
            rows = conn.execute(
                "SELECT DISTINCT substr(start, 1, 16) FROM readings"
                " WHERE device = ? AND journal = ? AND seq > ? AND seq <= ?",
                [device, journal, done, wm]).fetchall()
            minutes.update(str(r[0]) for r in rows)
            examined += len(rows)
        new_wm = wm
        if budget > 0:
            rows = conn.execute(
                "SELECT seq, substr(start, 1, 16) FROM readings"
                " WHERE device = ? AND journal = ? AND seq > ? ORDER BY seq LIMIT ?",
                [device, journal, wm, budget]).fetchall()
            if rows:
                new_wm = int(rows[-1][0])
                minutes.update(str(r[1]) for r in rows)
                examined += len(rows)
                budget -= len(rows)
                more = more or budget <= 0
        else:
            more = True
        # Every stored reading up to new_wm is now counted, and none can arrive at or
        # below upto (the contiguous acknowledged prefix): nothing below new_done ever will.
        new_done = max(done, min(int(upto), new_wm))
        new_between = _count(conn, device, journal, new_done, new_wm) if new_wm > new_done else 0
        if mark is None or (new_done, new_wm, new_between) != (done, wm, between):
            conn.execute("INSERT OR REPLACE INTO rollup_marks VALUES (?, ?, ?, ?, ?)",
                         [device, journal, new_done, new_wm, new_between])
    _recompute(conn, device, minutes)
    return examined, more


def _stale(conn: sqlite3.Connection, device: str) -> bool:
    """Whether ``device`` has readings not counted yet (a read: no write lock taken)."""
    rows = conn.execute(
        "SELECT j.journal, j.upto, m.done, m.wm, m.gap_rows FROM journals j"
        " LEFT JOIN rollup_marks m ON m.device = j.device AND m.journal = j.journal"
        " WHERE j.device = ?", [device]).fetchall()
    for journal, upto, done, wm, gap_rows in rows:
        done, wm = int(done or 0), int(wm or 0)
        if conn.execute("SELECT 1 FROM readings WHERE device = ? AND journal = ? AND seq > ?"
                        " LIMIT 1", [device, journal, wm]).fetchone() is not None:
            return True
        if done < min(int(upto), wm):
            return True
        if wm > done and _count(conn, device, journal, done, wm) != int(gap_rows or 0):
            return True
    return False


def _count(conn: sqlite3.Connection, device: str, journal: str, above: int, upto: int) -> int:
    return int(conn.execute(
        "SELECT count(*) FROM readings WHERE device = ? AND journal = ? AND seq > ? AND seq <= ?",
        [device, journal, above, upto]).fetchone()[0])


def recompute_readings(conn: sqlite3.Connection, device: str, starts: Iterable[str]) -> None:
    """Count readings stored below a journal's watermark after the fact (a quarantined
    reading replayed): recompute their minutes, hours and days. Call it in a transaction."""
    minutes = {start[:16] for start in starts}
    if minutes:
        _recompute(conn, device, minutes)


def _recompute(conn: sqlite3.Connection, device: str, minutes: Iterable[str]) -> None:
    """Recompute the given minute buckets (in a few ranges) and the hours holding them;
    a key that names no minute (an impossible start) has no bucket."""
    by_hour: dict[str, list[str]] = {}
    for key in minutes:
        if _real_minute(key):
            by_hour.setdefault(key[:13], []).append(key)
    for hours in _clusters(sorted(by_hour)):
        first = min(by_hour[hours[0]])
        last = max(by_hour[hours[-1]])
        conn.execute(_MINUTE_SQL, [device, first + ":", last + ";"])
        conn.execute(_HOUR_SQL, [device, hours[0] + ":", hours[-1] + ";"])
    _recompute_days(conn, device, by_hour)


def _recompute_days(conn: sqlite3.Connection, device: str, hours: Iterable[str]) -> None:
    """Recompute the Paris days holding the given UTC hour keys from ``rollup_hour``.

    The Paris days at the calendar's ends (whose bounds fall before year 1 or after
    9999 in UTC) cannot be named in both zones: they have no day row."""
    days = set()
    for hour in hours:
        with contextlib.suppress(OverflowError, ValueError):
            days.add(paris_day(_hour_epoch(hour)))
    for day in sorted(days):
        try:
            first, end = day_bounds(day)
            bounds = hour_key(first), hour_key(end)
        except (OverflowError, ValueError):
            continue
        conn.execute(_DAY_SQL, [day, device, *bounds])


def paris_day(epoch_s: float) -> str:
    """The Paris calendar day (``YYYY-MM-DD``) of an instant: the day bucket's key."""
    return datetime.fromtimestamp(epoch_s, PARIS).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    """The UTC epoch seconds of a Paris day's first instant and of the next day's."""
    start = date.fromisoformat(day)
    following = start + timedelta(days=1)
    return (int(datetime(start.year, start.month, start.day, tzinfo=PARIS).timestamp()),
            int(datetime(following.year, following.month, following.day,
                         tzinfo=PARIS).timestamp()))


def _clusters(hours: list[str]) -> list[list[str]]:
    """Sorted hour keys cut where consecutive ones are more than CLUSTER_GAP_H apart."""
    out: list[list[str]] = []
    previous = None
    for hour in hours:
        at = _hour_epoch(hour)
        if previous is None or at - previous > CLUSTER_GAP_H * 3600:
            out.append([])
        out[-1].append(hour)
        previous = at
    return out


def _hour_epoch(hour: str) -> float:
    return datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC).timestamp()


#: A minute key as the contract's times give it: the common case, read without ``strptime``
#: (a quarter of its cost: a quarter's refresh reads 131,040 of them).
_MINUTE_KEY: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})", re.ASCII)


def _real_minute(key: str) -> bool:
    """Whether ``YYYY-MM-DDTHH:MM`` names a minute of years 1-9999 (in ASCII digits:
    ``strptime`` reads other scripts' digits, ``fromisoformat`` does not). A key in the
    contract's form is checked by ``datetime`` itself; any other goes through ``strptime``,
    which also takes one-digit fields (as stored by a hub before the contract's checks)."""
    if not key.isascii():
        return False
    try:
        parts = _MINUTE_KEY.fullmatch(key)
        if parts is not None:
            year, month, day, hour, minute = map(int, parts.groups())
            datetime(year, month, day, hour, minute)
        else:
            datetime.strptime(key, "%Y-%m-%dT%H:%M")
    except ValueError:
        return False
    return True


def minute_key(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M")


def hour_key(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H")


def read(conn: sqlite3.Connection, device: str, table: str, first: str, last: str) -> list[Bucket]:
    """Rollup rows of ``device`` with ``first <= bucket <= last`` (``table``: minute, hour
    or day)."""
    name = {"minute": "rollup_minute", "hour": "rollup_hour", "day": "rollup_day"}[table]
    rows = conn.execute(
        f"SELECT bucket, n, seconds, sum_mean, max_mean, max_max, dose, saturated, cal_min,"
        f" cal_max FROM {name} WHERE device = ? AND bucket >= ? AND bucket <= ?"
        f" ORDER BY bucket", [device, first, last]).fetchall()
    return [
        Bucket(str(r[0]), int(r[1]), float(r[2]), float(r[3]) / max(int(r[1]), 1), float(r[4]),
               float(r[5]), float(r[6]), bool(r[7]),
               tuple(dict.fromkeys(c for c in (r[8], r[9]) if c is not None)))
        for r in rows
    ]
