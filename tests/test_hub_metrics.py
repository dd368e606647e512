"""``GET /api/metrics``: Prometheus text, only with an API token (or a session)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.web import routes_metrics
from hub.web.app import ROUTERS
from hub.web.db import connect, write
from hub.web.routes_metrics import render_metrics
from tests.web_helpers import api_token, bearer, login, make_app

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z]+="(?:[^"\\]|\\.)*",?)+\})? -?[0-9.e+-]+$|^[a-z_]+ NaN$')


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    if routes_metrics not in ROUTERS:  # until hub/web/app.py lists it
        app.include_router(routes_metrics.router)
    conn = connect(app.state.store_path)
    try:
        with write(conn):
            conn.executemany("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)",
                             [("messages_ok", 120), ("rejected_total", 3), ("duplicates", 7),
                              ("readings_stored", 100), ("records_stored", 110)])
            conn.executemany(
                "INSERT INTO devices (device, site, room, journal, acked_upto, last_seen, online,"
                " status_state, status_at, heartbeat_s, agent) VALUES (?, ?, ?, 'j', 0, ?, ?,"
                " 'online', ?, 30, 'a')",
                [("chu.ir1", "chu", "ir1", "2026-01-05T10:00:00Z", 1, "2026-01-05T10:00:00Z"),
                 ("chu.ir2", "chu", "ir2", "2026-01-05T09:00:00Z", 0, "2026-01-05T09:00:00Z")])
            conn.executemany(
                "INSERT INTO events (kind, device, site, room, ref, opened_at, state)"
                " VALUES (?, 'chu.ir1', 'chu', 'ir1', ?, '2026-01-05T09:00:00Z', ?)",
                [("offline", "a", "open"), ("offline", "b", "acknowledged"),
                 ("data_gap", "c", "open"), ("data_gap", "d", "closed")])
    finally:
        conn.close()
    return app


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert SAMPLE.match(line), f"not an exposition line: {line!r}"
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_metrics_need_a_token_and_answer_prometheus_text(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/api/metrics").status_code == 401
        assert client.get("/api/metrics", headers=bearer("vy_wrong")).status_code == 401
        response = client.get("/api/metrics", headers=bearer(api_token(app, "viewer")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = _samples(response.text)
    assert samples["voyant_hub_uptime_seconds"] >= 0
    assert samples["voyant_ingest_messages_total"] == 120
    assert samples["voyant_ingest_rejected_total"] == 3
    assert samples["voyant_ingest_duplicates_total"] == 7
    assert samples["voyant_readings_stored_total"] == 100
    assert samples['voyant_devices{state="online"}'] == 1
    assert samples['voyant_devices{state="offline"}'] == 1
    assert samples['voyant_events_open{kind="offline",state="open"}'] == 1
    assert samples['voyant_events_open{kind="offline",state="acknowledged"}'] == 1
    assert samples['voyant_events_open{kind="data_gap",state="open"}'] == 1
    assert not any("data_gap" in k and "closed" in k for k in samples)
    assert 'voyant_device_last_seen_age_seconds{device="chu.ir1"}' in samples
    assert "voyant_ingest_queue_depth" not in samples  # no ingest in this process
    types = re.findall(r"^# TYPE (\S+) (\S+)$", response.text, re.M)
    assert ("voyant_ingest_messages_total", "counter") in types
    assert len({name for name, _ in types}) == len(types)  # one TYPE line per metric


def test_a_session_works_too(app: FastAPI) -> None:
    with TestClient(app) as client:
        login(client, "viewer")
        assert client.get("/api/metrics").status_code == 200


def test_ages_and_the_ingest_queue(app: FastAPI) -> None:
    class Ingest:
        def stats(self) -> dict[str, Any]:
            return {"queued": 4, "connected": True, "unsent_acks": 2}

    conn = connect(app.state.store_path)
    try:
        text = render_metrics(conn, Ingest(), now=datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC))
    finally:
        conn.close()
    samples = _samples(text)
    assert samples['voyant_device_last_seen_age_seconds{device="chu.ir1"}'] == 30
    assert samples['voyant_device_last_seen_age_seconds{device="chu.ir2"}'] == 3630
    assert samples["voyant_ingest_queue_depth"] == 4
    assert samples["voyant_ingest_connected"] == 1


def test_labels_are_escaped(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    try:
        conn.execute("CREATE TABLE devices (device TEXT, online INTEGER, last_seen TEXT)")
        conn.execute("""INSERT INTO devices VALUES ('a"b\\c', 1, '2026-01-05T10:00:00Z')""")
        text = render_metrics(conn, now=datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    finally:
        conn.close()
    assert 'voyant_device_last_seen_age_seconds{device="a\\"b\\\\c"} 1' in text
    _samples(text)
