"""Calendar rows written by hand or by an older hub (an unreadable day, a day at the end of
time, a period that is no number) never make a page, the API, the feed or the job fail."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.config import Controls
from hub.controls import ics, overdue, schedule
from hub.controls import records as cr
from hub.controls.due import due_items
from hub.controls.types import BUILTIN, ControlType, RoomSettings, TypeSetting, catalog, from_row
from hub.db.connection import connect
from tests.web_helpers import login, make_app

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
ROOM = {"site": "chu", "room": "bloc1"}
BY_HAND = {"recorded_at": "2026-01-01T00:00:00.000Z", "recorded_by": "sqlite3"}


def _hostile(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    for day in ("garbage", "9999-12-31", "2026-02-30", ""):
        conn.execute("INSERT INTO control_occasions (site, room, kind, on_day, note,"
                     " recorded_at, recorded_by) VALUES (:site, :room, 'modification', :day,"
                     " 'by hand', :recorded_at, :recorded_by)", {**ROOM, **BY_HAND, "day": day})
    for key, enabled, fixed, mobile in (("periodic_equipment", 1, "x", None),
                                        ("periodic_workplace", 0, 500, 2),
                                        ("quality_internal", 1, 3.5, None),
                                        ("quality_audit", 1, None, None)):
        conn.execute("INSERT INTO control_type_settings VALUES (?, ?, ?, ?, '', 'sqlite3')",
                     [key, enabled, fixed, mobile])
    conn.execute("INSERT INTO control_types VALUES ('leak', 'Leak', 'x', 9, '{', '', '')")
    conn.execute("INSERT INTO control_records (site, room, control, done_on, result,"
                 " performed_by, recorded_at, recorded_by) VALUES (:site, :room,"
                 " 'protection_devices', 'garbage', 'ok', 'x', :recorded_at, :recorded_by)",
                 {**ROOM, **BY_HAND})


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    conn = connect(app.state.store_path)
    try:
        _hostile(conn)
        conn.commit()
    finally:
        conn.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "pcr")
        yield client


def test_every_calendar_route_answers(client: TestClient) -> None:
    for path in ("/calendar", "/calendar/room?site=chu&room=bloc1", "/api/controls",
                 "/api/controls/types", "/calendar.ics", "/calendar/programme"):
        assert client.get(path).status_code == 200, path
    record = client.get("/api/controls/records").json()[0]
    assert (record["done_on"], record["done_on_stored"]) == (None, "garbage")


def test_the_room_page_shows_an_unreadable_day_as_such(client: TestClient) -> None:
    page = client.get("/calendar/room", params=ROOM).text
    assert page.count('data-testid="occasion-unreadable"') == 3  # garbage, 30 February, ""
    assert "9999-12-31" in page


def test_the_feed_ends_an_event_at_the_end_of_time_without_dtend(client: TestClient) -> None:
    body = client.get("/calendar.ics").content.decode()
    event = next(e for e in body.split("BEGIN:VEVENT")[1:] if "DTSTART;VALUE=DATE:99991231" in e)
    assert "DTEND" not in event and "END:VEVENT" in event


def test_stored_periods_that_do_not_fit_are_not_applied(app: FastAPI,
                                                        client: TestClient) -> None:
    items = {i["control"]: i for i in client.get("/api/controls").json()["items"]}
    assert items["periodic_equipment"]["period_months"] == 12  # 'x': the default
    assert items["periodic_workplace"]["period_months"] == 3  # 500 > 3; cannot be off
    assert items["quality_internal"]["period_months"] == 3  # 3.5 months: the default
    assert items["quality_audit"]["period_months"] is None  # an optional one may have none
    assert items["leak"]["period_months"] is None and items["protection_devices"]["records"] == 0


def test_the_overdue_job_runs(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        assert overdue.check_overdue(conn, NOW) == {"opened": 0, "ended": 0}  # in grace
        assert overdue.check_overdue(conn, NOW + timedelta(days=60))["opened"] > 0
        refs = {r[0] for r in conn.execute("SELECT ref FROM events WHERE kind = ?",
                                           [overdue.KIND])}
    finally:
        conn.close()
    assert "control:initial_equipment" not in refs  # only unreadable or far occasions


def test_a_day_near_the_end_of_time_is_clamped_not_overflowed() -> None:
    assert schedule.add_months(date(9999, 12, 31), 3) == date.max
    assert schedule.add_months(date(1, 1, 1), -1) == date.min
    assert schedule.add_days(date(9999, 12, 30), 30) == date.max
    assert schedule.parse_day("garbage") is None and schedule.parse_day(None) is None
    room = RoomSettings("s", "r", first_use_on="9999-12-31", received_on="garbage")
    ctype = BUILTIN[2]  # periodic_equipment, yearly
    last = schedule.next_due(ctype, room, [schedule.Done(date(9999, 12, 1), "not_ok")],
                             date(2026, 1, 1), recheck_days=60)
    assert last.due == date.max
    first = schedule.next_due(ctype, room, [], date(9999, 12, 31))
    assert (first.due, first.reason) == (date.max, "first_record")
    feed = ics.feed([{"site": "s", "room": "r", "control": "c", "name": "C", "due": "garbage"}],
                    NOW, (7,), str, followups=[{"due_on": "9999-12-31", "site": "s", "room": "r",
                                                "declaration_ref": None, "event_id": 1}])
    assert "DTSTART;VALUE=DATE:99991231" in feed and "DTEND" not in feed
    assert "UID:control-" not in feed  # the unreadable due date is left out


def test_the_catalog_checks_stored_settings() -> None:
    bad = [TypeSetting("periodic_equipment", True, 13, None),
           TypeSetting("protection_devices", False, None, None),
           TypeSetting("instrument_check", True, 24, 30, readable=False)]
    types = {t.key: t for t in catalog(settings=bad)}
    assert types["periodic_equipment"].period_months == 12  # above its max_months
    assert "protection_devices" in types  # a built-in one cannot be switched off
    assert types["instrument_check"].period_months == 12
    odd: ControlType = from_row({"key": "k", "name": "K", "period_months": "x",
                                 "period_months_mobile": None, "triggers": '[1, "receipt"]'})
    assert odd.period_months is None and [t.event for t in odd.triggers] == ["receipt"]


def test_an_unreadable_record_counts_for_nothing(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        assert cr.done(conn) == {}
        assert len(cr.history(conn)) == 1  # still listed
        assert due_items(conn, Controls(), NOW.date())
    finally:
        conn.close()

