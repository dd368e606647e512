"""How the ingest shares a batch's decode (issue 18 item 2, :mod:`hub.ingest.decoder`): the
decode worker takes the batch's end, the hub's thread its first messages while the writer
commits the batch before, the writer whatever neither did; the share follows who waited;
the service takes a second batch ahead only from a backlog, and alarms still go before the
next batch. Whichever part decoded what, the store holds the same.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from hub.config import parse_config
from hub.db.store import Store
from hub.ingest import decoder
from hub.ingest.decoder import SHARE_MAX, SHARE_MIN, SHARE_STEP, DecodePool, Share
from hub.ingest.inbox import Inbox
from hub.ingest.predecode import decode_all
from hub.ingest.service import Ingest
from tests import hub_factory as hf
from tests.test_fast_decode import Msg, batches, table_rows

READINGS, ALARMS = "voyant/v1/s/r/readings", "voyant/v1/s/r/alarms"


def done(value: list[Any]) -> Future[list[Any]]:
    future: Future[list[Any]] = Future()
    future.set_result(value)
    return future


def share_of(messages: list[Msg], first: int, tail: Future[list[Any]],
             helper: ThreadPoolExecutor, made_at: int = 0) -> Share:
    return Share(messages, first, tail, decode_all, helper, made_at)


def travelled(messages: list[Msg]) -> list[Any]:
    made: list[Any] = pickle.loads(pickle.dumps(decode_all(messages)))
    return made


# -- a share, read by the writer ------------------------------------------------------------


def test_a_share_gives_the_writer_none_the_thread_its_first_and_the_worker_the_rest() -> None:
    messages = [hf.readings(1, 2), hf.readings(3, 4), hf.readings(5, 6)]
    with ThreadPoolExecutor(1) as helper:
        plain = share_of(messages, 1, done(travelled(messages[1:])), helper)
        assert plain[0] is None and repr(plain[1:]) == repr(travelled(messages[1:]))
        assert not plain.late and not plain.head_late
        fetched = share_of(messages, 2, done(travelled(messages[2:])), helper)
        fetched.prefetch()
        fetched.prefetch()  # once
        assert repr(list(fetched)) == repr(travelled(messages))
        with pytest.raises(IndexError):
            fetched[3]


def test_a_part_not_done_when_the_writer_reaches_it_is_waited_for_and_said_late() -> None:
    messages = [hf.readings(1, 2), hf.readings(3, 4)]
    tail: Future[list[Any]] = Future()
    busy = threading.Event()
    with ThreadPoolExecutor(1) as helper:
        helper.submit(busy.wait)  # the hub's thread is busy: the prefetch waits behind it
        share = share_of(messages, 1, tail, helper)
        share.prefetch()
        threading.Timer(0.05, busy.set).start()
        assert repr(share[0]) == repr(travelled(messages[:1])[0]) and share.head_late
        threading.Timer(0.05, tail.set_result, [travelled(messages[1:])]).start()
        assert repr(share[1]) == repr(travelled(messages[1:])[0]) and share.late


def test_a_worker_that_fails_hangs_or_miscounts_leaves_its_part_to_the_writer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [hf.readings(1, 2), hf.readings(3, 4)]
    failed: Future[list[Any]] = Future()
    failed.set_exception(RuntimeError("a result that cannot come back"))
    monkeypatch.setattr(decoder, "SHARE_TIMEOUT_S", 0.05)
    with ThreadPoolExecutor(1) as helper:
        for tail, hung in ((failed, False), (Future(), True), (done([None, None]), False)):
            share = share_of(messages, 1, tail, helper)
            assert [share[0], share[1]] == [None, None]
            assert share.hung is hung
        # The hub's own thread late on the first part: the writer decodes it, and the
        # worker, which answered, is not let go.
        share = share_of(messages, 1, done([None]), helper)
        share._head = Future()  # a prefetch that never ends
        assert share[0] is None and share[1] is None
        assert (share.head_late, share.hung) == (True, False)


# -- the share follows who waited -----------------------------------------------------------


class Worker:
    """A stand-in for the worker's pool: answers when told."""

    def __init__(self) -> None:
        self.futures: list[Future[list[Any]]] = []

    def submit(self, work: Callable[..., list[Any]], messages: list[Msg]) -> Future[list[Any]]:
        self.futures.append(Future())
        return self.futures[-1]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


def pool_with(worker: Worker) -> DecodePool:
    pool = DecodePool(workers=1, min_messages=2, models=True)
    pool._pool, pool._warm = worker, done([])  # type: ignore[assignment]
    return pool


def test_the_share_shrinks_when_the_writer_waited_and_grows_when_a_part_did() -> None:
    worker = Worker()
    pool = pool_with(worker)
    messages = [hf.readings(n, n) for n in range(1, 21)]
    try:
        assert pool.submit(messages[:1]) is None  # a small batch: the writer's
        first = pool.submit(messages)
        assert first is not None and first.first == 20 - round(0.6 * 20)
        start = pool.share
        first.late = True
        ahead = pool.submit(messages)  # cut before the move below
        assert ahead is not None
        pool.settle(first)
        assert pool.share == pytest.approx(start - SHARE_STEP)
        ahead.late = True
        pool.settle(ahead)  # the same wait, seen again: no second move
        assert pool.share == pytest.approx(start - SHARE_STEP)
        worker.futures[-1].set_result([])  # the worker did everything it was given
        grown = pool.submit(messages)
        assert grown is not None and pool.share == pytest.approx(start)
        grown.head_late = True  # the hub's thread was not done: the worker takes more
        pool.settle(grown)
        assert pool.share == pytest.approx(start + SHARE_STEP)
        for waited, bound in (("late", SHARE_MIN), ("head_late", SHARE_MAX)):
            for _ in range(40):
                made = pool.submit(messages)
                assert made is not None
                setattr(made, waited, True)
                pool.settle(made)
            assert pool.share == bound
        made = pool.submit(messages)
        assert made is not None and made.first == 0  # all the worker's
        made.hung = True
        pool.settle(made)  # a hung worker is let go: another starts later
        assert pool._pool is None
    finally:
        pool.close()


# -- whoever decoded, the store holds the same ---------------------------------------------


@pytest.fixture(scope="module")
def real_pool() -> Any:
    pool = DecodePool(workers=1, min_messages=1, models=True)
    assert pool.submit([hf.readings(1, 1)]) is None  # the first starts the worker
    assert pool._warm is not None
    pool._warm.result(timeout=30.0)
    yield pool
    pool.close()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches())
def test_the_store_holds_the_same_whoever_decoded_what(real_pool: DecodePool,
                                                        messages: list[Msg]) -> None:
    stores = [Store.open(":memory:") for _ in range(4)]
    try:
        reference = hf.core(stores[0]).handle_batch(messages, hf.T0 + 100)
        for store, part, prefetch in ((stores[1], 0.3, False), (stores[2], 0.6, True),
                                      (stores[3], 1.0, True)):
            real_pool.share = part
            share = real_pool.submit(messages)
            assert share is not None
            if prefetch:
                share.prefetch()
            acks = hf.core(store).handle_batch(messages, hf.T0 + 100, share)
            for message, made in zip(messages, share, strict=True):  # each its own
                assert made is None or repr(made) == repr(travelled([message])[0])
            assert hf.acked(acks) == hf.acked(reference)
            assert table_rows(store) == table_rows(stores[0])
    finally:
        for store in stores:
            store.close()


# -- the inbox's backlog, the service's batches ahead ---------------------------------------


def test_a_batch_is_taken_ahead_only_from_a_backlog() -> None:
    async def play() -> list[list[str]]:
        inbox = Inbox()
        taken = []
        for n in range(5):
            inbox.put(READINGS, b"%d" % n + b"x" * 99, 0.0)  # 100 bytes each
        taken.append(inbox.take_ready(3, 10_000))  # three waiting: a whole batch
        taken.append(inbox.take_ready(3, 10_000))  # two: not a batch
        taken.append(inbox.take_ready(10, 200))  # 200 bytes: a batch by its bytes
        inbox.put(READINGS, b"5", 0.0)
        inbox.put(ALARMS, b"a", 0.0)
        inbox.put(READINGS, b"6", 0.0)
        taken.append(inbox.take_ready(1, 10_000))  # an alarm waits: it goes first
        alarm, _ = await inbox.next_batch(10, 0.0)
        inbox.stop()
        taken.append(alarm)
        taken.append(inbox.take_ready(1, 10_000))
        taken.append(inbox.take_ready(1, 10_000))  # the alarm's wake mark is passed over
        taken.append(inbox.take_ready(1, 10_000))  # the stop marker stays for next_batch
        rest, more = await inbox.next_batch(10, 0.0)
        assert (rest, more) == ([], False)
        return [[p[:1].decode() for _, p, _ in batch] for batch in taken]

    assert asyncio.run(asyncio.wait_for(play(), 5.0)) == [
        ["0", "1", "2"], [], ["3", "4"], [], ["a"], ["5"], ["6"], []]


def ingest(tmp_path: Path) -> Ingest:
    devices = tmp_path / "devices.toml"
    devices.write_text(f'[devices."{hf.DEVICE}"]\nsite = "{hf.SITE}"\nroom = "{hf.ROOM}"\n',
                       encoding="utf-8")
    secret = tmp_path / "hub.password"
    secret.write_text("x", encoding="utf-8")
    return Ingest(parse_config({
        "mqtt": {"host": "127.0.0.1", "port": 1, "username": "hub",
                 "password_file": str(secret)},
        "broker": {"devices": str(devices)}, "store": {"path": str(tmp_path / "hub.db")},
        "ingest": {"batch_max": 2, "batch_wait_ms": 1}}))


def test_the_writer_takes_a_batch_ahead_from_a_backlog_and_alarms_still_go_first(
        tmp_path: Path) -> None:
    """Stored in order, two taken at most beyond the one stored (their shares already with
    the worker); an alarm arriving while a batch is stored goes before the next one even
    when two wait taken."""
    hub = ingest(tmp_path)
    events: list[tuple[str, list[str]]] = []

    def submit(messages: list[tuple[str, bytes]]) -> None:
        events.append(("taken", [p.decode() for _, p in messages]))

    async def store(batch: list[tuple[str, bytes, float]], share: Any = None) -> None:
        events.append(("stored", [p.decode() for _, p, _ in batch]))
        if batch[0][1] == b"2":
            hub._inbox.put(ALARMS, b"a", 0.0)
        await asyncio.sleep(0)  # the store's own await: the loop runs meanwhile

    async def play() -> None:
        hub._decoder.submit = submit  # type: ignore[method-assign]
        hub._store_batch = store  # type: ignore[method-assign]
        for n in range(10):
            hub._inbox.put(READINGS, str(n).encode(), 0.0)
        hub._inbox.stop()
        await hub._write()

    asyncio.run(asyncio.wait_for(play(), 10.0))
    assert events == [
        ("taken", ["0", "1"]), ("taken", ["2", "3"]), ("taken", ["4", "5"]),
        ("stored", ["0", "1"]), ("taken", ["6", "7"]), ("stored", ["2", "3"]),
        ("stored", ["a"]), ("taken", ["8", "9"]), ("stored", ["4", "5"]),
        ("stored", ["6", "7"]), ("stored", ["8", "9"])]


def test_without_a_backlog_nothing_is_taken_ahead(tmp_path: Path) -> None:
    hub = ingest(tmp_path)
    taken: list[int] = []
    stored: list[int] = []
    done = asyncio.Event()

    async def store(batch: list[tuple[str, bytes, float]], share: Any = None) -> None:
        stored.append(len(taken))
        done.set()

    async def feed() -> None:  # each message arrives once the one before is stored
        for n in range(4):
            done.clear()
            hub._inbox.put(READINGS, b"%d" % n, 0.0)
            await done.wait()
        hub._inbox.stop()

    async def play() -> None:
        hub._decoder.submit = lambda messages: taken.append(1)  # type: ignore[method-assign]
        hub._store_batch = store  # type: ignore[method-assign]
        await asyncio.gather(hub._write(), feed())

    asyncio.run(asyncio.wait_for(play(), 10.0))
    assert stored == [1, 2, 3, 4]  # each batch stored as soon as taken, one at a time


def test_a_hung_worker_is_killed_not_left_running() -> None:
    """A worker let go for hanging keeps no core and holds no exit: its process is killed."""
    pool = DecodePool(workers=1, min_messages=1)
    try:
        messages = [hf.readings(1, 2)]
        assert pool.submit(messages) is None  # the worker starts
        assert pool._warm is not None and pool._pool is not None
        pool._warm.result(timeout=60)
        processes = list(pool._pool._processes.values())  # type: ignore[attr-defined]
        assert processes and all(p.is_alive() for p in processes)
        share = pool.submit(messages)
        assert share is not None
        pool._pool.submit(time.sleep, 3600)  # the worker stuck: it would never exit by itself
        share.hung = True
        pool.settle(share)
        for process in processes:
            process.join(timeout=5)
        assert not any(p.is_alive() for p in processes)
        assert pool._pool is None
    finally:
        pool.close()
