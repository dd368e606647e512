"""The hub's SQLite store: schema, WAL, latest-wins upserts, events, refused payloads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.db.connection import connect
from hub.db.store import Store
from hub.ingest.records import exposure_row
from tests.hub_factory import DEVICE, JOURNAL, ROOM, SITE, exposure
from wire.contract import ExposureItem


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "sub" / "hub.db")
    yield s
    s.close()


def test_opens_in_wal_with_full_sync_and_every_table(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert {"devices", "journals", "received", "readings", "exposures", "alarms", "live",
            "rejected", "events", "counters"} <= set(store.db.table_names())


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "hub.db")
    with first.transaction():
        first.insert_received([(DEVICE, JOURNAL, 1, "readings", "t")])
    first.close()
    second = Store.open(tmp_path / "hub.db")
    assert second.stored_above(DEVICE, JOURNAL, 0) == {1}
    second.close()


def _upsert(store: Store, seq: int, event: str, at: str) -> None:
    item = ExposureItem.model_validate(exposure(seq, 1, event))
    with store.transaction():
        store.upsert_exposure(exposure_row(DEVICE, SITE, ROOM, JOURNAL, item, at))


def test_exposure_upsert_keeps_the_latest_seq_and_the_first_sighting(store: Store) -> None:
    _upsert(store, 5, "opened", "t1")
    _upsert(store, 7, "closed", "t2")
    _upsert(store, 6, "opened", "t3")  # late and older: ignored
    (row,) = store.db.query("SELECT last_seq, state, first_seen, updated FROM exposures")
    assert row == {"last_seq": 7, "state": "closed", "first_seen": "t1", "updated": "t2"}


def test_at_most_one_ongoing_event_per_kind_device_and_ref(store: Store) -> None:
    with store.transaction():
        a = store.open_event("data_gap", DEVICE, SITE, ROOM, f"{JOURNAL}:4", "t1", {"first": 4})
        b = store.open_event("data_gap", DEVICE, SITE, ROOM, f"{JOURNAL}:4", "t2", {"first": 4})
        c = store.open_event("data_gap", DEVICE, SITE, ROOM, f"{JOURNAL}:9", "t2", {"first": 9})
    assert a == b != c
    with store.transaction():
        store.clear_condition(a, "t3")
        d = store.open_event("data_gap", DEVICE, SITE, ROOM, f"{JOURNAL}:4", "t4", {"first": 4})
    assert d not in (a, c)
    assert [(e.id, e.detail) for e in store.open_events()] == [(c, {"first": 9}), (d, {"first": 4})]


def test_rejected_keeps_a_bounded_head_as_bytes(store: Store) -> None:
    with store.transaction():
        store.insert_rejected("t", "voyant/" + "x" * 1000, "bad", b"\xff" * 4096)
    (row,) = store.db.query("SELECT topic, size, payload_head FROM rejected")
    assert len(row["topic"]) == 300 and row["size"] == 4096
    assert row["payload_head"] == b"\xff" * 512


def test_prune_rejected_keeps_the_newest(store: Store) -> None:
    with store.transaction():
        for i in range(10):
            store.insert_rejected(f"t{i}", "topic", "bad", b"")
    store.prune_rejected(keep=3)
    assert [r["received_at"] for r in store.db.query("SELECT received_at FROM rejected")] == [
        "t7", "t8", "t9"]


def test_a_failed_message_is_undone_by_its_savepoint(store: Store) -> None:
    with store.transaction():
        store.insert_received([(DEVICE, JOURNAL, 1, "readings", "t")])
        with pytest.raises(RuntimeError), store.transaction():
            store.insert_received([(DEVICE, JOURNAL, 2, "readings", "t")])
            raise RuntimeError("bug")
    assert store.stored_above(DEVICE, JOURNAL, 0) == {1}


def test_savepoints_of_one_name_nest(store: Store) -> None:
    """One fixed name at every depth: a name means the innermost savepoint of that name, so
    a failure inside undoes only its own part, and the parts around it are kept."""
    with store.transaction():
        store.insert_received([(DEVICE, JOURNAL, 1, "readings", "t")])
        with store.transaction():
            store.insert_received([(DEVICE, JOURNAL, 2, "readings", "t")])
            with pytest.raises(RuntimeError), store.transaction():
                store.insert_received([(DEVICE, JOURNAL, 3, "readings", "t")])
                raise RuntimeError("bug")
            store.insert_received([(DEVICE, JOURNAL, 4, "readings", "t")])
        with pytest.raises(RuntimeError), store.transaction():
            store.insert_received([(DEVICE, JOURNAL, 5, "readings", "t")])
            with store.transaction():
                store.insert_received([(DEVICE, JOURNAL, 6, "readings", "t")])
            raise RuntimeError("bug after a part was kept")
    assert store.stored_above(DEVICE, JOURNAL, 0) == {1, 2, 4}
    assert not store.conn.in_transaction


def test_the_ingest_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    """A job writes while the ingest's batch is being written: the batch waits for the lock
    and succeeds. (A deferred transaction that had read first could not upgrade after the
    other commit: SQLITE_BUSY at once, the batch failed.)"""
    store = Store.open(tmp_path / "hub.db")
    locked, go = threading.Event(), threading.Event()

    def job() -> None:
        other = connect(tmp_path / "hub.db")
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO web_meta (key, value) VALUES ('job', 'x')")
            locked.set()
            go.wait(timeout=0.5)  # the batch started its transaction (or waits for this lock)
            other.execute("COMMIT")
        finally:
            other.close()

    thread = threading.Thread(target=job)
    thread.start()
    assert locked.wait(timeout=10)
    try:
        with store.transaction():
            store.conn.execute("SELECT count(*) FROM events").fetchone()  # reads first
            go.set()
            thread.join(timeout=10)
            store.conn.execute("INSERT INTO web_meta (key, value) VALUES ('ingest', 'y')")
    finally:
        go.set()
        thread.join(timeout=10)
    rows = dict(store.conn.execute("SELECT key, value FROM web_meta WHERE key IN "
                                   "('job', 'ingest')").fetchall())
    store.close()
    assert rows == {"job": "x", "ingest": "y"}
