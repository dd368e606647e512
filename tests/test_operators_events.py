"""Operator events name nobody outside the events page of the PCR (#17 item 6, review):
the detail holds the register's number or the irradiation event's UID and the name's
rank; a viewer's page, the API (session or token) and the CSV never show a name; the PCR
sees it while the feature is on and the name kept, « nom non conservé » after the
retention purge or the feature turned off."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom import Dataset

from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr import operators_register as register
from hub.rdsr import operators_settings as settings
from hub.rdsr import retention
from hub.rdsr.operators_flags import flag
from hub.rdsr.store import store_bytes
from hub.web.auth import User
from tests import rdsr_builder as b
from tests.hub_factory import DEVICE
from tests.test_web_rooms import fill
from tests.web_helpers import api_token, bearer, login, make_app

ADMIN = User(1, "admin", "admin", "Admin")
FR = {"Accept-Language": "fr"}
KNOWN, UNKNOWN = "1.2.826.0.1.3680043.8.498.11", "1.2.826.0.1.3680043.8.498.12"
#: What must never reach a viewer, the API or the CSV.
SECRETS = ("Paul", "MARTIN", "INCONNU", "RPPS-9")
NOT_SHOWN, NOT_KEPT = "nom non affiché pour ce rôle", "nom non conservé"


def report(uid: str, start: str, *people: Dataset) -> bytes:
    out = BytesIO()
    b.report(b.event(start, *people, uid=uid), tz_offset="+0000").save_as(
        out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """Salle-3's first two emissions matched to events naming Paul Martin (in the
    register, training lapsed) and an unknown INCONNU^Jean (RPPS-9); flags raised."""
    made = make_app(tmp_path_factory.mktemp("operator-events"))
    store = Store.open(made.state.store_path)
    try:
        fill(store)
    finally:
        store.close()
    conn = connect(made.state.store_path)
    try:
        assert settings.enable(conn, "yes", ADMIN)
        pid = next(p.id for p in settings.professions(conn) if p.name == "Médecin")
        register.save(conn, "", register.parse_form(
            conn, "Paul Martin", str(pid), "2020-01-01", "2020-01-01", "MARTIN^Paul", "",
            today=date(2026, 6, 1)), ADMIN)
        assert store_bytes(conn, report(KNOWN, "20260105080000", b.operator("MARTIN^Paul")),
                           "peer").status == "stored"
        assert store_bytes(conn, report(UNKNOWN, "20260105090000", b.operator(
            "INCONNU^Jean", person_id="RPPS-9")), "peer").status == "stored"
        rows = conn.execute("SELECT journal, run, number FROM exposures WHERE device = ?"
                            " ORDER BY start LIMIT 2", [DEVICE]).fetchall()
        conn.executemany("INSERT INTO rdsr_matches (device, journal, run, number,"
                         " irradiation_event_uid) VALUES (?, ?, ?, ?, ?)",
                         [(DEVICE, *row, uid) for row, uid in zip(rows, (KNOWN, UNKNOWN),
                                                                  strict=True)])
        conn.commit()
        assert flag(conn, datetime(2026, 6, 1, tzinfo=UTC)) == 2
    finally:
        conn.close()
    return made


@pytest.fixture(scope="module")
def ids(app: FastAPI) -> dict[str, int]:
    conn = connect(app.state.store_path)
    try:
        return {str(k): int(i) for i, k in conn.execute(
            "SELECT id, kind FROM events WHERE kind LIKE 'operator%'")}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pcr(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "pcr")
        yield client


def text(client: TestClient, path: str, headers: dict[str, str] = FR) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return html.unescape(response.text)


def test_the_stored_detail_names_nobody(app: FastAPI, ids: dict[str, int]) -> None:
    conn = connect(app.state.store_path)
    try:
        for detail, ref in conn.execute("SELECT detail, ref FROM events WHERE id IN (?, ?)",
                                        list(ids.values())):
            assert not any(s.lower() in (detail + ref).lower() for s in SECRETS), detail
    finally:
        conn.close()


def test_a_viewer_the_api_and_the_csv_never_show_a_name(app: FastAPI, pcr: TestClient,
                                                        ids: dict[str, int]) -> None:
    assert set(ids) == {"operator_training_lapsed", "operator_unknown"}
    with TestClient(app) as viewer:
        login(viewer, "viewer")
        for event_id in ids.values():
            page = text(viewer, f"/events/{event_id}")
            assert NOT_SHOWN in page and not any(s in page for s in SECRETS)
        seen = [text(viewer, "/events"), text(viewer, "/api/events"),
                text(viewer, f"/api/events/{ids['operator_unknown']}")]
        assert not any(s in page for page in seen for s in SECRETS)
    token = bearer(api_token(app, "viewer", "robot"))
    listed = pcr.get("/api/events", headers=token).json()
    assert {e["kind"] for e in listed["events"]} >= set(ids)
    for body in (json.dumps(listed), text(pcr, "/api/events"),
                 text(pcr, f"/rooms/{DEVICE}/exposures.csv")):
        assert not any(s in body for s in SECRETS)


def test_the_pcr_sees_the_name_while_kept_then_name_not_kept(app: FastAPI, pcr: TestClient,
                                                             ids: dict[str, int]) -> None:
    lapsed = f"/events/{ids['operator_training_lapsed']}"
    unknown = f"/events/{ids['operator_unknown']}"
    page = text(pcr, lapsed)
    assert "Paul Martin" in page and "Médecin" in page and NOT_KEPT not in page
    assert "1 janvier 2023" in page  # workers' training of 2020-01-01 valid 36 months
    page = text(pcr, unknown)
    assert "INCONNU Jean" in page and "RPPS-9" in page and KNOWN not in page
    conn = connect(app.state.store_path)
    try:  # the retention purge deletes the names the files brought: the register stays
        assert retention.purge(conn, 1, datetime.now(UTC) + timedelta(days=2)).files == 2
    finally:
        conn.close()
    assert "Paul Martin" in text(pcr, lapsed)
    page = text(pcr, unknown)
    assert NOT_KEPT in page and "INCONNU" not in page
    assert "name not kept" in text(pcr, unknown, {"Accept-Language": "en"})
    conn = connect(app.state.store_path)
    try:
        settings.disable(conn, ADMIN)
    finally:
        conn.close()
    page = text(pcr, lapsed)
    assert NOT_KEPT in page and "Paul" not in page
