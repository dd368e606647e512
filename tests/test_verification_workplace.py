"""A signed quarterly report as the periodic workplace verification (order of 23 October
2020, art. 12): the conditions, one test each, and the worked examples of issue 15."""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.config import Controls
from hub.controls import actions as ca
from hub.controls import overdue as co
from hub.controls.due import due_items
from hub.controls.types import INSTRUMENT, WORKPLACE
from hub.controls.workplace import check_report, signed_reports
from hub.db.connection import connect, write
from hub.db.store import Store
from tests.web_helpers import login, make_app

SIGNED = "2026-04-03"
NOW = datetime(2026, 4, 20, 10, tzinfo=UTC)


def content(**changes: Any) -> dict[str, Any]:
    """A continuous quarter that proves the verification, with ``changes`` over it."""
    base: dict[str, Any] = {
        "quarter": "2026-Q1", "start": "2025-12-31T23:00:00Z", "end": "2026-03-31T22:00:00Z",
        "point": {"id": 1, "device": "box-1", "site": "chu", "room": "bloc1", "name": "probe",
                  "kind": "probe"},
        "months": [{"month": "2026-01", "coverage": 0.99}, {"month": "2026-02", "coverage": 1.0},
                   {"month": "2026-03", "coverage": 0.96}],
        "gaps": [{"start": "2026-02-10T08:00:00Z", "end": "2026-02-10T14:00:00Z", "hours": 6}],
        "signature": {"name": "M. Curie", "username": "pcr", "at": f"{SIGNED}T09:00:00Z",
                      "date": SIGNED},
        "zoning": {"calibrations": [{"name": "SBM-20 60 kV scatter", "scatter": True}]},
    }
    return {**base, **changes}


# -- the conditions (a pure function) ------------------------------------------------------------

PROBE_DUE = date(2026, 12, 1)  # the probe's calibration check, not overdue on the signature day


def test_a_continuous_quarter_proves_it() -> None:
    assert check_report(content(), PROBE_DUE) == []


def test_a_month_under_95_percent_coverage_fails() -> None:
    months = [{"month": "2026-01", "coverage": 0.99}, {"month": "2026-02", "coverage": 0.949},
              {"month": "2026-03", "coverage": 1.0}]
    (failure,) = check_report(content(months=months), PROBE_DUE)
    assert (failure.condition, failure.params) == ("coverage", {"month": "2026-02",
                                                                 "coverage": 94.9})


def test_a_gap_over_24_hours_fails() -> None:
    gaps = [{"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T01:00:00Z", "hours": 25},
            {"start": "2026-03-20T00:00:00Z", "end": "2026-03-21T00:00:00Z", "hours": 24}]
    (failure,) = check_report(content(gaps=gaps), PROBE_DUE)  # 24 hours is still fine
    assert (failure.condition, failure.params["hours"]) == ("gap", 25)


def test_a_calibration_not_for_scatter_fails() -> None:
    zoning = {"calibrations": [{"name": "Cs-137 default", "scatter": False}]}
    (failure,) = check_report(content(zoning=zoning), PROBE_DUE)
    assert (failure.condition, failure.params) == ("calibration", {"name": "Cs-137 default"})


def test_a_report_signed_before_the_zoning_was_recorded_proves_no_calibration() -> None:
    old = content()
    del old["zoning"]
    (failure,) = check_report(old, PROBE_DUE)
    assert failure.condition == "calibration" and "signed before" in failure.message


def test_an_overdue_probe_calibration_check_fails() -> None:
    (failure,) = check_report(content(), date(2026, 4, 2))  # due the day before signing
    assert (failure.condition, failure.params) == ("probe_check", {"due": "2026-04-02",
                                                                    "day": SIGNED})
    assert check_report(content(), date(2026, 4, 3)) == []  # due that day: not overdue
    (missing,) = check_report(content(), None)  # no such check in the programme
    assert missing.condition == "probe_check"


def test_every_failed_condition_is_said() -> None:
    bad = content(months=[], gaps=[{"start": "x", "hours": 48}], zoning={"calibrations": []})
    assert [f.condition for f in check_report(bad, None)] == [
        "coverage", "gap", "calibration", "probe_check"]


# -- the store: the worked examples ----------------------------------------------------------------


def _report(conn: sqlite3.Connection, point_id: int, body: dict[str, Any], version: int = 1,
            status: str = "signed", quarter: str = "2026-Q1") -> None:
    text = json.dumps(body)
    conn.execute(
        "INSERT INTO reports (point_id, device, site, room, quarter, version, status, content,"
        " content_sha256, created_at, updated_at) VALUES (?, 'box-1', 'chu', 'bloc1', ?, ?, ?,"
        " ?, 'x', ?, ?)", [point_id, quarter, version, status, text, NOW.isoformat(),
                           NOW.isoformat()])


def _store(path: Path) -> sqlite3.Connection:
    Store.open(path).close()
    conn = connect(path)
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    conn.execute("INSERT INTO points (device, site, room, name, kind, created_at) VALUES"
                 " ('box-1', 'chu', 'bloc1', 'console', 'manual', 'x')")
    with write(conn):  # the probe's calibration check, done in January: due in January 2027
        ca.record_done(conn, Controls(), "pcr", "chu", "bloc1", INSTRUMENT, "2026-01-15", "ok",
                       "Lab", "", "", NOW)
    return conn


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = _store(tmp_path / "hub.db")
    yield db
    db.close()


def _workplace(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    return {i["point_name"]: i for i in due_items(conn, Controls(), NOW.date())
            if i["control"] == WORKPLACE}


def test_a_signed_continuous_quarter_closes_the_workplace_verification(
        conn: sqlite3.Connection) -> None:
    _report(conn, 1, content())
    items = _workplace(conn)
    probe = items["probe"]
    assert (probe["last_done"], probe["due"], probe["status"]) == (SIGNED, "2026-07-03", "ok")
    assert probe["last_by_report"] is True and probe["report"]["closes"] is True
    assert probe["records"] == 0  # nothing entered by hand: no double entry
    # The manual point is another workplace: the report does not cover it.
    console = items["console"]
    assert console["last_done"] is None and console["report"] is None
    assert console["reason"] == "first_record"


def test_a_quarter_with_a_gap_does_not_close_it(conn: sqlite3.Connection) -> None:
    gap = [{"start": "2026-02-14T06:00:00Z", "end": "2026-02-15T12:00:00Z", "hours": 30}]
    _report(conn, 1, content(gaps=gap))
    probe = _workplace(conn)["probe"]
    assert (probe["due"], probe["reason"], probe["status"]) == (SIGNED, "report", "overdue")
    assert probe["last_done"] is None and probe["report"]["closes"] is False
    assert [f["condition"] for f in probe["report"]["failures"]] == ["gap"]
    co.check_overdue(conn, NOW)  # falls due: the overdue event, per point
    refs = [r[0] for r in conn.execute("SELECT ref FROM events WHERE kind = 'control_overdue'"
                                       " AND condition_cleared_at IS NULL")]
    assert "control:periodic_workplace:point:1" in refs
    with write(conn):  # a verification recorded by hand for that point settles it
        ca.record_done(conn, Controls(), "pcr", "chu", "bloc1", WORKPLACE, "2026-04-10", "ok",
                       "PCR", "", "", NOW, 1)
    assert _workplace(conn)["probe"]["due"] == "2026-07-10"


def test_only_the_latest_signed_version_of_a_quarter_counts(conn: sqlite3.Connection) -> None:
    gap = [{"start": "2026-02-14T06:00:00Z", "end": "2026-02-15T12:00:00Z", "hours": 30}]
    _report(conn, 1, content(gaps=gap))
    _report(conn, 1, content(), version=2)       # an amended report, signed
    _report(conn, 1, content(gaps=gap), version=3, status="draft")  # a draft proves nothing
    (report,) = signed_reports(conn, [1])[1]
    assert report.version == 2
    assert _workplace(conn)["probe"]["report"]["closes"] is True


def test_the_page_says_which_condition_failed(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    gap = [{"start": "2026-02-14T06:00:00Z", "end": "2026-02-15T12:00:00Z", "hours": 30}]
    _report(conn, 1, content(gaps=gap))
    conn.close()
    with TestClient(app) as client:
        login(client, "viewer")
        page = html.unescape(client.get("/calendar/room", params={"site": "chu",
                                                                   "room": "bloc1"}).text)
    assert "Le rapport signé 2026-Q1 (version 1) ne vaut pas vérification" in page
    assert 'data-condition="gap"' in page
    assert "30 heures sans aucune mesure à partir du 2026-02-14 07:00" in page


def test_the_page_says_a_report_closed_it(tmp_path: Path) -> None:
    app: FastAPI = make_app(tmp_path)
    app.state.clock = lambda: NOW
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    _report(conn, 1, content())
    conn.close()
    with TestClient(app) as client:
        login(client, "viewer")
        page = html.unescape(client.get("/calendar").text)
    assert 'data-testid="report-closes"' in page and 'data-testid="closed-by-report"' in page
    assert "Le rapport signé 2026-Q1 (version 1) vaut vérification." in page
