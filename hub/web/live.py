"""Live updates: ``GET /live/stream``, server-sent events telling pages what changed.

Events carry no data a page shows, only *what* changed; the page then fetches
its own fragment (``hx-trigger="sse:rooms"``), through the same routes and
the same permissions as any request:

- ``rooms``: a room's live state (``live``) or presence (``devices``: online,
  status) changed;
- ``events``: the ``events`` table changed (a new event, closed, acknowledged...).

One :class:`Broadcaster` per app polls the store every ``interval_s`` (0.5 s),
or at once when :meth:`Broadcaster.poke` wakes it (the ingest, after committing an
alarm: the PCR sees it without waiting for the next poll), on its own connection,
whoever is listening: ``PRAGMA data_version`` first
(it moves only when another connection committed), then cheap change markers
of the three tables, and puts the names of what changed on every subscriber's
queue. The events' marker is read and published first, the rooms' after it: at ten
times a site's load the rooms' (every live state and presence) took most of a poll,
which the notice of an alarm's poke no longer waits for (issue 18; a poke arriving
during a poll's rooms' read still waits for that read). It starts with the first subscriber
and stops by itself once nobody has listened for ``idle_stop_s``; :func:`stop` ends it
at once (for the app's shutdown). It only reads: the rollups are the job's (:mod:`hub.jobs`).

Each event has an id; a browser reconnecting (``Last-Event-ID``) first gets
``rooms`` and ``events`` at once, so that nothing missed while it was away
stays stale. Keep-alive comments go out every ``PING_S`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hub.db.connection import connect
from hub.web.deps import Viewer

log = logging.getLogger(__name__)

ROOMS: Final = "rooms"
EVENTS: Final = "events"
PING_S: Final = 15
QUEUE_MAX: Final = 16

router = APIRouter()


class Broadcaster:
    """One poller for the app, fanning change notices out to every subscriber's queue."""

    def __init__(self, store_path: str, *, interval_s: float = 0.5,
                 idle_stop_s: float = 10.0) -> None:
        self.store_path = store_path
        self.interval_s, self.idle_stop_s = interval_s, idle_stop_s
        self.subscribers: set[asyncio.Queue[tuple[int, str]]] = set()
        self.task: asyncio.Task[None] | None = None
        self.next_id = 0
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._markers: dict[str, str] = {}
        #: Markers to read again: the store moved since each was last read.
        self._stale: set[str] = set(MARKERS)
        self._lock = threading.Lock()
        self._poked = asyncio.Event()
        #: Set once the poller has taken its baseline: a change after it is news.
        self.baseline = asyncio.Event()

    # -- subscribers -------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[tuple[int, str]]:
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(QUEUE_MAX)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.baseline = asyncio.Event()
            self.task = asyncio.create_task(self.run(), name="live-broadcaster")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[int, str]]) -> None:
        self.subscribers.discard(queue)

    def poke(self) -> None:
        """Poll now rather than at the next interval (call on the app's loop)."""
        self._poked.set()

    def publish(self, names: list[str]) -> None:
        """Put each name on every queue (a full queue drops it: its page is far behind)."""
        for name in names:
            self.next_id += 1
            for queue in list(self.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait((self.next_id, name))

    # -- the poller --------------------------------------------------------------------------

    async def run(self) -> None:
        idle_since: float | None = None
        try:
            await asyncio.to_thread(self.changes)  # the baseline: what exists now is not news
            self.baseline.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poked.wait(), self.interval_s)
                self._poked.clear()
                if self.subscribers:
                    idle_since = None
                else:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= self.idle_stop_s:
                        return
                try:
                    for part in PARTS:  # an event's notice does not wait for the rooms'
                        self.publish(await asyncio.to_thread(self.changes, part))
                except sqlite3.Error:
                    log.warning("live poll failed", exc_info=True)
                    self._close()
        finally:
            self._close()

    def changes(self, names: tuple[str, ...] = (EVENTS, ROOMS)) -> list[str]:
        """Which of ``names`` changed since they were last asked for (none the first time),
        from the store. A name not asked for is looked at by the next call asking for it."""
        with self._lock:
            return self._changes(names)

    def _changes(self, names: tuple[str, ...]) -> list[str]:
        conn = self._connection()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._version:
            self._version = version
            self._stale = set(MARKERS)
        changed: list[str] = []
        for name in names:
            if name not in self._stale:
                continue
            value = MARKERS[name](conn)  # a failed read leaves it to read again
            self._stale.discard(name)
            if name in self._markers and self._markers[name] != value:
                changed.append(name)
            self._markers[name] = value
        return changed

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Used from one worker thread at a time (each poll is awaited before the next).
            self._conn = connect(self.store_path)
            self._version = None
        return self._conn

    def _close(self) -> None:
        with self._lock:  # a poll cancelled mid-query finishes in its thread first
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def stop(self) -> None:
        """End the poller now (the app's shutdown); subscribers' streams end too."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait((0, ""))  # end of stream


def _digest(rows: list[Any]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for row in rows:
        h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _rooms_marker(conn: sqlite3.Connection) -> str:
    """What the overview shows: live payloads (less their heartbeat time) and presence."""
    live = conn.execute(
        "SELECT device, json_remove(payload, '$.at', '$.outbox', '$.sent') FROM live"
        " ORDER BY device").fetchall()
    devices = conn.execute(
        "SELECT device, online, status_state, status_at, agent FROM devices ORDER BY device"
    ).fetchall()
    return _digest(live) + _digest(devices)


def _events_marker(conn: sqlite3.Connection) -> str:
    """Any insert, delete or change to ``events``, whatever columns it has grown.

    Per column: the total length of its values, and the sum of its numbers and of
    the first character codes of its texts; with the row count and highest id.
    """
    columns = [str(r[1]) for r in conn.execute("PRAGMA table_info(events)")]
    if not columns:
        return ""
    parts = ["count(*)", "max(id)"]
    for name in columns:
        q = '"' + name.replace('"', '""') + '"'
        parts.append(f"total(length({q}))")
        parts.append(f"total(CASE WHEN typeof({q}) IN ('integer', 'real') THEN {q}"
                     f" WHEN typeof({q}) = 'text' THEN unicode({q}) END)")
    row = conn.execute(f"SELECT {', '.join(parts)} FROM events").fetchone()
    return repr(tuple(row))


MARKERS: Final[dict[str, Callable[[sqlite3.Connection], str]]] = {
    ROOMS: _rooms_marker, EVENTS: _events_marker}
#: What one poll reads and publishes, in order: the events' notice first.
PARTS: Final = ((EVENTS,), (ROOMS,))


def broadcaster(app: FastAPI) -> Broadcaster:
    """The app's broadcaster (created on first use)."""
    found = getattr(app.state, "live_broadcaster", None)
    if found is None:
        found = Broadcaster(app.state.store_path)
        app.state.live_broadcaster = found
    assert isinstance(found, Broadcaster)
    return found


async def stop(app: FastAPI) -> None:
    """Stop the app's poller, if any: call from the app's lifespan on shutdown."""
    found = getattr(app.state, "live_broadcaster", None)
    if isinstance(found, Broadcaster):
        await found.stop()


async def _stream(request: Request, hub: Broadcaster,
                  queue: asyncio.Queue[tuple[int, str]]) -> AsyncIterator[ServerSentEvent]:
    try:
        if request.headers.get("last-event-id"):
            for name in (ROOMS, EVENTS):
                yield ServerSentEvent(data=name, event=name, id=str(hub.next_id))
        while True:
            event_id, name = await queue.get()
            if not name:
                return
            yield ServerSentEvent(data=name, event=name, id=str(event_id))
    finally:
        hub.unsubscribe(queue)


@router.get("/live/stream", include_in_schema=False)
async def live_stream(request: Request, user: Viewer) -> EventSourceResponse:
    """Server-sent events: ``rooms`` and ``events`` when those change (no data to show)."""
    hub = broadcaster(request.app)
    queue = hub.subscribe()
    return EventSourceResponse(_stream(request, hub, queue), ping=PING_S,
                               headers={"Cache-Control": "no-store"})
