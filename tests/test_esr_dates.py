"""ESR days an older hub stored as it was given (no date, year 1, 9999-12-31): read, never
a 500; and one reckoning of the follow-up due date, the site's ``followup_months``, for the
inbox's list and an event's status (hub/events/followup.py, hub/events/workflow.py,
hub/web/pages/events.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.db.connection import connect, write
from hub.events import followup
from hub.events import workflow as ev
from hub.events.followup import LATEST, add_months, due_followups, due_on, followup_due, iso_day
from tests.test_web_events import add_event
from tests.web_helpers import api_token, bearer, login, make_app

TODAY = date(2026, 1, 5)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _stored(path: Path, event_id: int, declared: str | None, due: str | None = None,
            sent: str | None = None, ansm: str | None = None) -> None:
    """What an older hub left: a declared ESR whose days are written as given."""
    conn = connect(path)
    try:
        with write(conn):
            conn.execute("UPDATE events SET esr = 1, state = 'acknowledged',"
                         " declaration_due = '2026-01-07', declared_at = ?,"
                         " declaration_ref = 'ESNR-1', followup_due = ?, followup_at = ?,"
                         " materiovigilance_at = ?, materiovigilance_ref = ?"
                         " WHERE id = ?", [declared, due, sent, ansm, ansm and "MV-1",
                                           event_id])
    finally:
        conn.close()


@pytest.mark.parametrize(("day", "months", "due"), [
    (date(9999, 12, 31), 2, LATEST),  # year 10000 is no date
    (date(9999, 11, 30), 1, LATEST),  # 9999-12-30: kept a month from the end
    (date(1, 1, 1), -1, date.min),
    (date(1, 3, 31), -1, date(1, 2, 28)),
])
def test_months_past_the_calendar_stop_at_its_ends(day: date, months: int, due: date) -> None:
    assert min(add_months(day, months), LATEST) == due
    if months > 0:
        assert followup_due(day, months) == due


@pytest.mark.parametrize(("stored", "declared", "due"), [
    (None, "9999-12-31", LATEST),
    ("9999-12-31", "2026-01-05", LATEST),
    (None, "0001-01-01", date(1, 3, 1)),
    ("garbage", "2026-01-05", date(2026, 3, 5)),
    ("", "2026-02-30", None),
    (None, "\u202e<b>", None),
    (None, "9999-12-31T23:59:59Z", LATEST),
])
def test_a_stored_day_is_read_or_none(stored: str | None, declared: str,
                                      due: date | None) -> None:
    assert due_on(stored, declared) == due
    assert iso_day(declared) is None or iso_day(declared) == date.fromisoformat(declared[:10])


def test_the_list_and_the_status_agree_on_the_sites_months(tmp_path: Path) -> None:
    """An ESR declared before due dates were stored: the list and the event's status both
    run from ``followup_months`` (3 here: due 5 April, pending on 10 March)."""
    app = make_app(tmp_path, events={"followup_months": 3})
    march = datetime(2026, 3, 10, 9, tzinfo=UTC)
    app.state.clock = lambda: march
    event_id = add_event(app)
    _stored(app.state.store_path, event_id, "2026-01-05")
    conn = connect(app.state.store_path)
    try:
        [listed] = due_followups(conn, 3, march.date())
        assert listed["due_on"] == "2026-04-05"
        event = ev.get_event(conn, event_id, march.date(), followup_months=3)
        assert (event["followup_status"], event["followup_due_on"]) == ("pending", "2026-04-05")
        assert ev.followup_status(event, march.date(), months=3) == followup.status(
            event, march.date(), months=3) == "pending"
        assert ev.get_event(conn, event_id, march.date())["followup_status"] == "overdue"
    finally:
        conn.close()
    with TestClient(app) as client:
        token = bearer(api_token(app, "pcr"))
        assert client.get(f"/api/events/{event_id}", headers=token).json()[
            "followup_status"] == "pending"
        assert client.get("/api/events/followups", headers=token).json()["followups"][0][
            "due_on"] == "2026-04-05"


def test_an_unreadable_declaration_is_due_on_the_apps_day(tmp_path: Path) -> None:
    """Not the machine's day: the Paris day of the app's clock (a test's fixed one)."""
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    event_id = add_event(app)
    _stored(app.state.store_path, event_id, "\u202e<b>")
    conn: sqlite3.Connection = connect(app.state.store_path)
    try:
        assert due_followups(conn, today=TODAY)[0]["due_on"] == "2026-01-05"
    finally:
        conn.close()
    with TestClient(app) as client:
        token = bearer(api_token(app, "pcr"))
        [listed] = client.get("/api/events/followups", headers=token).json()["followups"]
        assert (listed["declared_at"], listed["due_on"]) == ("\u202e<b>", "2026-01-05")


@pytest.fixture
def client_and_ids(tmp_path: Path) -> Iterator[tuple[TestClient, list[int]]]:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    days = [("9999-12-31", None, None, "9999-12-31"), ("0001-01-01", "garbage", None, "x"),
            ("2026-02-30", "9999-12-31", None, None), ("x<b>", None, "0001-01-01", "")]
    ids = []
    for n, (declared, due, sent, ansm) in enumerate(days):
        ids.append(add_event(app, ref=f"j:1:{n}"))
        _stored(app.state.store_path, ids[-1], declared, due, sent, ansm)
    with TestClient(app) as client:
        login(client, "pcr")
        yield client, ids


def test_the_pages_read_the_days_of_an_older_hub(
    client_and_ids: tuple[TestClient, list[int]]
) -> None:
    client, ids = client_and_ids
    english = {"Accept-Language": "en"}
    for url in ["/events", "/events/rows", "/calendar", "/calendar.ics",
                *[f"/events/{i}" for i in ids], *[f"/events/{i}/timeline" for i in ids]]:
        assert client.get(url, headers=english).status_code == 200, url
    inbox = client.get("/events", headers=english).text
    # the deadline with its weekday (issue 16): 9999-12-01 is a Wednesday
    assert "declared 9999-12-31" in inbox and "due on Wednesday 1 December 9999" in inbox
    assert "x&lt;b&gt; (unreadable date)" in inbox
    page = client.get(f"/events/{ids[1]}", headers=english).text
    assert "0001-01-01 · ESNR-1" in page and "x (unreadable date)" in page
    assert "due on Thursday 1 March 1" in page  # the stored "garbage": two months after
    page = client.get(f"/events/{ids[2]}", headers=english).text
    assert "2026-02-30 (unreadable date) · ESNR-1" in page
    assert "due on Wednesday 1 December 9999" in page  # LATEST, with its weekday
    french = client.get(f"/events/{ids[3]}", headers={"Accept-Language": "fr"}).text
    assert "x&lt;b&gt; (date illisible)" in french and "0001-01-01" in french
