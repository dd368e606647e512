"""The calendar's pages, its ICS feed (RFC 5545, token in the query) and its API."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.config import Controls
from hub.controls import actions as ca
from hub.db.connection import connect, write
from hub.jobs import check_controls
from hub.web import audit
from hub.web.accounts import new_token
from hub.web.auth import Role
from tests.web_helpers import add_account, api_token, bearer, csrf, login, make_app

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


def _app(tmp_path: Path, **config: Any) -> FastAPI:
    app = make_app(tmp_path, **config)
    app.state.clock = lambda: NOW
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    conn.close()
    return app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return _app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _rows(app: FastAPI, sql: str) -> list[dict[str, Any]]:
    conn = connect(app.state.store_path)
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _record(client: TestClient, **fields: str) -> Any:
    data = {"room": "chu/bloc1", "control": "periodic_workplace", "point": "1",
            "done_on": "2026-01-10", "result": "ok", "performed_by": "PCR M. Curie", "note": "",
            "document_ref": "R-1", "csrf_token": csrf(client), **fields}
    return client.post("/calendar/record", data=data, follow_redirects=False)


def _row(page: str, control: str) -> str:
    match = re.search(rf'<tr class="due (\w+)" data-testid="due-row" data-control="{control}"'
                      r' data-status="\w+" data-due="([\d-]*)"', page)
    assert match, control
    return f"{match.group(1)} {match.group(2)}"


# -- pages ---------------------------------------------------------------------------------------


def test_a_viewer_sees_due_dates_and_reminders(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    page = client.get("/calendar")
    assert page.status_code == 200 and "Calendrier des vérifications" in page.text
    assert _row(page.text, "periodic_workplace") == "upcoming 2026-07-15"  # 30 days' grace
    assert 'data-testid="reminder"' in page.text and "dans les 30 jours" in page.text
    assert 'data-testid="form-record"' not in page.text  # viewers do not record
    assert 'data-testid="form-type"' not in page.text


def test_a_verification_due_the_same_day_in_many_rooms_is_one_reminder(
        app: FastAPI, client: TestClient) -> None:
    """Eighteen rooms tracked the same day: each verification type is one reminder line
    naming the eighteen rooms, not eighteen lines."""
    conn = connect(app.state.store_path)
    conn.executemany("INSERT INTO devices (device, site, room) VALUES (?, 'chu', ?)",
                     [(f"box-{n}", f"salle-{n}") for n in range(2, 19)])
    conn.commit()
    conn.close()
    login(client, "viewer")
    page = client.get("/calendar").text
    lines = re.findall(r'data-testid="reminder" data-status="\w+" data-control="([\w]+)"'
                       r' data-room="[^"]*" data-count="(\d+)"', page)
    controls = [control for control, _count in lines]
    assert lines and len(controls) == len(set(controls)), controls
    assert dict(lines)["protection_devices"] == "18"


def test_recording_moves_the_due_date_and_ends_the_overdue_event(app: FastAPI,
                                                                 client: TestClient) -> None:
    login(client, "pcr")
    response = _record(client)
    assert response.status_code == 303 and response.headers["location"] == "/calendar"
    page = client.get("/calendar").text
    assert _row(page, "periodic_workplace") == "overdue 2026-04-10"
    assert "En retard" in page
    events = _rows(app, "SELECT * FROM events WHERE kind = 'control_overdue'")
    assert len(events) == 1 and events[0]["condition_cleared_at"] is None
    assert _record(client, done_on="2026-06-12").status_code == 303
    assert _row(client.get("/calendar").text, "periodic_workplace") == "ok 2026-09-12"
    events = _rows(app, "SELECT * FROM events WHERE kind = 'control_overdue'")
    assert len(events) == 1 and events[0]["condition_cleared_at"] is not None
    conn = connect(app.state.store_path)
    rows = audit.entries(conn, action="control.record")
    conn.close()
    assert len(rows) == 2 and rows[0]["username"] == "pcr"
    assert rows[0]["target"] == "control:chu/bloc1/periodic_workplace"
    assert rows[0]["detail"]["point_id"] == 1
    history = client.get("/calendar/room", params={"site": "chu", "room": "bloc1"}).text
    assert history.count('data-testid="history-row"') == 2 and "PCR M. Curie" in history


@pytest.mark.parametrize("fields,field,message", [
    ({"done_on": "2026-06-16"}, "done_on", "La date ne peut pas être dans le futur."),
    ({"done_on": "hier"}, "done_on", "AAAA-MM-JJ"),
    ({"result": "not_ok"}, "note", "Indiquez ce qui n'était pas conforme."),
    ({"room": "chu/nowhere"}, "room", "Salle inconnue."),
    ({"control": "x"}, "control", "Type de vérification inconnu."),
    ({"control": "ambient_internal"}, "control", "n'est plus en vigueur"),
    ({"point": ""}, "point", "Choisissez le point de mesure vérifié."),
    ({"performed_by": ""}, "performed_by", "Obligatoire."),
])
def test_a_refused_record_says_why_next_to_the_field(app: FastAPI, client: TestClient,
                                                     fields: dict[str, str], field: str,
                                                     message: str) -> None:
    login(client, "pcr")
    response = _record(client, **fields)
    assert response.status_code == 422
    assert f'id="record-{field}-error"' in response.text
    assert message in html.unescape(response.text)
    assert _rows(app, "SELECT * FROM control_records") == []


def test_room_settings_mobile_device_and_dates(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    data = {"site": "chu", "room": "bloc1", "device_kind": "mobile", "received_on": "2026-05-02",
            "first_use_on": "2026-05-04", "use_changed_on": "", "csrf_token": csrf(client)}
    response = client.post("/calendar/room", data=data, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    # At commissioning (before first use), not recorded yet: due that day, overdue now.
    assert _row(page, "initial_equipment") == "overdue 2026-05-04"
    assert _record(client, control="initial_equipment", point="",
                   done_on="2026-05-03").status_code == 303
    page = client.get("/calendar").text
    assert _row(page, "initial_equipment") == "unscheduled "  # no renewal set: done
    bad = client.post("/calendar/room", data={**data, "first_use_on": "2026-04-01",
                                              "csrf_token": csrf(client)})
    assert bad.status_code == 422 and 'id="room-first_use_on-error"' in bad.text
    assert "antérieure à la réception" in html.unescape(bad.text)
    conn = connect(app.state.store_path)
    rows = audit.entries(conn, action="control.room")
    conn.close()
    assert len(rows) == 1 and rows[0]["detail"]["before"]["device_kind"] == "fixed"


def test_a_viewer_cannot_record_nor_change_a_room(client: TestClient) -> None:
    login(client, "viewer")
    assert _record(client).status_code == 403
    assert client.post("/calendar/room", data={"site": "chu", "room": "bloc1",
                                               "device_kind": "mobile",
                                               "csrf_token": csrf(client)}).status_code == 403


def test_an_admin_adds_a_site_type(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    form = {"key": "apron_check", "name": "Tabliers plombés", "period_months": "12",
            "period_months_mobile": "", "triggers": ["receipt"]}
    assert client.post("/calendar/types", data={**form, "csrf_token": csrf(client)}
                       ).status_code == 403
    login(client, "admin")
    response = client.post("/calendar/types", data={**form, "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303
    page = client.get("/calendar").text
    assert 'data-key="apron_check" data-source="site"' in page and "Tabliers plombés" in page
    again = client.post("/calendar/types", data={**form, "csrf_token": csrf(client)})
    assert again.status_code == 422 and 'id="type-key-error"' in again.text
    bad = client.post("/calendar/types", data={**form, "key": "other", "period_months": "x",
                                               "csrf_token": csrf(client)})
    assert bad.status_code == 422 and 'id="type-period_months-error"' in bad.text
    assert len(_rows(app, "SELECT * FROM control_types")) == 1


# -- the ICS feed --------------------------------------------------------------------------------


def _unfold(body: bytes) -> list[str]:
    assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")
    raw = body.split(b"\r\n")[:-1]
    for line in raw:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a character
    return body.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


def _check_ics(body: bytes) -> list[dict[str, str]]:
    lines = _unfold(body)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(x.startswith("PRODID:") for x in lines)
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    depth = 0
    for line in lines:
        name, _, value = line.partition(":")
        if name == "BEGIN":
            depth += 1
            if value == "VEVENT":
                current = {}
        elif name == "END":
            depth -= 1
            if value == "VEVENT" and current is not None:
                events.append(current)
                current = None
        elif current is not None and name not in current:
            current[name] = value
    assert depth == 0
    for event in events:
        assert {"UID", "DTSTAMP", "DTSTART;VALUE=DATE", "DTEND;VALUE=DATE", "SUMMARY"} <= set(event)
        assert re.fullmatch(r"\d{8}T\d{6}Z", event["DTSTAMP"])
        assert re.fullmatch(r"\d{8}", event["DTSTART;VALUE=DATE"])
    assert len({e["UID"] for e in events}) == len(events)
    return events


def _calendar_token(app: FastAPI, role: Role = "viewer") -> str:
    """A token of scope calendar (the only kind a feed address may carry)."""
    user = add_account(app, role)
    conn = connect(app.state.store_path)
    try:
        return new_token(conn, user.id, "agenda", "calendar")
    finally:
        conn.close()


def _new_token_on_the_page(app: FastAPI, client: TestClient, scope: str) -> tuple[str, int]:
    """Create a token on /account/tokens as the logged-in user: (token, its id)."""
    page = client.post("/account/tokens", data={"name": f"feed {scope}", "scope": scope,
                                                "csrf_token": csrf(client)})
    assert page.status_code == 200, page.text[:300]
    token = page.text.split('<code class="token">', 1)[1].split("<", 1)[0]
    return token, int(_rows(app, "SELECT max(id) AS id FROM api_tokens")[0]["id"])


def test_the_feed_needs_a_token_a_bearer_or_a_session(app: FastAPI, client: TestClient) -> None:
    response = client.get("/calendar.ics", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    for bad in ("vy_nonsense", "x"):
        assert client.get("/calendar.ics", params={"token": bad}).status_code == 401
        assert client.get("/calendar.ics", headers=bearer(bad)).status_code == 401
    token = _calendar_token(app)
    by_query = client.get("/calendar.ics", params={"token": token})
    assert by_query.status_code == 200
    assert by_query.headers["content-type"] == "text/calendar; charset=utf-8"
    assert client.get("/calendar.ics", headers=bearer(token)).status_code == 200
    assert client.get("/api/controls", params={"token": token}).status_code == 401  # feed only
    login(client, "viewer")
    assert client.get("/calendar.ics").status_code == 200


def test_an_api_token_is_refused_in_the_feed_address(app: FastAPI, client: TestClient) -> None:
    """A feed address ends up in cloud calendars: an API token (pcr: write rights) must not."""
    token = api_token(app, "pcr")
    response = client.get("/calendar.ics", params={"token": token})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API token is refused in ?token=" in response.json()["detail"]
    assert "calendar" in response.json()["detail"]
    login(client, "viewer")  # a session does not rescue a token given in the address
    assert client.get("/calendar.ics", params={"token": token}).status_code == 401
    client.cookies.clear()
    assert client.get("/calendar.ics", headers=bearer(token)).status_code == 200  # a header


def test_a_calendar_token_reads_the_feed_and_nothing_else(app: FastAPI,
                                                          client: TestClient) -> None:
    token = _calendar_token(app, "admin")  # even an admin's
    assert client.get("/calendar.ics", params={"token": token}).status_code == 200
    for path in ("/api/rooms", "/api/controls", "/api/me", "/api/metrics"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 401, path
    assert client.get("/metrics", headers=bearer(token)).status_code == 401
    assert client.post("/api/controls/records", json={}, headers=bearer(token)).status_code == 401


def test_a_revoked_calendar_token_is_refused(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    token, token_id = _new_token_on_the_page(app, client, "calendar")
    client.cookies.clear()
    assert client.get("/calendar.ics", params={"token": token}).status_code == 200
    login(client, "viewer")
    response = client.post(f"/account/tokens/{token_id}/revoke",
                           data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.clear()
    refused = client.get("/calendar.ics", params={"token": token})
    assert refused.status_code == 401 and refused.json()["detail"] == "invalid or revoked token"
    assert client.get("/calendar.ics", headers=bearer(token)).status_code == 401


def test_the_feed_is_valid_icalendar(tmp_path: Path) -> None:
    long_name = "Vérification des équipements de protection individuelle, " * 2
    app = _app(tmp_path, controls={"types": [{"key": "epi", "name": long_name.strip(),
                                              "period_months": 12}]})
    with TestClient(app) as client:
        login(client, "pcr")
        assert _record(client).status_code == 303
        body = client.get("/calendar.ics").content
    events = _check_ics(body)
    # the four periodic defaults (the workplace: its one probe point) and the site's type;
    # the initial and return-to-service verifications wait for their occasions
    assert len(events) == 5
    overdue = [e for e in events if e["DTSTART;VALUE=DATE"] == "20260410"]
    assert len(overdue) == 1 and overdue[0]["SUMMARY"].startswith("En retard")
    assert any("Vérification des équipements" in e["SUMMARY"] for e in events)
    assert b"TRIGGER:-P30D\r\n" in body and b"TRIGGER:-P7D\r\n" in body
    assert b"\\," not in body or b"," not in body.replace(b"\\,", b"")  # commas escaped


# -- API -----------------------------------------------------------------------------------------


def test_api_lists_and_records(app: FastAPI, client: TestClient) -> None:
    viewer = api_token(app, "viewer")
    items = client.get("/api/controls", headers=bearer(viewer)).json()
    assert items["today"] == "2026-06-15" and len(items["items"]) == 7
    assert {i["status"] for i in items["items"]} == {"upcoming", "unscheduled"}
    body = {"site": "chu", "room": "bloc1", "control": "periodic_workplace", "point_id": 1,
            "done_on": "2026-06-01", "result": "ok", "performed_by": "OCR Contrôle SA"}
    assert client.post("/api/controls/records", json=body,
                       headers=bearer(viewer)).status_code == 403
    pcr = api_token(app, "pcr")
    response = client.post("/api/controls/records", json=body, headers=bearer(pcr))
    assert response.status_code == 201
    assert response.json()["record"]["next_due"] == "2026-09-01"
    records = client.get("/api/controls/records", headers=bearer(viewer)).json()
    assert records[0]["performed_by"] == "OCR Contrôle SA" and records[0]["recorded_by"] == "pcr"
    future = client.post("/api/controls/records", json={**body, "done_on": "2027-01-01"},
                         headers=bearer(pcr))
    assert future.status_code == 422 and future.json()["detail"][0]["loc"] == ["body",
                                                                               "done_on"]
    missing = client.post("/api/controls/records", json={**body, "result": "fine"},
                          headers=bearer(pcr))
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body",
                                                                                 "result"]
    room = client.post("/api/controls/rooms", json={"site": "chu", "room": "bloc1",
                                                    "device_kind": "mobile"},
                       headers=bearer(pcr))
    assert room.status_code == 200 and room.json()["after"]["device_kind"] == "mobile"
    types = client.get("/api/controls/types", headers=bearer(viewer)).json()
    assert [t["key"] for t in types][:2] == ["initial_equipment", "initial_workplace"]
    assert all(t["basis"] for t in types)
    assert len(_rows(app, "SELECT * FROM control_records")) == 1


def test_the_background_check_opens_overdue_events(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    with write(conn):
        ca.record_done(conn, Controls(), "marie", "chu", "bloc1", "periodic_workplace",
                       "2026-01-10", "ok", "PCR", "", "", datetime(2026, 1, 10, tzinfo=UTC), 1)
    conn.close()
    app.state.jobs = {"controls"}  # as beside the ingest
    with TestClient(app):  # the app's lifespan starts the job: a check at once
        deadline = time.monotonic() + 10
        while not _rows(app, "SELECT * FROM events WHERE kind = 'control_overdue'"):
            assert time.monotonic() < deadline, "the background check did not run"
            time.sleep(0.02)
    assert check_controls(app.state.store_path, app.state.config, NOW) == {
        "opened": 0, "ended": 0}  # idempotent
    events = _rows(app, "SELECT * FROM events WHERE kind = 'control_overdue'")
    assert [e["ref"] for e in events] == ["control:periodic_workplace:point:1"]
