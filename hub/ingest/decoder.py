"""The decode worker: large batches decoded on the second core while the writer stores.

The ingest's own work per reading (the contract's validation, each record's canonical
bytes and hash) cost more than SQLite's (issue 18: the hub stored 26,000 readings/s
where a plain loop stored 48,500). That work is pure (:mod:`hub.ingest.predecode`), so
one worker process decodes most of each batch (the contract's validation, each record's
canonical bytes and hash) and sends back a run of readings as rows ready for the INSERTs
(:mod:`hub.ingest.runs`), any other record batch as the validated models with the
arrivals. The same functions decode the rest of the batch in the hub.

How a batch is shared (:class:`Share`), and why (issue 18 item 2, bench/ingest.py):

* the worker takes the *end* of the batch, as soon as the batch is taken, while the
  batches before are stored (the service takes a second batch ahead when a backlog
  waits): the writer begins the batch at once and waits for the worker's answer only
  when it reaches it. With the worker's share first, the writer waited for the whole
  share before beginning, and the worker, done, waited for the next batch: each idled a
  tenth of the time;
* the first messages are decoded by a thread of the hub while the writer waits for the
  disk at the commit of the batch before (a quarter of its time: ``synchronous=FULL``),
  when Python's interpreter lock is free (:meth:`Share.prefetch`); failing that (the
  first batch, a commit that came too soon) by the writer itself, as it stores them;
* the worker's share grows when it ran out of work (everything it was given done when
  the next batch is handed to it) or when the writer waited for the hub's thread, and
  shrinks when the writer waited for the worker (:meth:`DecodePool.settle`).

The worker starts with the first large batch (``[ingest] decode_min_messages``
messages or more; small batches, alarms among them, never wait for a process hop),
and is warm from the next one; until then, or if it breaks, hangs, or if a result cannot
come back (a hostile record nested too deep to pickle), the writer decodes itself,
with the same functions: the outcome is the same either way.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, overload

from hub.ingest.predecode import Sent, arrivals_all, decode_all
from hub.logs import log

#: The worker's share of a batch's messages: first, least and most; and the step by which
#: it moves.
SHARE_START, SHARE_MIN, SHARE_MAX, SHARE_STEP = 0.6, 0.1, 1.0, 0.05
#: How long the writer waits for a part's decode before decoding it itself (seconds): it
#: waits inside its transaction, holding the write lock, and a worker that hangs must not
#: stop the ingest nor the pages and jobs (whose busy timeout is 10 s: two parts at most).
SHARE_TIMEOUT_S = 3.0

Messages = list[tuple[str, bytes]]
Work = Callable[[Messages], list[Any]]


class Share(Sequence[Any]):
    """A batch's decode as the core reads it (``decoded[i]``, in order, in the writer's
    thread): the first ``first`` messages' from the hub's decode thread if
    :meth:`prefetch` started it, else None (the writer decodes them); the others' from the
    worker, waited for when the writer reaches the first of them."""

    def __init__(self, messages: Messages, first: int, tail: Future[list[Any]], work: Work,
                 helper: ThreadPoolExecutor, made_at: int) -> None:
        self.messages, self.first, self.tail, self.made_at = messages, first, tail, made_at
        self._work, self._helper = work, helper
        self._head: Future[list[Any]] | None = None
        self._made_head: list[Any] | None = None
        self._made_tail: list[Any] | None = None
        #: The writer reached the worker's messages before their answer came: it waited.
        self.late = False
        #: The writer reached its first messages before the hub's thread had decoded them.
        self.head_late = False
        #: No answer from the worker within :data:`SHARE_TIMEOUT_S`: it is let go.
        self.hung = False

    def prefetch(self) -> None:
        """Have the hub's decode thread decode the first messages now (the writer calls
        this as it commits the batch before, and then waits for the disk)."""
        if self._head is None and self.first:
            with contextlib.suppress(RuntimeError):  # shut down: the writer decodes them
                self._head = self._helper.submit(self._work, self.messages[:self.first])

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index < self.first:
            if self._head is None:
                return None
            if self._made_head is None:
                self.head_late = not self._head.done()
                self._made_head = self._answer(self._head, self.first, "hub_thread")
            return self._made_head[index]
        if self._made_tail is None:
            self.late = not self.tail.done()
            self._made_tail = self._answer(self.tail, len(self) - self.first, "worker")
        return self._made_tail[index - self.first]

    def _answer(self, future: Future[list[Any]], count: int, part: str) -> list[Any]:
        """A part's decode; None for each of its messages when there is none (a broken
        worker, a result that cannot travel back, a part that hangs): the writer's. Only
        the worker's part hanging lets the worker go (the hub's thread is only slow)."""
        try:
            made = future.result(timeout=SHARE_TIMEOUT_S)
        except TimeoutError:
            self.hung = self.hung or part == "worker"
            log("decode_part_late", logging.ERROR, part=part, waited_s=SHARE_TIMEOUT_S)
            return [None] * count
        except Exception as exc:
            log("decode_worker_failed", logging.WARNING, error=repr(exc)[:300])
            return [None] * count
        if len(made) != count:  # never: then the writer's, to be safe
            log("decode_worker_failed", logging.ERROR, error="an answer of another length")
            return [None] * count
        return made


class DecodePool:
    """``submit(messages)``: a batch's :class:`Share`, or None (the writer decodes the
    whole batch); ``settle(share)`` once the batch is stored; ``close()`` at the end."""

    def __init__(self, workers: int, min_messages: int, *, models: bool = False) -> None:
        """``models``: the decode is sent back whole (:func:`decode_all`: the writer no
        longer validates those messages), else only the arrivals (:func:`arrivals_all`)."""
        self.workers, self.min_messages, self.models = workers, min_messages, models
        self.share = SHARE_START
        self.setting = 0  # how many times the share moved
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[list[list[Sent] | None]] | None = None
        self._last: Future[list[Any]] | None = None  # the last share handed to the worker
        self._helper: ThreadPoolExecutor | None = None  # the hub's decode thread

    def submit(self, messages: Messages) -> Share | None:
        """Hand the last ``share`` of ``messages`` to the worker, at once (None: the writer
        decodes them all: a small batch, the worker not started or not warm yet, or gone).
        The worker had done everything it was given: the share grows."""
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
        if self._last is not None and self._last.done():  # it waited for work
            self._move(SHARE_STEP)
        first = len(messages) - max(1, min(len(messages), round(self.share * len(messages))))
        work: Work = decode_all if self.models else arrivals_all
        try:
            self._last = self._pool.submit(work, messages[first:])
        except Exception as exc:  # a pool broken since the last batch
            log("decode_worker_failed", logging.WARNING, error=repr(exc)[:300])
            self.close()  # another starts with the next large batch
            return None
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="hub-decode")
        return Share(messages, first, self._last, work, self._helper, self.setting)

    def settle(self, share: Share) -> None:
        """After the writer stored a batch: it had waited for the worker, so the worker
        takes less of the next; it had waited for the hub's thread, so the worker takes
        more. Not when the share was cut before the last move: the batches taken ahead
        still come with the old share, and the move follows them once, not once each. A
        broken or hung worker is let go (another starts with the next large batch)."""
        if share.made_at == self.setting:
            if share.late:
                self._move(-SHARE_STEP)
            elif share.head_late:
                self._move(SHARE_STEP)
        if self._pool is not None and (share.hung or _broken(self._pool)):
            self.close(kill=share.hung)

    def _move(self, step: float) -> None:
        self.share = min(SHARE_MAX, max(SHARE_MIN, self.share + step))
        self.setting += 1

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")  # never fork a threaded process
        context.set_forkserver_preload(["hub.ingest.predecode"])
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                         initializer=watch_parent, initargs=(os.getpid(),))
        self._warm = self._pool.submit(arrivals_all, [])  # the worker starts meanwhile
        log("decode_worker_started", workers=self.workers)

    def close(self, kill: bool = False) -> None:
        """Let the worker go (``kill``: a hung one, which would keep a core and hold the
        hub's exit, its processes killed first)."""
        pool, self._pool, self._warm, self._last = self._pool, None, None, None
        helper, self._helper = self._helper, None
        if pool is not None:
            if kill:  # the executor's own table of its processes (no public one before 3.14)
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    with contextlib.suppress(Exception):
                        process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
        if helper is not None:
            helper.shutdown(wait=False, cancel_futures=True)


#: How often a worker looks whether the hub that started it is still there (seconds).
PARENT_CHECK_S = 2.0
#: New objects between two of the worker's collections (Python's default: 700).
WORKER_GC_THRESHOLD = 10_000


def watch_parent(hub_pid: int) -> None:
    """The worker's initializer: a thread that ends the worker once the hub has gone; and
    its garbage collector's pace.

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
    # The worker makes a hundred thousand short-lived objects a second: collected every
    # 10,000 new ones instead of 700, its decode costs 3 % less; what it imported stays
    # (frozen: collections skip it).
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])


def _broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))
