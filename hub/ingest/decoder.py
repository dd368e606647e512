"""The decode worker: large batches decoded on the second core while the writer stores.

The ingest's own work per reading (the contract's validation, each record's canonical
bytes and hash) cost more than SQLite's (issue 18: the hub stored 26,000 readings/s
where a plain loop stored 48,500). That work is pure (:mod:`hub.ingest.predecode`), so
one worker process decodes a share of a batch (the contract's validation, each record's
canonical bytes and hash) while the single writer thread stores the batch before, and
sends back a run of readings as rows ready for the INSERTs (:mod:`hub.ingest.runs`: 1.4 µs
a reading to unpickle, where the validated models took 6), any other record batch as the
validated models with the arrivals. The writer decodes the rest of the batch itself, the
share balanced so that neither waits for the other.

The worker starts with the first large batch (``[ingest] decode_min_messages``
messages or more; small batches, alarms among them, never wait for a process hop),
and is warm from the next one; until then, or if it breaks, or if a result cannot
come back (a hostile record nested too deep to pickle), the writer decodes itself,
with the same functions: the outcome is the same either way.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from hub.ingest.predecode import Sent, arrivals_all, decode_all
from hub.logs import log

#: The worker's share of a batch's messages: first, least and most; and the step by which
#: :meth:`DecodePool.balance` moves it.
SHARE_START, SHARE_MIN, SHARE_MAX, SHARE_STEP = 0.6, 0.1, 1.0, 0.05


class DecodePool:
    """``await decode(messages)``: each message's arrivals, or None (the writer makes them).

    The worker validates and hashes a message in about twice the time the writer takes to
    store it: given the whole batch it kept the writer idle half the time. So it takes the
    first ``share`` of each batch and the writer makes the rest's arrivals itself, the share
    moved after each batch towards both finishing together (:meth:`balance`)."""

    def __init__(self, workers: int, min_messages: int, *, models: bool = False) -> None:
        """``models``: the worker sends back its whole decode (:func:`decode_all`: the
        writer no longer validates those messages), else only the arrivals."""
        self.workers, self.min_messages, self.models = workers, min_messages, models
        self.share = SHARE_START
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[list[list[Sent] | None]] | None = None

    async def decode(self, messages: list[tuple[str, bytes]]) -> list[Any] | None:
        """Per message: its arrivals (``list[Sent]``) or, with ``models``, its whole decode
        (``Made``); None where the writer decodes it, or None for the whole batch."""
        if self.workers <= 0 or len(messages) < self.min_messages:
            return None
        if self._pool is None or self._warm is None:
            self._start()
            return None
        if not self._warm.done():
            return None
        if self._warm.exception() is not None:  # no worker on this machine: the writer's
            log("decode_worker_unavailable", logging.WARNING,
                error=repr(self._warm.exception())[:300])
            self.close()
            self.workers = 0
            return None
        mine = max(1, min(len(messages), round(self.share * len(messages))))
        try:
            work: Callable[[list[tuple[str, bytes]]], list[Any]] = (
                decode_all if self.models else arrivals_all)
            made: list[Any] = await asyncio.wrap_future(
                self._pool.submit(work, messages[:mine]))
            return made + [None] * (len(messages) - mine)
        except Exception as exc:  # a broken worker, a result that cannot travel back
            log("decode_worker_failed", logging.WARNING, error=repr(exc)[:300])
            if _broken(self._pool):
                self.close()  # started again with the next large batch
            return None

    def balance(self, *, writer_waited: bool) -> None:
        """The writer was idle when the worker's share came back: the worker takes less of the
        next batch; else (the worker waited for the writer) more."""
        step = -SHARE_STEP if writer_waited else SHARE_STEP
        self.share = min(SHARE_MAX, max(SHARE_MIN, self.share + step))

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")  # never fork a threaded process
        context.set_forkserver_preload(["hub.ingest.predecode"])
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                         initializer=watch_parent, initargs=(os.getpid(),))
        self._warm = self._pool.submit(arrivals_all, [])  # the worker starts meanwhile
        log("decode_worker_started", workers=self.workers)

    def close(self) -> None:
        pool, self._pool, self._warm = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


#: How often a worker looks whether the hub that started it is still there (seconds).
PARENT_CHECK_S = 2.0


def watch_parent(hub_pid: int) -> None:
    """The worker's initializer: a thread that ends the worker once the hub has gone.

    A worker is the forkserver's child and holds the forkserver's alive pipe: killed
    without its shutdown (SIGKILL, a test's teardown), the hub would leave both behind,
    blocked on a queue nobody writes to any more."""
    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(hub_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # a process of another user took the number
                os._exit(0)

    threading.Thread(target=watch, name="hub-watch", daemon=True).start()


def _broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))
