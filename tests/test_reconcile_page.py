"""The room's reconciliation page and the calendar's hours (#17 item 4): French and English,
hostile query strings refused, no patient identifier, the event's detail in words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr.reconcile_store import paris_days, reconcile_room
from hub.rdsr.store import store_bytes
from tests.test_no_raw_codes import raw_codes, visible_text, vocabulary
from tests.test_reconcile_store import BOX, JOURNAL, ROOM, SITE, T, _emission, _rdsr
from tests.web_helpers import csrf, login, make_app

PAGE = f"/rooms/{SITE}/{ROOM}/reconciliation"
DAYS = "?from=2026-01-15&to=2026-01-15"
STUDY = "1.2.826.0.1.3680043.8.498.77000111222333"
NOW = datetime(2026, 1, 16, 12, tzinfo=UTC)


def _stock(path: Path) -> None:
    """A room with an Artis mapped to it: a study of two events (one covering two pedal
    presses, one with no emission), an emission two hours later with no study; the file
    names a patient."""
    Store.open(path).close()
    conn = connect(path)
    try:
        conn.execute("INSERT INTO devices (device, site, room, journal) VALUES (?, ?, ?, ?)",
                     [BOX, SITE, ROOM, JOURNAL])
        ds = pydicom.dcmread(BytesIO(_rdsr([(T, 13.0, STUDY + ".1"),
                                            (T + 600, 3.0, STUDY + ".2")], study=STUDY)))
        ds.PatientName, ds.PatientID = "DUPONT^JEAN", "IPP-424242"
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        assert store_bytes(conn, out.getvalue(), "ARTIS@10.0.0.5",
                           peer_device="Artis").status == "stored"
        conn.execute("UPDATE rdsr_devices SET device = ?", [BOX])
        _emission(conn, 1, T + 1, 3.0)
        _emission(conn, 2, T + 6, 2.0)
        _emission(conn, 3, T + 7200, 2.5)
        _emission(conn, 4, T - 7200, 4.0)  # before the device's first study: no feed yet
        start, end = paris_days(NOW.date(), NOW.date())
        reconcile_room(conn, SITE, ROOM, *paris_days(datetime(2026, 1, 15).date(),
                                                     datetime(2026, 1, 15).date()), NOW, 6.0)
        assert start < end
    finally:
        conn.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    tmp = tmp_path_factory.mktemp("reconcile")
    built = make_app(tmp)
    built.state.clock = lambda: NOW
    _stock(tmp / "hub.db")
    return built


@pytest.fixture(scope="module")
def viewer(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        login(client, "viewer", "lea")  # a username no code: "viewer" is a role
        yield client


def test_the_page_in_french(viewer: TestClient) -> None:
    response = viewer.get(PAGE + DAYS, headers={"Accept-Language": "fr"})
    assert response.status_code == 200, response.text[:400]
    text = visible_text(response.text)
    assert "Rapprochement avec les rapports de dose" in text
    assert "Aucune étude de la salle ne couvre ce moment" in text  # the 3rd emission
    assert "Aucune émission de la salle ne le couvre" in text  # the second event
    assert "12:30:00" in text and "10:30:0" in text  # 11:30 and 09:30 UTC, Paris time
    assert f'title="{STUDY}"' in response.text and "…" in text
    assert "5,0\u00a0s" in text and "28,0\u00a0s" in text and "−23,0\u00a0s" in text
    assert not raw_codes(text, vocabulary())
    assert "DUPONT" not in response.text and "424242" not in response.text


def test_emissions_before_the_feed_are_a_count_and_a_sentence(viewer: TestClient) -> None:
    french = viewer.get(PAGE + DAYS, headers={"Accept-Language": "fr"}).text
    assert 'data-testid="reconcile-before-feed">1<' in french
    text = visible_text(french)
    assert "Les rapports de dose de cette salle arrivent depuis le" in text
    assert "avant l'envoi des rapports de dose" in text
    english = visible_text(viewer.get(PAGE + DAYS, headers={"Accept-Language": "en"}).text)
    assert "The room's dose report feed started on" in english
    assert 'data-verdict="no_study"' in french and french.count('data-testid="unmatched-row"') == 1


def test_the_page_in_english(viewer: TestClient) -> None:
    response = viewer.get(PAGE + DAYS, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "No study of the room covers that time" in response.text
    assert "DUPONT" not in response.text


@pytest.mark.parametrize(("query", "status"), [
    ("?from=2026-13-01", 422), ("?from=../../etc/passwd", 422), ("?to=２０２６-01-01", 422),
    ("?from=2026-01-15&to=2026-01-14", 422), ("?from=2020-01-01&to=2026-01-14", 422),
    ("?from=0001-01-01", 422), ("?from=" + "9" * 5000, 422), ("?from=2026-01-15", 200)])
def test_hostile_query_strings_are_refused(viewer: TestClient, query: str,
                                           status: int) -> None:
    response = viewer.get(PAGE + query)
    assert response.status_code == status
    field = response.text.split('data-testid="filter-from"')[0].rsplit("<input", 1)[1]
    assert len(field) < 200  # the day field echoes at most 40 characters


@pytest.mark.parametrize("path", ["/rooms/no/such/reconciliation",
                                  f"/rooms/{SITE}/x/reconciliation"])
def test_an_unknown_room_is_404(viewer: TestClient, path: str) -> None:
    assert viewer.get(path).status_code == 404


def test_the_room_page_links_to_it(viewer: TestClient) -> None:
    assert PAGE in viewer.get(f"/rooms/{BOX}").text


def test_the_events_say_it_in_words(app: FastAPI, viewer: TestClient) -> None:
    conn = connect(app.state.store_path)
    try:
        rows = conn.execute("SELECT id, kind, severity, detail FROM events"
                            " WHERE kind IN ('emission_without_study',"
                            " 'study_without_emission') ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [(r[1], r[2]) for r in rows] == [("emission_without_study", "critical"),
                                            ("study_without_emission", "warning")]
    assert json.loads(rows[1][3])["study"] == STUDY
    for event_id, *_rest in rows:
        text = visible_text(viewer.get(f"/events/{event_id}",
                                       headers={"Accept-Language": "fr"}).text)
        assert not raw_codes(text, vocabulary()) and "DUPONT" not in text
    first = visible_text(viewer.get(f"/events/{rows[0][0]}").text)
    assert "Émission sans étude" in first and "Début de l'émission" in first
    second = visible_text(viewer.get(f"/events/{rows[1][0]}").text)
    assert "Étude sans émission" in second and STUDY in second


def test_the_calendar_records_the_hours(app: FastAPI) -> None:
    with TestClient(app) as client:
        login(client, "pcr")
        form = {"room": f"{SITE}/{ROOM}", "control": "periodic_equipment",
                "done_on": "2026-01-15", "result": "ok", "performed_by": "Claire Moreau",
                "from_time": "12:00", "to_time": "12:45", "back": "room"}
        refused = client.post("/calendar/record", headers={"Accept-Language": "fr"},
                              data={**form, "to_time": "11:00", "csrf_token": csrf(client)})
        assert refused.status_code == 422
        assert "La fin doit suivre le début." in refused.text
        done = client.post("/calendar/record", data={**form, "csrf_token": csrf(client)},
                           follow_redirects=False)
        assert done.status_code == 303
        room = client.get(done.headers["location"], headers={"Accept-Language": "fr"})
        assert "12:00–12:45" in room.text
    conn = connect(app.state.store_path)
    try:
        audit = conn.execute("SELECT detail FROM audit WHERE action = 'control.record'"
                             ).fetchone()[0]
        start, end = paris_days(datetime(2026, 1, 15).date(), datetime(2026, 1, 15).date())
        reconcile_room(conn, SITE, ROOM, start, end, NOW, 6.0)
        state = conn.execute("SELECT condition_cleared_at FROM events"
                             " WHERE kind = 'emission_without_study'").fetchone()[0]
    finally:
        conn.close()
    assert json.loads(audit)["window_start"] == "2026-01-15T11:00:00.000Z"
    assert state is not None  # the emission at 11:30 UTC (12:30 Paris) is now left out
