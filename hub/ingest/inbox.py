"""What the broker delivered, waiting for the writer: in batches, alarms first.

The listener puts each message here; the writer takes a batch of up to
``batch_max`` messages, waiting up to ``batch_wait_ms`` for it to fill. Alarm
batches go in a lane of their own: the next batch taken holds every alarm
waiting, before any reading queued earlier, and a batch holding an alarm is
never held open to fill. So an alarm never waits behind a backlog of readings
(issue 18: an alarm on the PCR's screen within half a second, at ten times a
site's load). The contract allows it: each record is keyed by its own
(device, journal, seq), and the agents themselves send alarms first.

When a backlog waits, the writer also takes the batch after next at once
(:meth:`Inbox.take_ready`), so that the decode worker has it in hand before it runs
out of work (:mod:`hub.ingest.decoder`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from wire.contract import ALARMS

Item = tuple[str, bytes, float]  # (topic, payload, received monotonic)
#: Put on the queue when an alarm arrives, so that a writer waiting on the queue wakes.
_WAKE: Final[Item] = ("", b"", 0.0)


class Inbox:
    """An asyncio queue of messages (``None``: stop) with an alarm lane in front."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._alarms: deque[Item] = deque()
        self._bytes = 0  # payload bytes in the queue

    def put(self, topic: str, payload: bytes, received: float) -> None:
        if is_alarm(topic):
            self._alarms.append((topic, payload, received))
            self._queue.put_nowait(_WAKE)
        else:
            self._queue.put_nowait((topic, payload, received))
            self._bytes += len(payload)

    def stop(self) -> None:
        """The writer takes what is queued, then stops."""
        self._queue.put_nowait(None)

    def qsize(self) -> int:
        """Messages waiting (an alarm counted by its wake mark, until the writer meets it)."""
        return self._queue.qsize()

    def alarms_waiting(self) -> bool:
        return bool(self._alarms)

    async def next_batch(self, batch_max: int, wait_s: float,
                         bytes_max: int = 1 << 62) -> tuple[list[Item], bool]:
        """(a batch, whether more may come): alarms waiting first, alone and at once. A batch
        of readings stops at ``bytes_max`` payload bytes: its store time, which an alarm
        arriving meanwhile waits for, stays bounded."""
        if self._alarms:
            return self._take_alarms(batch_max), True
        loop = asyncio.get_running_loop()
        first = self._took(await self._queue.get())
        if first is None:
            return [], False
        if first is _WAKE:
            return self._take_alarms(batch_max), True
        batch = [first]
        size = len(first[1])
        deadline = loop.time() + wait_s
        while True:
            size, stopped = self._fill(batch, size, batch_max, bytes_max)
            if stopped:  # stop once the alarms waiting are taken too
                return batch, True
            if len(batch) >= batch_max or size >= bytes_max or self._alarms:
                return batch, True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return batch, True
            try:  # the queue is empty: wait for the next message until the deadline
                item = self._took(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                return batch, True
            if item is None:  # the stop marker: kept for the next call, as _fill keeps it
                self._queue.put_nowait(None)
                return batch, True
            if item is not _WAKE:
                batch.append(item)
                size += len(item[1])

    def take_ready(self, batch_max: int, bytes_max: int = 1 << 62) -> list[Item]:
        """A whole batch of readings if one waits in the queue (``batch_max`` messages or
        ``bytes_max`` bytes), taken now; else nothing, and never while alarms wait (they
        go first, with :meth:`next_batch`). Never waits."""
        if self._alarms or (self._queue.qsize() < batch_max and self._bytes < bytes_max):
            return []
        batch: list[Item] = []
        self._fill(batch, 0, batch_max, bytes_max)
        return batch

    def _fill(self, batch: list[Item], size: int, batch_max: int, bytes_max: int
              ) -> tuple[int, bool]:
        """Add to ``batch`` what waits in the queue now, up to ``batch_max`` messages or
        ``bytes_max`` bytes, stopping at an alarm's arrival; (its size, whether the stop
        marker was met: it is put back, for :meth:`next_batch`)."""
        while len(batch) < batch_max and size < bytes_max and not self._alarms:
            try:
                item = self._took(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return size, False
            if item is None:
                self._queue.put_nowait(None)
                return size, True
            if item is not _WAKE:
                batch.append(item)
                size += len(item[1])
        return size, False

    def _took(self, item: Item | None) -> Item | None:
        if item is not None:
            self._bytes -= len(item[1])
        return item

    def _take_alarms(self, batch_max: int) -> list[Item]:
        taken: list[Item] = []
        while self._alarms and len(taken) < batch_max:
            taken.append(self._alarms.popleft())
        return taken


def is_alarm(topic: str) -> bool:
    return topic.endswith("/" + ALARMS)
