"""Dose-rate rollups equal a direct aggregation of ``readings``, however the readings came."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db import migrations, rollup_series, rollups
from hub.db.connection import WritePace, connect
from hub.db.store import Store
from hub.timefmt import iso
from tests.hub_factory import JOURNAL, JOURNAL_2, T0, batch, core, open_store, reading
from wire.contract import READINGS

_DIRECT = """
SELECT device, substr(start, 1, {n}) AS bucket, count(*), total(seconds_covered),
       total(mean_usv_h), max(mean_usv_h), max(max_usv_h), total(dose_usv), max(saturated),
       min(calibration), max(calibration)
FROM readings GROUP BY device, bucket ORDER BY device, bucket
"""
_ROLLED = """
SELECT device, bucket, n, seconds, sum_mean, max_mean, max_max, dose, saturated, cal_min, cal_max
FROM {table} ORDER BY device, bucket
"""


def _items(seqs: list[int], rng: random.Random, t0: float = T0, step: float = 10.0
           ) -> list[dict[str, Any]]:
    out = []
    for seq in seqs:
        mean = rng.choice([0.08, 0.1, 0.12, 3.5, 250.0])
        out.append(reading(
            seq, start=iso(t0 + step * seq), end=iso(t0 + step * seq + 10),
            mean_usv_h=mean, max_usv_h=mean * rng.uniform(1, 3),
            dose_usv=mean * 10 / 3600, saturated=rng.random() < 0.01,
            calibration=rng.choice(["sbm20/Cs-137", "sbm20/RQR5"]) if seq % 500 == 0
            else "sbm20/Cs-137"))
    return out


def _ingest(store: Store, seqs: list[int], rng: random.Random, journal: str = JOURNAL,
            t0: float = T0, step: float = 10.0) -> None:
    """Batches of consecutive sequence numbers (as the wire wants), at most 500 each."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][-1] + 1 and len(runs[-1]) < 500:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    ingest = core(store, now=T0)
    messages = [batch(READINGS, _items(run, rng, t0, step), journal=journal) for run in runs]
    received = max(T0, t0) + step * (max(seqs) + 1)  # after the last reading: plausible
    ingest.handle_batch(messages, received)
    assert ingest.stats()["rejected_total"] == 0


def _assert_equal(conn: sqlite3.Connection) -> None:
    for table, n in (("rollup_minute", 16), ("rollup_hour", 13)):
        direct = conn.execute(_DIRECT.format(n=n)).fetchall()
        rolled = conn.execute(_ROLLED.format(table=table)).fetchall()
        assert len(direct) == len(rolled), table
        for d, r in zip(direct, rolled, strict=True):
            assert tuple(d[:3]) == tuple(r[:3]), table
            assert tuple(r[3:8]) == pytest.approx(tuple(d[3:8]), rel=1e-9), (table, d[1])
            assert tuple(d[8:]) == tuple(r[8:]), table


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


@pytest.fixture
def conn(tmp_path: Path, store: Store) -> sqlite3.Connection:
    return connect(tmp_path / "hub.db")


def test_rollups_equal_direct_aggregation(store: Store, conn: sqlite3.Connection) -> None:
    rng = random.Random(1)
    _ingest(store, list(range(1, 2001)), rng)  # 2000 readings: about 5.5 hours
    result = rollups.refresh(conn)
    assert result.complete and result.examined == 2000
    _assert_equal(conn)
    assert conn.execute("SELECT count(*) FROM rollup_hour").fetchone()[0] == 6


def test_incremental_refreshes_and_small_chunks(store: Store, conn: sqlite3.Connection) -> None:
    rng = random.Random(2)
    for first in range(1, 1500, 137):
        _ingest(store, list(range(first, first + 137)), rng)
        rollups.refresh(conn, chunk=50)
        _assert_equal(conn)
    assert rollups.refresh(conn).examined == 0  # nothing new: nothing looked at


def test_gap_filled_later_is_counted_once(store: Store, conn: sqlite3.Connection) -> None:
    rng = random.Random(3)
    _ingest(store, list(range(1, 101)) + list(range(301, 401)), rng)  # 101..300 missing
    rollups.refresh(conn)
    _assert_equal(conn)
    _ingest(store, [150, 151, 152], rng)  # in the middle of the gap: upto does not move
    rollups.refresh(conn)
    _assert_equal(conn)
    _ingest(store, [s for s in range(101, 301) if s not in (150, 151, 152)], rng)
    rollups.refresh(conn)
    _assert_equal(conn)
    mark = conn.execute("SELECT done, wm, gap_rows FROM rollup_marks").fetchone()
    assert tuple(mark) == (400, 400, 0)


def test_several_journals_and_devices_and_older_times(store: Store,
                                                      conn: sqlite3.Connection) -> None:
    rng = random.Random(4)
    _ingest(store, list(range(1, 801)), rng)
    rollups.refresh(conn)
    # A new journal (a new SD card) whose readings fall in hours already rolled up.
    _ingest(store, list(range(1, 300)), rng, journal=JOURNAL_2, t0=T0 + 3, step=10.0)
    ingest = core(store, now=T0)
    other = [batch(READINGS, _items(list(range(1, 200)), rng), device="chu-nord.salle-4",
                   room="salle-4")]
    ingest.handle_batch(other, T0 + 2)
    rollups.refresh(conn, "chu-nord.salle-3")
    rollups.refresh(conn, "chu-nord.salle-4")
    _assert_equal(conn)


def test_refresh_limit_reports_incomplete(store: Store, conn: sqlite3.Connection) -> None:
    _ingest(store, list(range(1, 1001)), random.Random(5))
    first = rollups.refresh(conn, chunk=100, limit=300)
    assert not first.complete and first.examined >= 300
    assert rollups.refresh(conn).complete
    _assert_equal(conn)


def test_the_job_paces_itself_with_the_write_lock_free(store: Store, conn: sqlite3.Connection,
                                                        tmp_path: Path) -> None:
    """Between two of the refresh's transactions another writer can take the lock (the
    ingest's BEGIN IMMEDIATE, here with no wait at all), and the pace is asked there only."""
    rng = random.Random(6)
    _ingest(store, list(range(1, 301)), rng)
    _ingest(store, list(range(1, 201)), rng, journal=JOURNAL_2, t0=T0 + 3)
    ingest = core(store, now=T0)
    ingest.handle_batch([batch(READINGS, _items(list(range(1, 151)), rng), journal="ab" * 16,
                               device="chu-nord.salle-4", room="salle-4")], T0 + 1600)
    assert ingest.stats()["rejected_total"] == 0
    other = connect(tmp_path / "hub.db", busy_timeout_ms=0)
    paced: list[bool] = []

    def pace() -> None:
        assert not conn.in_transaction
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if it were held
        other.execute("ROLLBACK")
        paced.append(True)

    try:
        result = rollups.refresh(conn, chunk=100, pace=pace)
    finally:
        other.close()
    assert result.complete and result.examined == 650
    # One transaction per device and chunk: 300 + 200 readings in 5, then 150 in 2 (and one
    # last look each that finds nothing new to do).
    assert len(paced) >= 7
    _assert_equal(conn)


def test_the_write_pace_pauses_once_it_worked_its_share() -> None:
    now = [0.0]
    slept: list[float] = []
    pace = WritePace(work_s=0.010, pause_s=0.030, clock=lambda: now[0],
                     sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(3):  # 3 ms of work each: no pause yet
        now[0] += 0.003
        pace()
    assert slept == []
    now[0] += 0.002  # 11 ms since the start
    pace()
    assert slept == [0.030] and pace.pauses == 1
    now[0] += 0.009  # 9 ms since the pause: under the share again
    pace()
    assert slept == [0.030]


def test_read_combines_calibrations(store: Store, conn: sqlite3.Connection) -> None:
    ingest = core(store, now=T0)
    items = [reading(1, mean_usv_h=0.1, calibration="a"), reading(2, mean_usv_h=0.3,
                                                                  calibration="b")]
    ingest.handle_batch([batch(READINGS, items)], T0 + 1)
    rollups.refresh(conn)
    [bucket] = rollups.read(conn, "chu-nord.salle-3", "hour", "0", "9")
    assert bucket.n == 2 and bucket.mean_usv_h == pytest.approx(0.2)
    assert bucket.calibrations == ("a", "b")


def _direct_days(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Days summed from the raw readings, each assigned to the Paris day of its start."""
    out: dict[tuple[str, str], list[Any]] = {}
    for device, start, seconds, dose, top in conn.execute(
            "SELECT device, start, seconds_covered, dose_usv, max_usv_h FROM readings"):
        epoch = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
        row = out.setdefault((device, rollups.paris_day(epoch)), [0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += seconds
        row[2] += dose
        row[3] = max(row[3], top)
    return {key: tuple(v) for key, v in out.items()}


def _assert_days(conn: sqlite3.Connection) -> None:
    direct = _direct_days(conn)
    rolled = {(str(r[0]), str(r[1])): (int(r[2]), r[3], r[4], r[5]) for r in conn.execute(
        "SELECT device, bucket, n, seconds, dose, max_max FROM rollup_day")}
    assert set(rolled) == set(direct)
    for key, (n, seconds, dose, top) in direct.items():
        assert rolled[key][0] == n, key
        assert rolled[key][1:] == pytest.approx((seconds, dose, top), rel=1e-9), key


@pytest.mark.parametrize(("t0", "day", "hours"), [
    (datetime(2025, 3, 29, 20, tzinfo=UTC).timestamp(), "2025-03-30", 23),
    (datetime(2025, 10, 25, 20, tzinfo=UTC).timestamp(), "2025-10-26", 25),
])
def test_days_are_paris_days_across_the_change_of_time(store: Store, conn: sqlite3.Connection,
                                                       t0: float, day: str, hours: int) -> None:
    # 3 days of one reading a minute, a gap in the middle filled late (after an outage).
    seqs = list(range(1, 3 * 1440 + 1))
    rng = random.Random(6)
    _ingest(store, seqs[:1000] + seqs[2000:], rng, t0=t0, step=60.0)
    rollups.refresh(conn)
    _assert_days(conn)
    _ingest(store, seqs[1000:2000], rng, t0=t0, step=60.0)
    rollups.refresh(conn)
    _assert_days(conn)
    (row,) = rollups.read(conn, "chu-nord.salle-3", "day", day, day)
    assert row.n == hours * 60 and row.seconds == pytest.approx(hours * 600)


def test_an_older_store_gains_its_days(store: Store, conn: sqlite3.Connection) -> None:
    _ingest(store, list(range(1, 3001)), random.Random(7), step=60.0)
    rollups.refresh(conn)
    conn.execute("DROP TABLE rollup_day")  # as a store made before the day rollup
    conn.execute("PRAGMA user_version = 0")  # and before versions: the next start...
    # ...fills its days from the hours, among every step
    assert migrations.migrate(conn) == [n for n, _what, _step in migrations.MIGRATIONS]
    _assert_days(conn)
    assert rollups.read(conn, "chu-nord.salle-3", "day", "0000", "9999")


# -- a chart's series: rollups, and the raw readings they do not count yet ------------------------

DAY = 86400


def _stored_between(conn: sqlite3.Connection, start_s: float, end_s: float) -> int:
    return int(conn.execute("SELECT count(*) FROM readings WHERE start >= ? AND start < ?",
                            [iso(start_s), iso(end_s)]).fetchone()[0])


def _series(conn: sqlite3.Connection, table: str, end_s: int, span_s: int, step_s: int
            ) -> rollup_series.Series:
    return rollup_series.series(conn, "chu-nord.salle-3", table, end_s - span_s, end_s, step_s)


@pytest.mark.parametrize(("table", "span_s", "step_s"), [
    ("minute", DAY, 300), ("hour", 7 * DAY, 3600), ("hour", 92 * DAY, 3 * 3600)])
def test_a_chart_shows_what_a_refresh_would_give(store: Store, conn: sqlite3.Connection,
                                                 table: str, span_s: int, step_s: int) -> None:
    """Before any refresh, half-way through one, after it, and with new readings on top:
    the same steps, to the last bit (the raw span is summed as the refresh stores it)."""
    end_s = int(T0) + 2 * DAY
    seqs = list(range(1, 2 * 1440))
    _ingest(store, seqs[:1500] + seqs[1700:2400], random.Random(8), step=60.0)
    before = conn.total_changes
    raw = _series(conn, table, end_s, span_s, step_s)
    assert conn.total_changes == before  # a read
    assert raw.complete and sum(s.n for s in raw.steps) == _stored_between(
        conn, end_s - span_s, end_s) > 0
    rollups.refresh(conn, chunk=500, limit=600)  # part of the way
    assert _series(conn, table, end_s, span_s, step_s) == raw
    rollups.refresh(conn)
    assert _series(conn, table, end_s, span_s, step_s) == raw
    _ingest(store, seqs[1500:1700] + seqs[2400:], random.Random(9), step=60.0)  # late ones
    fresh = _series(conn, table, end_s, span_s, step_s)
    rollups.refresh(conn)
    assert _series(conn, table, end_s, span_s, step_s) == fresh
    assert sum(s.n for s in fresh.steps) == _stored_between(conn, end_s - span_s, end_s)


def test_a_backlog_older_than_the_raw_span_waits_for_the_job(
        store: Store, conn: sqlite3.Connection) -> None:
    _ingest(store, list(range(1, 30 * 24 + 1)), random.Random(10), step=3600.0)  # 30 days
    end_s = int(T0) + 31 * DAY
    waiting = _series(conn, "hour", end_s, 92 * DAY, 3 * 3600)
    assert not waiting.complete  # readings 8 to 30 days old are neither rolled up nor raw
    last_week = _stored_between(conn, end_s - rollup_series.RAW_MAX_S, end_s)
    assert sum(s.n for s in waiting.steps) == last_week > 0  # the last 7 days, read raw
    rollups.refresh(conn)
    done = _series(conn, "hour", end_s, 92 * DAY, 3 * 3600)
    assert done.complete and sum(s.n for s in done.steps) == 30 * 24
    assert rollup_series.pending_since(conn, "chu-nord.salle-3") is None


def _minute_by_strptime(key: str) -> bool:
    """The minute check as it was (strptime alone), which the fast path must equal."""
    if not key.isascii():
        return False
    try:
        datetime.strptime(key, "%Y-%m-%dT%H:%M")
    except ValueError:
        return False
    return True


def test_the_fast_minute_check_decides_as_strptime() -> None:
    keys = ["2026-03-29T02:30", "0000-01-01T00:00", "0001-01-01T00:00", "9999-12-31T23:59",
            "2026-02-29T00:00", "2024-02-29T00:00", "2026-13-01T00:00", "2026-1-5T1:2",
            "2026-01-01T24:00", "2026-01-01T23:60", "\u0662\u0660\u0662\u0666-01-01T00:00",
            "2026-01-01T00:00Z", "2026-01-01 00:00", "+026-01-01T00:00", " 2026-01-01T00:00"]
    draw = random.Random(18)
    for _ in range(5000):  # one to three characters of a real key changed
        key = list("2024-02-29T23:59")
        for _ in range(draw.randint(1, 3)):
            key[draw.randrange(len(key))] = draw.choice("0123456789-T: a\u0663")
        keys.append("".join(key))
    assert [k for k in keys if rollups._real_minute(k) != _minute_by_strptime(k)] == []
    assert sum(map(rollups._real_minute, keys)) > 100  # the keys test both answers
