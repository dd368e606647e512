"""A message that fails inside its savepoint (a full disk, a bug) is acknowledged for
nothing it did not store, whichever way it was decoded (:mod:`hub.ingest.undo`).

The journal's bookkeeping moved before the INSERTs: left advanced, the batch's flush
wrote an ``upto`` past what the store held and the hub acknowledged records that the box
then deleted. Found by an independent review; these tests failed before the fix.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

from hub.db import chain_store
from hub.db.store import Store
from hub.ingest.core import IngestCore
from hub.ingest.predecode import decode_all
from tests import hub_factory as hf
from tests.test_ingest_speed_runs import chain
from wire.contract import READINGS

T = hf.T0 + 100
GOOD = chain(12, frozenset(), frozenset(), frozenset())
FEEDS = ["one by one", "writer", "worker"]


@contextmanager
def failing(times: int) -> Iterator[None]:
    """The next ``times`` writes of a message's rows fail, as a full disk makes them."""
    left = {"n": times}

    def refuse(real: Any) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            if left["n"] > 0:
                left["n"] -= 1
                raise sqlite3.OperationalError("database or disk is full")
            return real(*args, **kwargs)
        return write

    with contextlib.ExitStack() as patches:
        for owner, name in ((Store, "insert_readings"), (Store, "insert_readings_values"),
                            (chain_store, "insert_received_batch"),
                            (chain_store, "insert_received_stamped")):
            patches.enter_context(mock.patch.object(owner, name, refuse(getattr(owner, name))))
        yield


def feed(core: IngestCore, messages: list[tuple[str, bytes]], now: float,
         how: str) -> list[tuple[str, str, int]]:
    if how == "one by one":  # the run path off: the records one by one, as before runs
        with mock.patch("hub.ingest.intake.run_of", lambda *_: None):
            return hf.acked(core.handle_batch(messages, now))
    decoded = pickle.loads(pickle.dumps(decode_all(messages))) if how == "worker" else None
    return hf.acked(core.handle_batch(messages, now, decoded))


def stored(store: Store) -> set[int]:
    return {r[0] for r in store.conn.execute("SELECT seq FROM readings")}


def assert_acks_hold(store: Store, acks: list[tuple[str, str, int]]) -> None:
    have = stored(store)
    for _, _, upto in acks:
        assert set(range(1, upto + 1)) <= have, (acks, sorted(have))


@pytest.mark.parametrize("how", FEEDS)
def test_the_first_message_of_a_journal_failing_acknowledges_nothing(
        store: Store, how: str) -> None:
    core = hf.core(store, T)
    with failing(1):
        acks = feed(core, [hf.batch(READINGS, GOOD[0:3])], T, how)
    assert stored(store) == set() and acks == []
    assert store.conn.execute("SELECT count(*) FROM journals").fetchone()[0] == 0
    acks = feed(core, [hf.batch(READINGS, GOOD[0:3])], T + 1, how)  # the box sends again
    assert stored(store) == {1, 2, 3} and acks[-1][2] == 3


@pytest.mark.parametrize("how", FEEDS)
def test_a_failed_message_is_not_taken_for_held_by_the_next_one(
        store: Store, how: str) -> None:
    core = hf.core(store, T)
    feed(core, [hf.batch(READINGS, GOOD[0:3])], T, how)
    with failing(1):  # 4-6 fail; 4-8 in the same batch must store 4-6 as new, not as copies
        acks = feed(core, [hf.batch(READINGS, GOOD[3:6]), hf.batch(READINGS, GOOD[3:8])],
                    T + 1, how)
    assert_acks_hold(store, acks)
    assert stored(store) == set(range(1, 9)) and acks[-1][2] == 8


@pytest.mark.parametrize("how", FEEDS)
def test_a_batch_with_a_failed_message_flushes_its_other_journals(
        store: Store, how: str) -> None:
    core = hf.core(store, T)
    other = [hf.reading(s) for s in range(1, 4)]
    with failing(1):
        acks = feed(core, [hf.batch(READINGS, GOOD[0:3]),
                           hf.batch(READINGS, other, journal=hf.JOURNAL_2)], T, how)
    journals = dict(store.conn.execute("SELECT journal, upto FROM journals"))
    assert journals == {hf.JOURNAL_2: 3}
    assert [(j, u) for _, j, u in acks] == [(hf.JOURNAL_2, 3)]
    assert core.stats()["handler_errors"] == 1


def test_a_journal_that_failed_at_its_first_message_is_announced_when_it_comes(
        store: Store) -> None:
    core = hf.core(store, T)
    feed(core, [hf.batch(READINGS, GOOD[0:2])], T, "writer")
    fresh = [hf.reading(s) for s in range(1, 3)]
    with failing(1):  # an SD card swapped: the new journal's first message fails
        feed(core, [hf.batch(READINGS, fresh, journal=hf.JOURNAL_2)], T + 1, "writer")
    feed(core, [hf.batch(READINGS, fresh, journal=hf.JOURNAL_2)], T + 2, "writer")
    kinds = [r[0] for r in store.conn.execute("SELECT kind FROM events")]
    assert kinds.count("journal_new") == 1
