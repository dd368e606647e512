"""The verification programme page (art. 18), the site's intervals, the room's
modifications and maintenances, and the ESR follow-up reports in the calendar."""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.config import Controls
from hub.controls import actions as ca
from hub.controls.types import BUILTIN, ControlError
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.web import audit
from tests.web_helpers import api_token, bearer, csrf, login, make_app

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    conn.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _audit(app: FastAPI, action: str) -> list[dict[str, Any]]:
    conn = connect(app.state.store_path)
    try:
        return audit.entries(conn, action=action)
    finally:
        conn.close()


def _due(page: str, control: str) -> str:
    marker = f'data-testid="due-row" data-control="{control}" data-status="'
    status, _, rest = page.split(marker, 1)[1].partition('"')
    due = rest.split('data-due="', 1)[1].split('"', 1)[0]
    return f"{status} {due}"


def test_the_programme_lists_every_type_with_its_interval_and_basis(
        client: TestClient) -> None:
    login(client, "viewer")
    page = html.unescape(client.get("/calendar/programme").text)
    assert "Programme des vérifications" in page and "art. 18" in page
    for ctype in BUILTIN:
        assert f'data-testid="programme-type" data-key="{ctype.key}"' in page
    assert page.count('data-testid="programme-type"') == len(BUILTIN)
    assert "Code du travail R.4451-45\u202f; arrêté du 23 octobre 2020, art. 12" in page
    assert "Code du travail R.4451-40\u202f; arrêté du 23 octobre 2020, art. 5" in page
    assert "Code du travail R.4451-48" in page and "organisme accrédité" in page
    assert "conseiller en radioprotection (CRP)" in page
    assert "au plus 3 mois" in page and "au plus 12 mois" in page
    assert "@media print" in page and 'class="no-print"' in page
    assert "contrôle" not in page.split("<main>", 1)[1].lower().replace("contrôle qualité", "")
    client.cookies.set("lang", "en")
    english = client.get("/calendar/programme")
    assert "Verification programme" in english.text and "radiation protection adviser" in (
        english.text)


def test_an_admin_sets_an_interval_within_the_law(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    form = {"key": "periodic_equipment", "enabled": "1", "period_months": "6",
            "period_months_mobile": ""}
    assert client.post("/calendar/type-settings", data={**form, "csrf_token": csrf(client)}
                       ).status_code == 403
    login(client, "admin")
    done = client.post("/calendar/type-settings", data={**form, "csrf_token": csrf(client)},
                       follow_redirects=False)
    assert done.status_code == 303
    programme = client.get("/calendar/programme").text
    row = programme.split('data-key="periodic_equipment"', 1)[1].split("</tr>", 1)[0]
    assert "<td>6 mois" in row
    (entry,) = _audit(app, "control.type_settings")
    assert entry["detail"]["before"]["period_months"] == 12
    assert entry["detail"]["after"]["period_months"] == 6
    too_long = client.post("/calendar/type-settings", data={
        "key": "periodic_workplace", "enabled": "1", "period_months": "4",
        "period_months_mobile": "", "csrf_token": csrf(client)})
    assert too_long.status_code == 422
    assert "Un nombre de mois de 1 à 3." in html.unescape(too_long.text)
    for bad in ({"period_months": ""}, {"period_months": "+1"},
                {"key": "ambient_internal"}, {"key": "x' OR 1=1"}):
        response = client.post("/calendar/type-settings", data={
            **form, **bad, "csrf_token": csrf(client)})
        assert response.status_code == 422, bad
    assert len(_audit(app, "control.type_settings")) == 1


def test_a_site_enables_a_quality_control_type(app: FastAPI, client: TestClient) -> None:
    login(client, "admin")
    assert 'data-key="quality_audit" data-source' not in client.get("/calendar").text
    response = client.post("/calendar/type-settings", data={
        "key": "quality_audit", "enabled": "1", "period_months": "12",
        "period_months_mobile": "", "csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get("/calendar").text
    assert 'data-key="quality_audit" data-source="optional"' in page
    api = client.put("/api/controls/types/quality_audit", json={"enabled": False},
                     headers=bearer(api_token(app, "admin")))
    assert api.status_code == 200 and api.json()["after"]["enabled"] is False
    assert 'data-key="quality_audit" data-source' not in client.get("/calendar").text
    refused = client.put("/api/controls/types/periodic_equipment",
                         json={"enabled": False}, headers=bearer(api_token(app, "admin")))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
        "body", "enabled"]


def test_a_maintenance_calls_for_the_return_to_service_verification(
        app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    room = client.get("/calendar/room", params={"site": "chu", "room": "bloc1"}).text
    assert _due(room, "return_to_service") == "unscheduled "
    data = {"site": "chu", "room": "bloc1", "kind": "maintenance", "on_day": "2026-06-10",
            "note": "tube replaced", "csrf_token": csrf(client)}
    response = client.post("/calendar/occasion", data=data, follow_redirects=False)
    assert response.status_code == 303
    room = client.get(response.headers["location"]).text
    assert _due(room, "return_to_service") == "overdue 2026-06-10"
    assert 'data-testid="occasion-row" data-kind="maintenance"' in room
    modified = client.post("/api/controls/occasions", headers=bearer(api_token(app, "pcr")),
                           json={"site": "chu", "room": "bloc1", "kind": "modification",
                                 "on_day": "2026-06-12", "note": "new collimator"})
    assert modified.status_code == 201
    room = client.get("/calendar/room", params={"site": "chu", "room": "bloc1"}).text
    assert _due(room, "initial_equipment") == "overdue 2026-06-12"
    assert len(_audit(app, "control.occasion")) == 2
    for bad, field in (({"on_day": "2026-06-16"}, "on_day"), ({"kind": "repair"}, "kind"),
                       ({"note": " "}, "note")):
        refused = client.post("/calendar/occasion", data={**data, **bad,
                                                          "csrf_token": csrf(client)})
        assert refused.status_code == 422 and f'id="occasion-{field}-error"' in refused.text


def test_occasions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    Store.open(path).close()
    conn: sqlite3.Connection = connect(path)
    try:
        conn.execute("INSERT INTO devices (device, site, room) VALUES ('b', 'chu', 'bloc1')")
        with write(conn):
            ca.add_occasion(conn, Controls(), "pcr", "chu", "bloc1", "maintenance",
                            "2026-06-01", "door contact replaced", NOW)
        with pytest.raises(sqlite3.DatabaseError, match="kept"):
            conn.execute("DELETE FROM control_occasions")
        with pytest.raises(sqlite3.DatabaseError, match="kept"):
            conn.execute("UPDATE control_occasions SET on_day = '2026-01-01'")
        with pytest.raises(ControlError) as caught, write(conn):
            ca.add_occasion(conn, Controls(), "pcr", "chu", "nowhere", "maintenance",
                            "2026-06-01", "x", NOW)
        assert caught.value.field == "room"
    finally:
        conn.close()


def test_esr_follow_up_reports_fall_due_in_the_calendar(app: FastAPI,
                                                        client: TestClient) -> None:
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO events (kind, device, site, room, ref, opened_at, esr, declared_at,"
                 " declaration_ref, followup_due) VALUES ('unsolicited_emission', 'box-1',"
                 " 'chu', 'bloc1', '', '2026-04-01T08:00:00Z', 1, '2026-04-03',"
                 " 'ESR-2026-07', '2026-06-03')")
    event_id = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    conn.close()
    login(client, "viewer")
    page = html.unescape(client.get("/calendar").text)
    assert "Comptes rendus d'ESR à remettre" in page
    assert f'<a href="/events/{event_id}">chu · bloc1 · ESR-2026-07</a>' in page
    assert "échéance mercredi 3 juin 2026" in page  # a deadline with its weekday
    feed = client.get("/calendar.ics").content.decode().replace("\r\n ", "")
    assert f"UID:esr-followup-{event_id}@" in feed and "DTSTART;VALUE=DATE:20260603" in feed
    assert "Compte rendu d'ESR à remettre" in feed
