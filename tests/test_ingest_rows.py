"""A message's rows in a few statements store what one statement per row stores, and the
chain's lookup in one query finds what its two queries found (issue 18 item 2).

:func:`hub.db.connection.insert_rows` (and :func:`~hub.db.connection.insert_values`, the
same rows one after another) replaced ``executemany`` on the ingest's path; the bench's
plain loop, the reference, still uses ``executemany``. :func:`hub.db.chain_store.links`
reads both tables in one statement, listing a few numbers and sending more as JSON.
"""

from __future__ import annotations

import json
import sqlite3
from itertools import chain
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.db import chain_store
from hub.db.chain_store import Link, prev_of
from hub.db.connection import ROWS_PER_STATEMENT, _largest, insert_rows, insert_values
from hub.db.store import READING_WIDTH, Store
from tests import hub_factory as hf

SQL = "INSERT OR IGNORE INTO t (k, a, b) VALUES (?, ?, ?)"
values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=5),
                   st.floats(allow_nan=False), st.binary(max_size=3))
rows = st.lists(st.tuples(st.integers(0, 40), values, values), max_size=300)


def table(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT rowid, k, a, b FROM t ORDER BY rowid").fetchall()


def fresh(limit: int | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY ON CONFLICT IGNORE, a, b NOT NULL)")
    if limit is not None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    return conn


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from([None, 3, 7, 100, 999]))
def test_rows_together_are_the_rows_one_by_one(batch: list[tuple[Any, ...]],
                                                 limit: int | None) -> None:
    """Same rows, same order (rowid), the same ignored: repeated keys, within a statement
    and across, and NULLs refused by ``NOT NULL`` (ignored by ``OR IGNORE``)."""
    one_by_one, together, flat = fresh(), fresh(limit), fresh(limit)
    one_by_one.executemany(SQL, batch)
    insert_rows(together, SQL, batch)
    insert_values(flat, SQL, 3, list(chain.from_iterable(batch)))
    assert table(together) == table(flat) == table(one_by_one)


def test_the_statements_are_few() -> None:
    conn = fresh()
    seen: list[int] = []
    conn.set_trace_callback(lambda sql: seen.append(sql.count("),(") + 1)
                            if sql.startswith("INSERT") else None)
    insert_rows(conn, SQL, [(k, k, k) for k in range(100)])
    insert_rows(conn, SQL, [(k, k, k) for k in range(100, 229)])
    assert seen == [64, 32, 4, 64, 64, 1]
    assert table(conn) == [(k, k, k, k) for k in range(229)]
    assert _largest(READING_WIDTH, 999) * READING_WIDTH <= 999 < 2 * _largest(
        READING_WIDTH, 999) * READING_WIDTH
    assert _largest(3, 10**6) == ROWS_PER_STATEMENT and _largest(10**6, 10) == 1


def test_what_is_not_a_plain_one_row_insert_is_refused() -> None:
    conn = fresh()
    with pytest.raises(ValueError, match="not rows of 3"):
        insert_values(conn, SQL, 3, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="one-row INSERT"):
        insert_rows(conn, "INSERT INTO t SELECT 1, 2, 3", [(1, 2, 3)])
    assert table(conn) == []


def test_the_stores_rows_are_the_plain_loops(store: Store) -> None:
    """The real tables: a message's readings and receipts, written both ways in two stores,
    hold the same (the plain loop of bench/ingest.py writes them one by one)."""
    other = Store.open(":memory:")
    try:
        made = [hf.reading(seq) for seq in range(1, 131)]
        readings = [[hf.DEVICE, hf.SITE, hf.ROOM, hf.JOURNAL, r["seq"], r["run"], r["start"],
                     r["end"], r["counts"], r["seconds_covered"], r["cpm"], r["dose_usv"],
                     r["mean_usv_h"], r["mean_sigma_usv_h"], r["max_usv_h"],
                     r["max_sigma_usv_h"], int(r["saturated"]), r["calibration"], r["frames"],
                     r["frames_lost"], None, r["seq"] % 2] for r in made]
        assert len(readings[0]) == READING_WIDTH
        received = [(hf.DEVICE, hf.JOURNAL, r["seq"], "readings", "t", "h", None, "{}")
                    for r in made]
        store.insert_readings(readings)
        chain_store.insert_received(store.conn, received)
        other.insert_readings_values(list(chain.from_iterable(readings[:70])))
        other.insert_readings_values(list(chain.from_iterable(readings[60:])))  # 60..69: again
        chain_store.insert_received_batch(other.conn, received[:1])
        chain_store.insert_received_stamped(  # the stamp in place of the last value
            other.conn, list(chain.from_iterable(r[:4] + r[5:] + ("x",) for r in received)),
            "t")
        for name in ("readings", "received"):
            query = f"SELECT * FROM {name} ORDER BY device, journal, seq"
            assert other.conn.execute(query).fetchall() == store.conn.execute(query).fetchall()
    finally:
        other.close()


# -- the chain's lookup ---------------------------------------------------------------------


def links_before(conn: sqlite3.Connection, device: str, journal: str,
                 seqs: set[int]) -> dict[int, Link]:
    """The two queries :func:`chain_store.links` made before (the reference)."""
    wanted = json.dumps(sorted(seqs))
    out: dict[int, Link] = {}
    for seq, digest, item in conn.execute(
            "SELECT seq, hash, item FROM quarantine WHERE device = ? AND journal = ?"
            " AND seq IN (SELECT value FROM json_each(?))", (device, journal, wanted)):
        out[int(seq)] = Link(digest, prev_of(item))
    for seq, digest, prev in conn.execute(
            "SELECT seq, hash, prev FROM received WHERE device = ? AND journal = ?"
            " AND hash IS NOT NULL AND seq IN (SELECT value FROM json_each(?))",
            (device, journal, wanted)):
        out[int(seq)] = Link(digest, prev)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.integers(1, 30), max_size=12), st.sets(st.integers(1, 30), max_size=12),
       st.sets(st.integers(1, 30), max_size=6), st.sets(st.integers(0, 31), max_size=14))
def test_the_lookup_finds_what_the_two_queries_found(
        stored: set[int], quarantined: set[int], unhashed: set[int], asked: set[int]) -> None:
    """Stored copies win over quarantined ones, receipts without a hash (a quarantined
    record counted) are not links, another journal's are not found; a few numbers listed
    (``IN (?3, ?4)``) and more (JSON) alike."""
    store = Store.open(":memory:")
    try:
        conn = store.conn
        for journal in (hf.JOURNAL, hf.JOURNAL_2):
            chain_store.insert_received(conn, [
                (hf.DEVICE, journal, seq, "readings", "t", None if seq in unhashed else
                 f"h{seq}", None if seq % 3 == 0 else f"p{seq}", "{}") for seq in stored])
            for seq in quarantined:
                store.insert_quarantined(hf.DEVICE, hf.SITE, hf.ROOM, journal, seq,
                                         "readings", "t", "why",
                                         json.dumps({"seq": seq, "prev": f"q{seq}"}),
                                         False, f"qh{seq}")
        found = chain_store.links(conn, hf.DEVICE, hf.JOURNAL, asked)
        assert found == links_before(conn, hf.DEVICE, hf.JOURNAL, asked)
        assert found == {s: chain_store.links(conn, hf.DEVICE, hf.JOURNAL, [s])[s]
                         for s in found}  # one number at a time: the same
    finally:
        store.close()
