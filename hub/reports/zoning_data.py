"""What the zoning of a quarter reads from the store: readings, generator and emission spans.

One ordered pass over the quarter's readings (about 780,000 rows for a room at
one reading per 10 s), their times turned into seconds by SQLite; the spans
with the generator powered come from the journaled input changes
(``changes``, signal ``generator_powered``), the emissions from ``exposures``.
The readings counted are those the rollups count (:data:`hub.db.rollups.COUNTED`:
real instants, not stamped by an implausible clock).
"""

from __future__ import annotations

import sqlite3

import numpy as np

from hub.reports.zoning import Readings, Spans
from hub.timefmt import iso
from wire.records import MAX_DOSE_RATE_USV_H, MAX_DOSE_USV, MAX_READING_S, MAX_SEQ

_EPOCH = "(julianday(substr({col}, 1, 23)) - 2440587.5) * 86400.0"
_START = _EPOCH.format(col="start")
_END = _EPOCH.format(col='"end"')


def readings(conn: sqlite3.Connection, device: str, start_s: int, end_s: int) -> Readings:
    """The quarter's counted readings with some coverage, by start, as columns.

    The times come as text and are read by numpy at once (SQLite's date functions per row
    cost more than the rest of the query); a time that names no instant (stored by a hub
    older than the contract's checks) leaves its reading out, as the rollups do.
    """
    rows = conn.execute(
        "SELECT start, coalesce(\"end\", start), counts, seconds_covered, dose_usv,"
        " max_usv_h, saturated, calibration FROM readings"
        " WHERE device = ? AND start >= ? AND start < ? AND seconds_covered > 0"
        " AND clock_implausible IS NOT 1 ORDER BY start",
        [device, iso(start_s), iso(end_s)]).fetchall()
    if not rows:
        empty = np.zeros(0)
        return Readings(empty, empty, empty, empty, empty, empty, np.zeros(0, dtype=bool),
                        np.zeros(0, dtype=np.int64), ())
    start_text, end_text, counts, seconds, dose, peak, saturated, cal = zip(*rows, strict=True)
    start, end = _seconds(start_text), _seconds(end_text)
    keep = ~np.isnan(start) & ~np.isnan(end) & (end >= start)
    # A reading lasts at most the contract's longest interval: a stored end of year 9999
    # must not carry every later window along.
    end = np.minimum(end, start + MAX_READING_S)
    names: dict[str, int] = {}
    codes = np.fromiter((names.setdefault(str(c or ""), len(names)) for c in cal),
                        dtype=np.int64, count=len(cal))
    # Each value at most the contract's bound, as the rollups count it (an older hub
    # stored up to 1e308: two of them would sum to infinity); no number: 0 (the peak: none).
    return Readings(start[keep], end[keep], _bounded(counts, MAX_SEQ)[keep],
                    _bounded(seconds, MAX_READING_S)[keep], _bounded(dose, MAX_DOSE_USV)[keep],
                    _bounded(peak, MAX_DOSE_RATE_USV_H, np.nan)[keep],
                    _bounded(saturated, 1.0)[keep] > 0, codes[keep], tuple(names))


def previous_end(conn: sqlite3.Connection, device: str, start_s: int) -> float | None:
    """When the last reading before ``start_s`` ended (a gap may begin in the quarter
    before)."""
    row = conn.execute("SELECT coalesce(\"end\", start) FROM readings WHERE device = ?"
                       " AND start < ? AND seconds_covered > 0 AND clock_implausible IS NOT 1"
                       " ORDER BY start DESC LIMIT 1", [device, iso(start_s)]).fetchone()
    return None if row is None else _instant(row[0])


def next_start(conn: sqlite3.Connection, device: str, end_s: int) -> float | None:
    """When the first reading after ``end_s`` started (a gap may go on after the quarter)."""
    row = conn.execute("SELECT start FROM readings WHERE device = ? AND start >= ?"
                       " AND seconds_covered > 0 AND clock_implausible IS NOT 1"
                       " ORDER BY start LIMIT 1", [device, iso(end_s)]).fetchone()
    return None if row is None else _instant(row[0])


def _instant(text: object) -> float | None:
    value = float(_seconds((str(text),))[0])
    return None if np.isnan(value) else value


def _bounded(values: tuple[object, ...], bound: float, missing: float = 0.0) -> np.ndarray:
    """A column as floats in [0, bound]; ``missing`` where a row holds no number (NULL, or
    text written in a number's place by hand or by an older hub: it must not stop a
    report). The whole column at once, one value at a time only when that fails."""
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        array = np.array([_float(v) for v in values], dtype=float)
    out: np.ndarray = np.clip(np.where(np.isnan(array), missing, array), 0.0, bound)
    return out


def _float(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def _seconds(texts: tuple[str, ...]) -> np.ndarray:
    """ISO 8601 UTC texts (``…Z``) as seconds since the epoch; NaN for a text naming no
    instant (one at a time, only when the whole column cannot be read at once)."""
    bare = [str(t).rstrip("Z") for t in texts]
    try:
        stamps = np.array(bare, dtype="datetime64[us]")
    except ValueError:
        return np.array([_one(t) for t in bare], dtype=float)
    return stamps.astype(np.int64) / 1e6


def _one(text: str) -> float:
    try:
        return float(np.datetime64(text, "us").astype(np.int64)) / 1e6
    except ValueError:
        return float("nan")


def powered_spans(conn: sqlite3.Connection, device: str, start_s: int, end_s: int
                  ) -> Spans | None:
    """Spans with the generator powered, from its journaled changes; None when the device
    never journaled its generator's state (an older agent, or no such input).

    A run of changes (``count`` > 1, from ``first`` to ``last``) counts as powered
    throughout: the conservative side for the background, which must come from hours
    with the generator off.
    """
    rows = conn.execute(
        f"SELECT {_EPOCH.format(col='first')}, {_EPOCH.format(col='last')}, value, count"
        " FROM changes WHERE device = ? AND signal = 'generator_powered'"
        " AND first < ? ORDER BY first, seq", [device, iso(end_s)]).fetchall()
    if not rows:
        return None
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for first, last, value, count in rows:
        if first is None:
            continue
        last = first if last is None else last
        if int(count or 1) > 1:
            spans.append((float(first), float(last)))
        if value and since is None:
            since = float(first)
        elif not value and since is not None:
            spans.append((since, float(last)))
            since = None
    if since is not None:
        spans.append((since, float(end_s)))
    return clip(spans, start_s, end_s)


def emission_spans(conn: sqlite3.Connection, device: str, start_s: int, end_s: int
                   ) -> tuple[Spans, int, int]:
    """The quarter's emissions as spans, how many, and how many were pulsed (pulses > 1)."""
    rows = conn.execute(
        f"SELECT {_START}, {_END}, duration_s,"
        " pulses FROM exposures WHERE device = ? AND start >= ? AND start < ?"
        " AND clock_implausible IS NOT 1 ORDER BY start",
        [device, iso(start_s - 86_400), iso(end_s)]).fetchall()
    spans: list[tuple[float, float]] = []
    count = pulsed = 0
    for start, end, duration, pulses in rows:
        if start is None:
            continue
        stop = end if end is not None else float(start) + float(duration or 0.0)
        if stop >= start_s:
            spans.append((float(start), max(float(stop), float(start))))
        if start >= start_s:
            count += 1
            pulsed += int(pulses is not None and int(pulses) > 1)
    return clip(spans, start_s, end_s), count, pulsed


def clip(spans: Spans, start_s: int, end_s: int) -> list[tuple[float, float]]:
    """The spans within the quarter, sorted (a stored time of year 9999 must not make a
    span of eight thousand years)."""
    return sorted((max(a, float(start_s)), min(b, float(end_s))) for a, b in spans
                  if b >= start_s and a <= end_s)
