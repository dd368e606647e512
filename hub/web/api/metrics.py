"""``GET /metrics``: the hub's state for Prometheus (text format 0.0.4), behind a bearer token.

A scraper sends the API token of an account (any role; a ``viewer`` account
made for it is enough) in ``Authorization: Bearer``; without one, or with a
bad one, ``/metrics`` answers 401 with ``WWW-Authenticate: Bearer``, never the
login page (a scraper cannot follow it, and a 303 would read as "up"). In
``prometheus.yml``::

    metrics_path: /metrics
    authorization: {type: Bearer, credentials_file: /etc/prometheus/voyant.token}

``/api/metrics`` serves the same text as the rest of the API does (a bearer
token or a session), for the scrape configurations written before ``/metrics``.

The text is written by prometheus-client from a custom collector
(:class:`StoreCollector`) registered on a registry of its own for each scrape,
never the process-wide default one: the collector reads the request's store
connection. Counters come from the store (the ``counters`` table, which the
ingest saves with every batch, and the ``alarms`` table, which only grows), so
they survive restarts and are exact whichever process serves the page; gauges
are read from the store at each scrape, each with one indexed query per device
at most (the store holds millions of readings); the ingest's queue depth is
added when the ingest runs in this process. The uptime counts from the app's
creation (``app.state.started``, set by :func:`hub.web.app.create_app`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric as Family

from hub.web.accounts import user_for_token
from hub.web.auth import User
from hub.web.deps import Db, Viewer


@dataclass(frozen=True, slots=True)
class Started:
    """When the hub started: monotonic for the uptime, wall clock for the start time."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> Started:
        return cls(time.monotonic(), time.time())


router = APIRouter()

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: (metric, counters-table name, help)
COUNTERS = (
    ("voyant_ingest_messages_total", "messages_ok", "Messages the ingest accepted."),
    ("voyant_ingest_rejected_total", "rejected_total",
     "Messages the ingest refused (see the rejected table)."),
    ("voyant_ingest_duplicates_total", "duplicates",
     "Records received again and stored once (resends)."),
    ("voyant_readings_stored_total", "readings_stored", "Dose-rate readings stored."),
    ("voyant_records_stored_total", "records_stored", "Records of every kind stored."),
    ("voyant_ingest_quarantined_total", "records_quarantined",
     "Records refused one by one and kept whole (see the quarantine table)."),
    ("voyant_ingest_lost_total", "records_lost",
     "Records declared lost: neither the agent nor the hub held them any more."),
    ("voyant_ingest_ack_stalls_total", "acks_stalled",
     "Times a device's acknowledgement stalled while it sent (ack_stalled events)."),
    ("voyant_changes_stored_total", "changes_stored", "Input change records stored."),
    ("voyant_ingest_record_conflicts_total", "record_conflicts",
     "Copies of stored records received again with other content (record_conflict events)."),
    ("voyant_ingest_chain_breaks_total", "chain_breaks",
     "Breaks of a journal's hash chain found as records arrived (chain_broken events)."),
)

#: The end of each device's newest reading: one index seek per device on
#: ``readings (device, start)`` (a device's readings are consecutive intervals, so the
#: one that starts last ends last), never a scan of the readings.
LAST_READING_SQL = """
SELECT d.device,
       (SELECT r."end" FROM readings r WHERE r.device = d.device
        ORDER BY r.start DESC LIMIT 1) AS last_end
FROM devices d ORDER BY d.device
"""

#: One row per edge alarm (raised, then replaced by its clearing): few, scanned whole.
ALARMS_SQL = """
SELECT kind, COUNT(*) AS total, SUM(state = 'active') AS active
FROM alarms GROUP BY kind ORDER BY kind
"""

Samples = Iterable[tuple[tuple[str, ...], float]]


def _gauge(name: str, help_text: str, samples: Samples,
           labels: tuple[str, ...] = ()) -> Family:
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, help_text: str, samples: Samples,
             labels: tuple[str, ...] = ()) -> Family:
    family = CounterMetricFamily(name, help_text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      [name]).fetchone() is not None


def _age_s(iso: str | None, now: datetime) -> float | None:
    if not iso:
        return None
    try:
        at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (now - at).total_seconds())


def store_sizes(db: sqlite3.Connection) -> tuple[int, int]:
    """(database file, write-ahead log) sizes in bytes; (0, 0) for an in-memory store.

    The WAL counts: between checkpoints it holds what the database file does not
    yet, and a WAL that keeps growing means checkpoints are starved.
    """
    path = next((str(row[2]) for row in db.execute("PRAGMA database_list")
                 if row[1] == "main"), "")
    if not path:
        return 0, 0
    return _size(path), _size(path + "-wal")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class StoreCollector:
    """A custom collector: the hub's metric families, read from the store when collected."""

    def __init__(self, db: sqlite3.Connection, started: Started, ingest: Any = None,
                 now: datetime | None = None) -> None:
        self.db, self.started, self.ingest = db, started, ingest
        self.now = now or datetime.now(UTC)

    def collect(self) -> Iterator[Family]:
        yield from self._process()
        yield from self._counters()
        yield from self._devices()
        yield from self._alarms_and_events()
        if self.ingest is not None:
            yield from self._ingest(self.ingest.stats())

    def _process(self) -> Iterator[Family]:
        yield _gauge("voyant_hub_uptime_seconds", "Seconds since the hub started.",
                     [((), round(time.monotonic() - self.started.monotonic, 3))])
        yield _gauge("voyant_hub_start_time_seconds",
                     "When the hub started, in seconds since the Unix epoch.",
                     [((), round(self.started.wall, 3))])
        db_bytes, wal_bytes = store_sizes(self.db)
        yield _gauge("voyant_store_size_bytes",
                     "Size of the store on disk: the database file and its write-ahead log.",
                     [((), db_bytes + wal_bytes)])
        yield _gauge("voyant_store_wal_size_bytes",
                     "Size of the store's write-ahead log (part of voyant_store_size_bytes).",
                     [((), wal_bytes)])

    def _counters(self) -> Iterator[Family]:
        counters: dict[str, int] = {}
        if _table(self.db, "counters"):
            counters = {str(r[0]): int(r[1])
                        for r in self.db.execute("SELECT name, value FROM counters")}
        for metric, name, help_text in COUNTERS:
            yield _counter(metric, help_text, [((), counters.get(name, 0))])

    def _devices(self) -> Iterator[Family]:
        db, now = self.db, self.now
        devices: list[sqlite3.Row] = []
        if _table(db, "devices"):
            devices = list(db.execute(
                "SELECT device, online, last_seen FROM devices ORDER BY device"))
        online = sum(1 for d in devices if d["online"])
        yield _gauge("voyant_devices", "Devices known to the hub, by presence.",
                     [(("online",), online), (("offline",), len(devices) - online)],
                     ("state",))
        ages = [(d["device"], _age_s(d["last_seen"], now)) for d in devices]
        yield _gauge(
            "voyant_device_last_seen_age_seconds",
            "Seconds since the device's last message of any kind (heartbeats included).",
            [((str(device),), age) for device, age in ages if age is not None], ("device",))
        readings: list[sqlite3.Row] = []
        if devices and _table(db, "readings"):
            readings = list(db.execute(LAST_READING_SQL))
        reading_ages = [(r["device"], _age_s(r["last_end"], now)) for r in readings]
        yield _gauge(
            "voyant_device_last_reading_age_seconds",
            "Seconds since the end of the device's newest dose-rate reading in the store.",
            [((str(device),), age) for device, age in reading_ages if age is not None],
            ("device",))

    def _alarms_and_events(self) -> Iterator[Family]:
        db = self.db
        alarms: list[sqlite3.Row] = list(db.execute(ALARMS_SQL)) if _table(db, "alarms") else []
        yield _counter("voyant_alarms_total",
                       "Edge alarms received, by kind (each alarm once, cleared or not).",
                       [((str(a["kind"]),), int(a["total"])) for a in alarms], ("kind",))
        yield _gauge("voyant_alarms_active", "Edge alarms raised and not cleared, by kind.",
                     [((str(a["kind"]),), int(a["active"] or 0)) for a in alarms], ("kind",))
        events: list[sqlite3.Row] = []
        if _table(db, "events"):
            events = list(db.execute(
                "SELECT kind, state, COUNT(*) AS n FROM events WHERE state != 'closed'"
                " GROUP BY kind, state ORDER BY kind, state"))
        yield _gauge(
            "voyant_events_open",
            "Events not closed by the PCR, by kind and review state (open, acknowledged).",
            [((str(e["kind"]), str(e["state"])), int(e["n"])) for e in events],
            ("kind", "state"))

    @staticmethod
    def _ingest(stats: dict[str, Any]) -> Iterator[Family]:
        yield _gauge("voyant_ingest_queue_depth", "Messages received and waiting for the store.",
                     [((), int(stats.get("queued", 0)))])
        yield _gauge("voyant_ingest_connected", "1 while the ingest is connected.",
                     [((), int(bool(stats.get("connected"))))])
        yield _gauge("voyant_ingest_unsent_acks", "Acknowledgements waiting for the broker.",
                     [((), int(stats.get("unsent_acks", 0)))])


def render_metrics(db: sqlite3.Connection, started: Started, ingest: Any = None,
                   now: datetime | None = None) -> str:
    """The exposition text (a function of its own: the tests call it too)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db, started, ingest, now))
    return generate_latest(registry).decode()


def require_bearer(request: Request, db: Db) -> User:
    """``/metrics``'s caller: an API token in ``Authorization: Bearer``, of any role.

    Outside ``/api/`` the session middleware ignores tokens and a missing login
    means the login page; a scraper needs a 401 it can report instead. A
    session alone is not enough here (``/api/metrics`` takes one).
    """
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    user = user_for_token(db, token) if token else None
    if user is None:
        detail = "invalid or revoked token" if token else "a bearer token is required"
        raise HTTPException(status_code=401, detail=detail,
                            headers={"WWW-Authenticate": "Bearer"})
    return user


require_bearer.required_role = "viewer"  # type: ignore[attr-defined]  # the route walk


def _respond(request: Request, db: sqlite3.Connection) -> Response:
    started: Started = request.app.state.started
    text = render_metrics(db, started, request.app.state.ingest)
    return Response(text, media_type=CONTENT_TYPE)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, user: Annotated[User, Depends(require_bearer)],
            db: Db) -> Response:
    """Prometheus scrape: a bearer API token of any role; 401 otherwise, never a page."""
    return _respond(request, db)


@router.get("/api/metrics", include_in_schema=False)
def api_metrics(request: Request, user: Viewer, db: Db) -> Response:
    """The same text under ``/api/`` (a bearer token or a session), for older scrape configs."""
    return _respond(request, db)
