"""The site's display names (issue 16, item 3): an admin names a door on an audited page,
the room pages show the name in place of the key; nobody else may; hostile labels are
refused with a clear message; the table comes with migration step 4."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db import migrations
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.web import names
from tests.hub_factory import DEVICE, ROOM, SITE
from tests.test_web_rooms import fill
from tests.web_helpers import csrf, login, make_app

FR = {"Accept-Language": "fr"}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    store = Store.open(tmp_path / "hub.db")
    try:
        fill(store)
    finally:
        store.close()
    return app


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "admin")
        yield client


def _set(client: TestClient, label: str, key: str = "door.corridor", kind: str = "signal",
         token: str | None = None) -> Any:
    return client.post("/admin/names", headers=FR, follow_redirects=False, data={
        "device": DEVICE, "kind": kind, "key": key, "label": label,
        "csrf_token": csrf(client) if token is None else token})


def test_an_admin_names_a_door_and_the_room_pages_show_it(app: FastAPI,
                                                          admin: TestClient) -> None:
    page = admin.get("/admin/names", headers=FR)
    assert page.status_code == 200 and "Noms affichés" in page.text
    assert f'data-device="{DEVICE}" data-kind="signal" data-key="door.corridor"' in page.text
    assert '<code>door.corridor</code>' in page.text  # the admin sees the keys
    response = _set(admin, "  Porte   du couloir ")
    assert response.status_code == 303
    assert _set(admin, "Salle de radiologie 3", key=DEVICE, kind="device"
                ).status_code == 303
    room = admin.get(f"/rooms/{DEVICE}", headers=FR).text
    assert "Porte du couloir" in room and "Porte corridor" not in room
    assert "Salle de radiologie 3" in room.split('data-testid="room-title"')[1][:200]
    overview = admin.get("/", headers=FR).text
    assert "Porte du couloir" in overview and "Salle de radiologie 3" in overview
    conn = connect(app.state.store_path)
    try:
        audit = conn.execute("SELECT username, action, target, detail FROM audit"
                             " WHERE action = 'names.set' ORDER BY id").fetchall()
        assert names.load(conn).signal(DEVICE, "door.corridor") == "Porte du couloir"
    finally:
        conn.close()
    assert audit[0][:3] == ("admin", "names.set", f"signal:{DEVICE}:door.corridor")
    assert '"label": "Porte du couloir"' in audit[0][3]
    # emptied: the key's words come back
    assert _set(admin, "   ").status_code == 303
    assert "Porte corridor" in admin.get(f"/rooms/{DEVICE}", headers=FR).text


def test_hostile_and_long_labels_are_refused_clearly(admin: TestClient) -> None:
    long = _set(admin, "x" * 200)
    assert long.status_code == 400
    assert "Un nom compte au plus 80 caractères (200 saisis)." in long.text
    assert 'data-testid="name-error"' in long.text
    bidi = _set(admin, "Porte\u202eelpmaxe")
    assert bidi.status_code == 400 and "U+202E" in bidi.text
    forged = _set(admin, "Porte", key="door.nowhere")
    assert forged.status_code == 400
    assert "Rien à nommer" in forged.text
    assert _set(admin, "x", kind="zone").status_code == 400
    assert "\u202e" not in admin.get(f"/rooms/{DEVICE}").text


def test_only_an_admin_with_the_forms_token_may_name(app: FastAPI) -> None:
    with TestClient(app) as client:
        login(client, "admin")
        assert _set(client, "Porte A", token="forged").status_code == 403
        for role in ("viewer", "pcr"):
            login(client, role)
            assert client.get("/admin/names").status_code == 403
            assert _set(client, "Porte B").status_code == 403
    conn = connect(app.state.store_path)
    try:
        assert names.load(conn).labels == {}
    finally:
        conn.close()


def test_migration_step_4_makes_the_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    migrations.migrate(conn)
    conn.execute("BEGIN")
    conn.execute("DROP TABLE display_names")
    conn.execute("PRAGMA user_version = 3")  # a store of the hub before names
    conn.execute("COMMIT")
    assert migrations.migrate(conn) == [n for n, _w, _s in migrations.MIGRATIONS if n >= 4]
    assert names.load(conn).labels == {}
    assert names.load(conn).device("x") == "x" and names.load(conn).signal("x", "door.a") is None
    conn.close()


def test_the_write_lock_check_agrees_with_the_page_list(app: FastAPI) -> None:
    """``is_target`` (point lookups inside the write lock) says yes to exactly what the
    page lists (``targets``, a scan): every listed target, and none of these others."""
    conn = connect(app.state.store_path)
    try:
        listed = names.targets(conn)
        assert (DEVICE, "signal", "door.corridor") in listed and len(listed) >= 4
        assert all(names.is_target(conn, *target) for target in listed)
        for other in [(DEVICE, "signal", "door.nowhere"), (DEVICE, "signal", "emission"),
                      (DEVICE, "point", "nowhere"), (DEVICE, "device", "another-box"),
                      ("another-box", "device", "another-box"), (DEVICE, "room", DEVICE)]:
            assert other not in listed and not names.is_target(conn, *other), other
    finally:
        conn.close()


def test_a_point_named_by_the_site_shows_on_the_points_and_calendar_pages(
        admin: TestClient) -> None:
    assert _set(admin, "Sonde au-dessus du pupitre", key="probe", kind="point").status_code == 303
    assert "Sonde au-dessus du pupitre" in admin.get("/points", headers=FR).text
    calendar = admin.get("/calendar", headers=FR).text
    assert "lieux de travail · <strong>Sonde au-dessus du pupitre</strong>" in calendar


def test_what_an_alarm_is_about_is_said_by_the_site_name(app: FastAPI,
                                                        admin: TestClient) -> None:
    """The monitor names a door by its bare key in an alarm (``corridor``): the inbox, the
    event's title and the room card say the site's name of ``door.corridor``."""
    store = Store.open(app.state.store_path)
    try:
        with write(store.conn):
            event_id = store.open_event("door_open_during_emission", DEVICE, SITE, ROOM,
                                        "j:9", "2026-01-05T09:00:00.000Z",
                                        {"subject": "corridor"}, severity="critical")
    finally:
        store.close()
    assert "(corridor)" in admin.get("/events", headers=FR).text
    assert _set(admin, "Porte du couloir").status_code == 303
    for url in ("/events", f"/events/{event_id}", "/"):
        page = admin.get(url, headers=FR).text
        assert "(Porte du couloir)" in page and "(corridor)" not in page, url
