"""``GET /metrics`` (bearer token only) and ``/api/metrics`` (token or session): Prometheus text."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest

from hub.db.connection import connect, write
from hub.web.accounts import new_token
from hub.web.api.metrics import LAST_READING_SQL, Started, render_metrics
from tests.web_helpers import add_account, api_token, bearer, login, make_app

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z]+="(?:[^"\\]|\\.)*",?)+\})? -?[0-9.e+-]+$|^[a-z_]+ NaN$')


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
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
            conn.executemany(
                'INSERT INTO readings (device, journal, seq, start, "end") VALUES (?, ?, ?, ?, ?)',
                [("chu.ir1", "j", 1, "2026-01-05T09:58:00Z", "2026-01-05T09:59:00Z"),
                 ("chu.ir1", "j", 2, "2026-01-05T09:59:00Z", "2026-01-05T10:00:00Z"),
                 ("chu.ir1", "k", 1, "2026-01-05T09:00:00Z", "2026-01-05T09:01:00Z"),
                 ("chu.ir2", "j", 1, "2026-01-05T08:00:00Z", "2026-01-05T08:00:30Z")])
            conn.executemany(
                "INSERT INTO alarms (device, journal, run, number, kind, state)"
                " VALUES ('chu.ir1', 'j', 1, ?, ?, ?)",
                [(1, "door_open", "active"), (2, "door_open", "cleared"),
                 (3, "door_open", "cleared"), (4, "dose_rate_high", "cleared")])
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
        text = render_metrics(conn, Started.now(), Ingest(),
                              now=datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC))
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
        text = render_metrics(conn, Started.now(), now=datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    finally:
        conn.close()
    assert 'voyant_device_last_seen_age_seconds{device="a\\"b\\\\c"} 1.0\n' in text
    _samples(text)


# --- /metrics: the scrape address, a bearer token or a 401 ----------------------------------


def test_slash_metrics_wants_a_bearer_token_never_a_login_page(app: FastAPI) -> None:
    with TestClient(app) as client:
        for headers in ({}, bearer("vy_wrong"), {"Authorization": "Basic eDp5"}):
            refused = client.get("/metrics", headers=headers, follow_redirects=False)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "location" not in refused.headers
        login(client, "viewer")  # a session is not a scraper: /metrics still wants the token
        assert client.get("/metrics", follow_redirects=False).status_code == 401
        assert client.get("/api/metrics").status_code == 200  # the alias takes a session
        client.cookies.clear()
        token = api_token(app, "viewer")
        scraped = client.get("/metrics", headers=bearer(token))
        alias = client.get("/api/metrics", headers=bearer(token))
    assert scraped.status_code == alias.status_code == 200
    assert scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert set(_samples(scraped.text)) == set(_samples(alias.text))


def test_a_calendar_token_cannot_scrape(app: FastAPI) -> None:
    user = add_account(app, "admin")
    conn = connect(app.state.store_path)
    token = new_token(conn, user.id, "agenda", "calendar")
    conn.close()
    with TestClient(app) as client:
        assert client.get("/metrics", headers=bearer(token)).status_code == 401
        assert client.get("/api/metrics", headers=bearer(token)).status_code == 401


def test_uptime_counts_from_the_app_creation(tmp_path: Path) -> None:
    before = time.time()
    app = make_app(tmp_path)  # the start is the app's creation, not this module's import
    with TestClient(app) as client:
        samples = _samples(client.get("/metrics", headers=bearer(api_token(app, "viewer"))).text)
    assert 0 <= samples["voyant_hub_uptime_seconds"] < 30
    assert before <= samples["voyant_hub_start_time_seconds"] <= time.time()


# --- what issue 6 asked: store size, last reading age, alarms by kind ----------------------


def _render(app: FastAPI, **kwargs: Any) -> dict[str, float]:
    conn = connect(app.state.store_path)
    try:
        return _samples(render_metrics(conn, Started.now(), **kwargs))
    finally:
        conn.close()


def test_store_size_is_the_database_and_its_wal(app: FastAPI) -> None:
    path = app.state.store_path
    conn = connect(path)  # open: the WAL stays until the last connection closes
    with write(conn):
        conn.executemany("INSERT INTO readings (device, journal, seq) VALUES (?, ?, ?)",
                         [("chu.ir9", "z", i) for i in range(2000)])
    samples = _samples(render_metrics(conn, Started.now()))
    wal, main = os.path.getsize(path + "-wal"), os.path.getsize(path)
    conn.close()  # the last connection: checkpoints, the WAL goes
    assert wal > 0 and samples["voyant_store_wal_size_bytes"] == wal
    assert samples["voyant_store_size_bytes"] == main + wal


def test_in_memory_store_has_size_zero() -> None:
    conn = connect(":memory:")
    try:
        samples = _samples(render_metrics(conn, Started.now()))
    finally:
        conn.close()
    assert samples["voyant_store_size_bytes"] == 0


def test_last_reading_age_comes_from_the_readings_not_from_heartbeats(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    with write(conn):  # a heartbeat just now: last_seen is fresh, the probe is not
        conn.execute("UPDATE devices SET last_seen = '2026-01-05T10:00:29Z'")
    conn.close()
    samples = _render(app, now=datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC))
    assert samples['voyant_device_last_seen_age_seconds{device="chu.ir2"}'] == 1
    # the newest reading of chu.ir1 (journal j, seq 2) ended at 10:00:00, chu.ir2's at 08:00:30
    assert samples['voyant_device_last_reading_age_seconds{device="chu.ir1"}'] == 30
    assert samples['voyant_device_last_reading_age_seconds{device="chu.ir2"}'] == 7200


def test_a_device_without_readings_has_no_reading_age(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    with write(conn):
        conn.execute("INSERT INTO devices (device, site, room, online, last_seen)"
                     " VALUES ('chu.new', 'chu', 'new', 1, '2026-01-05T10:00:00Z')")
    conn.close()
    samples = _render(app, now=datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC))
    assert 'voyant_device_last_seen_age_seconds{device="chu.new"}' in samples
    assert not any("chu.new" in name for name in samples
                   if name.startswith("voyant_device_last_reading_age_seconds"))


def test_alarms_by_kind_received_and_active(app: FastAPI) -> None:
    samples = _render(app)
    assert samples['voyant_alarms_total{kind="door_open"}'] == 3
    assert samples['voyant_alarms_total{kind="dose_rate_high"}'] == 1
    assert samples['voyant_alarms_active{kind="door_open"}'] == 1
    assert samples['voyant_alarms_active{kind="dose_rate_high"}'] == 0  # cleared: 0, present
    conn = connect(app.state.store_path)
    with write(conn):  # the active one clears: the counter stays, the gauge drops
        conn.execute("UPDATE alarms SET state = 'cleared' WHERE number = 1")
    conn.close()
    samples = _render(app)
    assert samples['voyant_alarms_total{kind="door_open"}'] == 3
    assert samples['voyant_alarms_active{kind="door_open"}'] == 0


def test_the_types_are_declared_once(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        text = render_metrics(conn, Started(time.monotonic() - 5, time.time() - 5))
    finally:
        conn.close()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["voyant_alarms_total"] == "counter"
    assert types["voyant_alarms_active"] == types["voyant_store_size_bytes"] == "gauge"
    assert types["voyant_device_last_reading_age_seconds"] == "gauge"
    assert _samples(text)["voyant_hub_uptime_seconds"] >= 5


@pytest.mark.parametrize("analyzed", [False, True])
def test_the_last_reading_query_seeks_the_index(app: FastAPI, analyzed: bool) -> None:
    """One index seek per device, whatever the readings count: never a scan of readings."""
    conn = connect(app.state.store_path)
    try:
        with write(conn):
            conn.executemany(
                'INSERT INTO readings (device, journal, seq, start, "end", clock_synced)'
                " VALUES (?, 'j', ?, ?, ?, 1)",
                [(f"chu.ir{i % 2 + 1}", 1000 + i, f"2026-01-04T{i % 24:02d}:00:00Z",
                  f"2026-01-04T{i % 24:02d}:01:00Z") for i in range(5000)])
        if analyzed:
            conn.execute("ANALYZE")
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + LAST_READING_SQL)]
    finally:
        conn.close()
    readings = [step for step in plan if step.startswith(("SEARCH r ", "SCAN r "))]
    assert readings == ["SEARCH r USING INDEX idx_readings_device_start (device=?)"], plan
    assert not any("TEMP B-TREE" in step for step in plan), plan



def test_the_text_is_prometheus_clients_on_a_private_registry(app: FastAPI) -> None:
    """Names, help and types as before; values as prometheus-client writes floats; nothing
    of the process-wide default registry (a library's metrics) and nothing left in it."""
    conn = connect(app.state.store_path)
    try:
        text = render_metrics(conn, Started(100.0, 1765000000.5))
    finally:
        conn.close()
    assert ("# HELP voyant_ingest_messages_total Messages the ingest accepted.\n"
            "# TYPE voyant_ingest_messages_total counter\n"
            "voyant_ingest_messages_total 120.0\n") in text
    assert "voyant_hub_start_time_seconds 1.7650000005e+09\n" in text
    assert 'voyant_events_open{kind="offline",state="acknowledged"} 1.0\n' in text
    assert "python_gc" not in text and "process_" not in text
    assert "voyant_" not in generate_latest(REGISTRY).decode()
