"""The hub's background jobs (hub/jobs.py): started and stopped by the app, each round's
work on a store, a failing round logged and the loop going on, a clean stop."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub import jobs
from hub.config import Controls
from hub.controls import actions as ca
from hub.db import rollups
from hub.db.connection import connect, write
from hub.logs import LOGGER
from hub.reports import quarters
from tests.report_data import device, fill, paris
from tests.web_helpers import make_app
from wire.logs import LogfmtFormatter

DEADLINE_S = 10.0


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


def _rows(app: FastAPI, sql: str) -> list[sqlite3.Row]:
    conn = connect(app.state.store_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _overdue_control(app: FastAPI) -> None:
    """A room whose quarterly workplace verification (its probe point) was last done in
    January: overdue in June."""
    conn = connect(app.state.store_path)
    try:
        conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
        with write(conn):
            ca.record_done(conn, Controls(), "marie", "chu", "bloc1", "periodic_workplace",
                           "2026-01-10", "ok", "PCR", "", "",
                           datetime(2026, 1, 10, tzinfo=UTC), 1)
    finally:
        conn.close()


class _Recorded:
    """The connections the jobs open (``hub.jobs.connect`` wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

        def opening(path: Any) -> sqlite3.Connection:
            conn = connect(path)
            with self.lock:
                self.connections.append(conn)
            return conn

        monkeypatch.setattr(jobs, "connect", opening)

    def still_open(self) -> int:
        count = 0
        for conn in self.connections:
            try:
                conn.execute("SELECT 1")
            except sqlite3.ProgrammingError:
                continue
            count += 1
        return count


def _lines() -> tuple[logging.Handler, list[str]]:
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Lines(logging.DEBUG)
    handler.setFormatter(LogfmtFormatter())
    return handler, lines


# -- with the app --------------------------------------------------------------------------------


def test_an_app_without_its_ingest_runs_no_job(app: FastAPI) -> None:
    with TestClient(app):
        assert app.state.job_tasks == {}


def test_the_jobs_start_and_stop_with_the_app(app: FastAPI,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _Recorded(monkeypatch)
    app.state.jobs = jobs.NAMES  # as beside the ingest
    with TestClient(app):
        tasks = dict(app.state.job_tasks)
        assert set(tasks) == {"reports", "controls", "rollups", *jobs.NAMES}
        deadline = time.monotonic() + DEADLINE_S
        while len(recorded.connections) < len(tasks):  # each job's first round, at start
            assert time.monotonic() < deadline, "the jobs did not run at start"
            time.sleep(0.01)
        assert not any(task.done() for task in tasks.values())
    assert all(task.done() for task in tasks.values())
    assert app.state.job_tasks == {}
    assert recorded.still_open() == 0


def test_an_unknown_job_is_refused_at_start(app: FastAPI) -> None:
    app.state.jobs = {"reports", "coffee"}
    with pytest.raises(ValueError, match="unknown jobs: coffee"), TestClient(app):
        pass


# -- each job's round ------------------------------------------------------------------------------


def test_the_controls_round_opens_the_overdue_events(app: FastAPI) -> None:
    _overdue_control(app)
    app.state.clock = lambda: datetime(2026, 6, 15, 10, tzinfo=UTC)
    result = asyncio.run(jobs.controls_round(app))
    assert result["opened"] >= 1
    events = _rows(app, "SELECT ref FROM events WHERE kind = 'control_overdue'")
    assert [e["ref"] for e in events] == ["control:periodic_workplace:point:1"]
    assert asyncio.run(jobs.controls_round(app)) == {"opened": 0, "ended": 0}  # idempotent


def test_the_reports_round_prepares_the_quarter_just_ended(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        device(conn, "box-1", "salle-1", paris(2026, 1, 1))
        fill(conn, "box-1", paris(2026, 1, 5, 8), paris(2026, 1, 5, 9), 60, 0.1)
    finally:
        conn.close()
    ids = jobs.prepare_reports(app.state.store_path, app.state.config,
                               datetime(2026, 4, 2, 12, tzinfo=UTC))
    assert len(ids) == 1
    [report] = _rows(app, "SELECT quarter, status FROM reports")
    assert (report["quarter"], report["status"]) == ("2026-Q1", "draft")
    # the round itself: the quarter ended before today (the real clock)
    latest = quarters.last_ended_quarter(datetime.now(UTC)).code
    made = asyncio.run(jobs.reports_round(app))
    assert made and {r["quarter"] for r in _rows(app, "SELECT quarter FROM reports")} == {
        "2026-Q1", latest}


def test_the_rollups_round_counts_every_reading_chunk_by_chunk(
        app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(app.state.store_path)
    try:
        device(conn, "box-1", "salle-1", paris(2026, 1, 1))
        fill(conn, "box-1", paris(2026, 1, 5, 8), paris(2026, 1, 5, 10), 10, 0.1)  # 720
    finally:
        conn.close()
    real = rollups.refresh
    monkeypatch.setattr(rollups, "refresh",  # several steps, each on its own connection
                        lambda conn, **kw: real(conn, chunk=100, limit=100))
    recorded = _Recorded(monkeypatch)
    assert asyncio.run(jobs.rollups_round(app)) == 720
    assert len(recorded.connections) > 1 and recorded.still_open() == 0
    [row] = _rows(app, "SELECT sum(n) AS n FROM rollup_hour WHERE device = 'box-1'")
    assert row["n"] == 720
    assert asyncio.run(jobs.rollups_round(app)) == 0  # nothing new


# -- failures and stopping ----------------------------------------------------------------------


def _job(round_: Callable[[FastAPI], Awaitable[object]]) -> jobs.Job:
    return jobs.Job("test", round_, lambda config: 0.0, "test_round_failed")


def test_a_failing_round_is_logged_and_the_loop_goes_on(app: FastAPI) -> None:
    rounds: list[int] = []

    async def flaky(app: FastAPI) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            raise sqlite3.OperationalError("database is locked")

    async def main() -> None:
        task = asyncio.create_task(jobs.run(_job(flaky), app))
        deadline = time.monotonic() + DEADLINE_S
        while len(rounds) < 3:
            assert time.monotonic() < deadline, "the loop stopped"
            await asyncio.sleep(0.001)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    handler, lines = _lines()
    LOGGER.addHandler(handler)
    try:
        asyncio.run(main())
    finally:
        LOGGER.removeHandler(handler)
    failed = [line for line in lines if "event=test_round_failed" in line]
    assert len(failed) == 1
    assert failed[0].startswith("level=error ") and "job=test" in failed[0]
    assert "error=OperationalError" in failed[0] and "database is locked" in failed[0]


def test_stopping_waits_for_a_round_in_its_thread(app: FastAPI) -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work() -> None:
        started.set()
        assert release.wait(DEADLINE_S)
        finished.append(True)

    async def slow(app: FastAPI) -> None:
        await jobs.in_thread(work)

    async def main() -> None:
        jobs.start(app, (_job(slow),))
        deadline = time.monotonic() + DEADLINE_S
        while not started.is_set():
            assert time.monotonic() < deadline, "the round did not start"
            await asyncio.sleep(0.001)
        stopping = asyncio.create_task(jobs.stop(app))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not stopping.done() and not finished  # the thread still works
        release.set()
        await asyncio.wait_for(stopping, DEADLINE_S)
        assert finished == [True]

    app.state.jobs = {"test"}
    asyncio.run(main())
