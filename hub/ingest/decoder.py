"""The decode worker: large batches decoded on the second core while the writer stores.

The ingest's own work per reading (the contract's validation, each record's canonical
bytes and hash) cost more than SQLite's (issue 18: the hub stored 26,000 readings/s
where a plain loop stored 48,500). That work is pure (:mod:`hub.ingest.predecode`), so
one worker process makes a batch's arrivals (each record's canonical bytes and hash)
while the single writer thread stores the batch before; the writer then validates the
batch (the contract's models cost more to send back than to make again) and takes
the arrivals instead of making them.

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
from concurrent.futures import Future, ProcessPoolExecutor

from hub.ingest.predecode import Sent, arrivals_all
from hub.logs import log


class DecodePool:
    """``await decode(messages)``: each message's arrivals, or None (the writer makes them)."""

    def __init__(self, workers: int, min_messages: int) -> None:
        self.workers, self.min_messages = workers, min_messages
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[list[list[Sent] | None]] | None = None

    async def decode(self, messages: list[tuple[str, bytes]]) -> list[list[Sent] | None] | None:
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
        try:
            return await asyncio.wrap_future(self._pool.submit(arrivals_all, messages))
        except Exception as exc:  # a broken worker, a result that cannot travel back
            log("decode_worker_failed", logging.WARNING, error=repr(exc)[:300])
            if _broken(self._pool):
                self.close()  # started again with the next large batch
            return None

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")  # never fork a threaded process
        context.set_forkserver_preload(["hub.ingest.predecode"])
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        self._warm = self._pool.submit(arrivals_all, [])  # the worker starts meanwhile
        log("decode_worker_started", workers=self.workers)

    def close(self) -> None:
        pool, self._pool, self._warm = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))
