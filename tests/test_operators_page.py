"""The operators' admin page and the room's exposures (#17 item 6): off by default and
saying why (the CSE), turned on by an admin confirming the CSE was consulted (audited),
the register's forms audited and refusing hostile fields with a 400 naming the field, and
an emission's operators on the room page for the PCR only while the feature is on."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr.store import store_bytes
from tests import rdsr_builder as b
from tests.hub_factory import DEVICE
from tests.test_operators import MATCHES
from tests.test_web_rooms import fill
from tests.web_helpers import csrf, login, make_app

FR = {"Accept-Language": "fr"}
EN = {"Accept-Language": "en"}
NNBSP = "\u202f"
WHY_FR = ("La surveillance nominative des salariés requiert la consultation préalable du "
          "comité social et économique (CSE).")
UID = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """A hub with two rooms; salle-3's first emission matched to irradiation event UID."""
    path = tmp_path_factory.mktemp("operators")
    made = make_app(path)
    store = Store.open(made.state.store_path)
    try:
        fill(store)
    finally:
        store.close()
    conn = connect(made.state.store_path)
    try:
        conn.execute(MATCHES)
        journal, run, number = conn.execute(
            "SELECT journal, run, number FROM exposures WHERE device = ?"
            " ORDER BY start LIMIT 1", [DEVICE]).fetchone()
        conn.execute("INSERT INTO rdsr_matches (device, journal, run, number,"
                     " irradiation_event_uid) VALUES (?, ?, ?, ?, ?)",
                     [DEVICE, journal, run, number, UID])
    finally:
        conn.close()
    return made


@pytest.fixture(scope="module")
def admin(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "admin")
        yield client


def store_report(app: FastAPI, *names: str) -> None:
    out = BytesIO()
    b.report(b.event("20260105080000", *(b.operator(n) for n in names), uid=UID),
             tz_offset="+0000").save_as(out, enforce_file_format=True)
    conn = connect(app.state.store_path)
    try:
        assert store_bytes(conn, out.getvalue(), "peer").status == "stored"
    finally:
        conn.close()


def post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, headers=FR, follow_redirects=False,
                       data={**data, "csrf_token": csrf(client)})


def page(client: TestClient, path: str = "/admin/operators", headers: dict[str, str] = FR
         ) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return html.unescape(response.text)


def audit(app: FastAPI) -> list[tuple[str, dict[str, Any]]]:
    conn = connect(app.state.store_path)
    try:
        return [(str(a), json.loads(d)) for a, d in conn.execute(
            "SELECT action, detail FROM audit WHERE action LIKE 'operator%' ORDER BY id")]
    finally:
        conn.close()


def test_the_whole_story(app: FastAPI, admin: TestClient) -> None:
    """Off, then on with the CSE confirmed, a register entry, the room page, then off."""
    off = page(admin)
    assert WHY_FR in off
    assert 'data-on="false"' in off and "register-table" not in off
    assert 'href="/admin/operators"' in off  # in the admin's menu
    store_report(app, "MARTIN^Paul", "INCONNU^Jean")  # off: received, no name kept
    room = page(admin, f"/rooms/{DEVICE}")
    assert 'data-testid="exposure-operators"' not in room and "MARTIN" not in room

    refused = post(admin, "/admin/operators/enable")
    assert refused.status_code == 400
    assert f"CSE consulté{NNBSP}: Confirmez" in html.unescape(refused.text)
    assert post(admin, "/admin/operators/enable", cse_consulted="yes").status_code == 303
    assert audit(app) == [("operators.enable", {"cse_consulted": True})]
    on = page(admin)
    assert 'data-on="true"' in on and "Registre des opérateurs" in on
    assert "Médecin" in on and "120 mois" in on

    hostile = post(admin, "/admin/operators/save", operator="", name="Paul Martin",
                   profession="1", workers_on="2026-02-30", patients_on="", name_forms="",
                   other_ids="")
    assert hostile.status_code == 400
    assert f"Formation des travailleurs{NNBSP}: " in html.unescape(hostile.text)
    assert post(admin, "/admin/operators/save", operator="", name="Paul Martin",
                profession="1", workers_on="2020-01-01", patients_on="2020-01-01",
                name_forms="MARTIN^Paul", other_ids="").status_code == 303
    listed = page(admin)
    assert "MARTIN^Paul" in listed and 'data-testid="training-lapsed"' in listed
    assert [a for a, _d in audit(app)] == ["operators.enable", "operator.create"]

    # Names are kept from now on: the report arrives again as a later file of the study.
    store_report(app, "MARTIN^Paul", "INCONNU^Jean")
    room = page(admin, f"/rooms/{DEVICE}")
    assert '<td class="text" data-testid="exposure-operators">Paul Martin<br>INCONNU Jean' in (
        room)
    assert "absent du registre" in room
    with TestClient(app) as viewer:
        login(viewer, "viewer")
        assert "exposure-operators" not in page(viewer, f"/rooms/{DEVICE}")

    assert post(admin, "/admin/operators/disable").status_code == 303
    assert "exposure-operators" not in page(admin, f"/rooms/{DEVICE}")
    assert audit(app)[-1] == ("operators.disable", {"names_deleted": 2})


@pytest.mark.parametrize(("path", "data", "field"), [
    ("/admin/operators/settings", {"workers_months": "36; DROP TABLE"},
     "Validité de la formation des travailleurs"),
    ("/admin/operators/professions", {"profession_name": "", "patients_months": "120"},
     "Profession"),
    ("/admin/operators/professions", {"profession_name": "IADE", "patients_months": "0"},
     "Validité de la formation des patients"),
    ("/admin/operators/professions/delete", {"profession": "../1"}, "Profession"),
    ("/admin/operators/save", {"operator": "x", "name": "Anne", "profession": "1"}, "Opérateur"),
    ("/admin/operators/save", {"operator": "", "name": "\x00", "profession": "1"}, "Nom"),
    ("/admin/operators/delete", {"operator": "999999"}, "Opérateur"),
])
def test_hostile_fields_are_a_400_naming_the_field(admin: TestClient, path: str,
                                                   data: dict[str, str], field: str) -> None:
    post(admin, "/admin/operators/enable", cse_consulted="yes")
    response = post(admin, path, **data)
    assert response.status_code == 400, response.text[:300]
    assert f"{field}{NNBSP}: " in html.unescape(response.text)


def test_only_an_admin_sees_the_page_and_english_reads(app: FastAPI) -> None:
    with TestClient(app) as client:
        login(client, "pcr")
        assert client.get("/admin/operators").status_code == 403
        assert client.post("/admin/operators/enable", data={
            "cse_consulted": "yes", "csrf_token": csrf(client)}).status_code == 403
    with TestClient(app) as client:
        login(client, "admin", "admin3")
        text = page(client, headers=EN)
        assert "requires the staff committee (comité social et économique, CSE)" in text
