"""``GET /api/metrics``: the hub's state for Prometheus (text format 0.0.4), behind an API token.

It sits under ``/api/`` because that is where the hub honours
``Authorization: Bearer`` tokens (and answers 401, never a login page): a
scraper logs in with the API token of an account (any role; a ``viewer``
account made for it is enough), e.g. in ``prometheus.yml``::

    metrics_path: /api/metrics
    authorization: {type: Bearer, credentials_file: /etc/prometheus/voyant.token}

Counters come from the store's ``counters`` table (the ingest saves them with
every batch), so they survive restarts and are exact whichever process
serves the page; gauges are read from the store at each scrape; the ingest's
queue depth is added when the ingest runs in this process.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hub.web.auth import User, require
from hub.web.db import get_db

router = APIRouter()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: When the web module was loaded: the hub process's start, near enough.
STARTED = time.monotonic()

#: (metric, counters-table name, help)
COUNTERS = (
    ("voyant_ingest_messages_total", "messages_ok", "Messages the ingest accepted."),
    ("voyant_ingest_rejected_total", "rejected_total",
     "Messages the ingest refused (see the rejected table)."),
    ("voyant_ingest_duplicates_total", "duplicates",
     "Records received again and stored once (resends)."),
    ("voyant_readings_stored_total", "readings_stored", "Dose-rate readings stored."),
    ("voyant_records_stored_total", "records_stored", "Records of every kind stored."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {_number(value)}" if inner
                              else f"{name} {_number(value)}")


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


def render_metrics(db: sqlite3.Connection, ingest: Any = None,
                   now: datetime | None = None) -> str:
    """The exposition text (a function of its own: the tests call it too)."""
    now = now or datetime.now(UTC)
    out = _Text()
    out.metric("voyant_hub_uptime_seconds", "gauge", "Seconds since the hub started.",
               [({}, round(time.monotonic() - STARTED, 3))])
    counters: dict[str, int] = {}
    if _table(db, "counters"):
        counters = {str(r[0]): int(r[1]) for r in db.execute("SELECT name, value FROM counters")}
    for metric, name, help_text in COUNTERS:
        out.metric(metric, "counter", help_text, [({}, counters.get(name, 0))])
    devices: list[sqlite3.Row] = []
    if _table(db, "devices"):
        devices = list(db.execute("SELECT device, online, last_seen FROM devices ORDER BY device"))
    online = sum(1 for d in devices if d["online"])
    out.metric("voyant_devices", "gauge", "Devices known to the hub, by presence.",
               [({"state": "online"}, online), ({"state": "offline"}, len(devices) - online)])
    ages = [(d["device"], _age_s(d["last_seen"], now)) for d in devices]
    out.metric("voyant_device_last_seen_age_seconds", "gauge",
               "Seconds since the device's last message.",
               [({"device": str(device)}, age) for device, age in ages if age is not None])
    events: list[sqlite3.Row] = []
    if _table(db, "events"):
        events = list(db.execute(
            "SELECT kind, state, COUNT(*) AS n FROM events WHERE state != 'closed'"
            " GROUP BY kind, state ORDER BY kind, state"))
    out.metric("voyant_events_open", "gauge",
               "Events not closed by the PCR, by kind and review state (open, acknowledged).",
               [({"kind": str(e["kind"]), "state": str(e["state"])}, int(e["n"]))
                for e in events])
    if ingest is not None:
        stats = ingest.stats()
        out.metric("voyant_ingest_queue_depth", "gauge",
                   "Messages received and waiting for the store.",
                   [({}, int(stats.get("queued", 0)))])
        out.metric("voyant_ingest_connected", "gauge", "1 while the ingest is connected.",
                   [({}, int(bool(stats.get("connected"))))])
        out.metric("voyant_ingest_unsent_acks", "gauge",
                   "Acknowledgements waiting for the broker.",
                   [({}, int(stats.get("unsent_acks", 0)))])
    return "\n".join(out.lines) + "\n"


@router.get("/api/metrics", include_in_schema=False)
def metrics(request: Request, user: Annotated[User, Depends(require())],
            db: Annotated[sqlite3.Connection, Depends(get_db)]) -> Response:
    """Prometheus scrape: a bearer token (or a session) of any role."""
    return Response(render_metrics(db, request.app.state.ingest), media_type=CONTENT_TYPE)
