"""The clinical role and its pages (#17 item 5): only ``clinical`` sees a patient's identity
(the patient doses pages); every other role, the JSON API, the CSV exports, the metrics
see only study identifiers, searched for in every route's answer with a patient planted
in a built RDSR; admins create clinical accounts; a clinical account has no token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.rdsr import retention
from hub.rdsr.config import PatientThresholds
from hub.rdsr.store import store_bytes
from hub.web.accounts import AccountError, new_token
from tests import rdsr_builder as b
from tests.test_web_access import _walk
from tests.web_helpers import api_token, bearer, csrf, login, make_app

NAME, FAMILY, PATIENT_ID, BIRTH = "PLANTED^Hortense", "PLANTED", "PAT-PLANTED-4242", "19330507"
MARKERS = (FAMILY, "Hortense", PATIENT_ID, BIRTH, "1933-05-07", "07/05/1933", "7 mai 1933",
           "7 May 1933")
ROOT = Path(__file__).resolve().parents[1] / "hub"


def _planted(tmp_path: Path) -> FastAPI:
    """An app whose store holds one study over the thresholds, naming the planted patient,
    mapped to a box, and another study naming nobody, under them."""
    app = make_app(tmp_path)
    ds = b.report(b.accumulated(b.num("113722", "612", "Gy.cm2"), b.num("113725", "5.5", "Gy")),
                  b.event())
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, PATIENT_ID, BIRTH
    quiet = b.report(b.accumulated(b.num("113722", "12", "Gy.cm2")), b.event())
    conn = connect(app.state.store_path)
    try:
        conn.execute("INSERT INTO devices (device, site, room) VALUES ('box-3', 'chu', 'salle-3')")
        for report in (ds, quiet):
            out = BytesIO()
            report.save_as(out, enforce_file_format=True)
            assert store_bytes(conn, out.getvalue(), "ARTIS@10.0.0.5",
                               now=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
                               limits=PatientThresholds()).status == "stored"
        conn.execute("UPDATE rdsr_devices SET device = 'box-3'")
    finally:
        conn.close()
    app.state.study = str(ds.StudyInstanceUID)
    return app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return _planted(tmp_path)


@pytest.fixture
def clinical(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"Accept-Language": "fr"}) as client:
        login(client, "clinical")
        yield client


def _leaks(text: str) -> list[str]:
    return [m for m in MARKERS if m.lower() in text.lower()]


def test_the_clinical_pages_show_the_patient(app: FastAPI, clinical: TestClient) -> None:
    listing = clinical.get("/clinical/studies")
    assert listing.status_code == 200
    assert "PLANTED Hortense" in listing.text and PATIENT_ID in listing.text
    assert "PDS 612 Gy·cm² (seuil 500) · Ka,r 5,5 Gy (seuil 5)" in listing.text
    assert listing.text.count('data-testid="clinical-study"') == 1  # the passed one only
    every = clinical.get("/clinical/studies", params={"show": "all"})
    assert every.text.count('data-testid="clinical-study"') == 2
    assert "aucune identité conservée" in every.text
    page = clinical.get(f"/clinical/studies/{app.state.study}")
    assert page.status_code == 200
    assert "PLANTED Hortense" in page.text and "7 mai 1933" in page.text
    assert "non le conseiller en radioprotection (CRP)" in page.text
    assert "Doses des patients" in page.text and 'href="/events"' not in page.text  # its menu
    for bad in ("x", "1.2.3", "1" * 65, "1.2'--"):
        assert clinical.get(f"/clinical/studies/{bad}").status_code == 404
    assert clinical.get("/clinical/studies", params={"show": "x"}).status_code == 422


def test_the_home_of_a_clinical_account_is_its_page(clinical: TestClient) -> None:
    response = clinical.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/clinical/studies")
    assert clinical.get("/events").status_code == 403
    assert clinical.get("/api/rooms").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "pcr", "admin"])
def test_no_other_role_reaches_the_clinical_pages(app: FastAPI, role: str) -> None:
    with TestClient(app) as client:
        login(client, role)  # type: ignore[arg-type]
        assert client.get("/clinical/studies").status_code == 403
        assert client.get(f"/clinical/studies/{app.state.study}").status_code == 403
        assert "/clinical/" not in client.get("/account").text


def test_no_route_shows_a_patient_to_any_other_role(app: FastAPI) -> None:
    """Every GET route, as an admin (who sees what the others see, and more) and with an
    admin's API token (the JSON API, the CSVs, /metrics), over a store whose event and
    study are those of the planted patient; the viewer and the CRP on the events."""
    # The live stream never ends; a PDF is its HTML page (walked) printed, a second each.
    gets = [path for method, path, _ in _walk(app)
            if method == "GET" and not path.startswith("/live/") and not path.endswith(".pdf")]
    gets += [f"/events/{n}" for n in (1, 2)] + [f"/api/events/{n}" for n in (1, 2)]
    gets += ["/events.csv", "/api/events?limit=500", "/admin/imaging", "/audit"]
    leaks, seen = [], 0
    events = [p for p in gets if "/events" in p]
    for role, paths in (("admin", gets), ("pcr", events), ("viewer", events)):
        with TestClient(app, raise_server_exceptions=False) as client:
            login(client, role)  # type: ignore[arg-type]
            token = api_token(app, role, f"{role}-robot")  # type: ignore[arg-type]
            for path in paths:  # pages ignore tokens: a token only where one is read
                programs = path.startswith("/api/") or path == "/metrics"
                answers = [client.get(path, headers=bearer(token))] if programs else []
                for response in [*answers, client.get(path)]:
                    seen += response.status_code == 200
                    found = _leaks(response.text)
                    if found:
                        leaks.append(f"{role} GET {path}: {found}")
    assert seen > 80 and not leaks, leaks
    with TestClient(app) as client:
        login(client, "pcr")
        detail = client.get("/api/events/1").json()
        assert detail["kind"] == "patient_dose_threshold"
        assert detail["detail"]["study"] == app.state.study  # the study's UID only


def test_only_the_clinical_modules_read_the_identities() -> None:
    """The identities' table is queried by its schema, the module that keeps and lists them
    (for the clinical pages only) and the retention; the bytes (``raw``) read by the store and those
    only: no API, CSV, metrics nor MQTT module can reach either."""
    table = re.compile(r"(FROM|INTO|JOIN|UPDATE|TABLE( IF NOT EXISTS)?)\s+rdsr_patients\b")
    naming = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
              if table.search(p.read_text(encoding="utf-8"))}
    assert naming == {"db/schema_clinical.py", "rdsr/patients.py", "rdsr/retention.py"}
    raw = re.compile(r"SELECT[^\"]*\braw\b[^\"]*FROM rdsr_(files|refused)")
    reading = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
               if raw.search(p.read_text(encoding="utf-8"))}
    assert reading <= {"rdsr/store.py", "rdsr/patients.py"}, reading


def test_an_admin_creates_a_clinical_account(app: FastAPI) -> None:
    with TestClient(app, headers={"Accept-Language": "fr"}) as admin:
        login(admin, "admin")
        form = admin.get("/admin/users").text
        assert '<option value="clinical"' in form and "rôle médical" in form
        made = admin.post("/admin/users", data={
            "username": "dr-martin", "display_name": "Dr Martin", "role": "clinical",
            "password": "une phrase de passe longue", "password2": "une phrase de passe longue",
            "csrf_token": csrf(admin)}, follow_redirects=False)
        assert made.status_code in (200, 303), made.text[:300]
    conn = connect(app.state.store_path)
    try:
        row = conn.execute("SELECT id, role FROM users WHERE username = 'dr-martin'").fetchone()
        assert row["role"] == "clinical"
        audited = conn.execute("SELECT detail FROM audit WHERE action = 'user.create'"
                               " AND target = 'user:dr-martin'").fetchone()
        assert '"role": "clinical"' in audited[0]
        with pytest.raises(AccountError, match="clinical account has no token"):
            new_token(conn, int(row["id"]), "script")
    finally:
        conn.close()


def test_a_clinical_user_logs_out_and_changes_the_password(clinical: TestClient) -> None:
    assert clinical.get("/account").status_code == 200
    assert clinical.post("/logout", data={"csrf_token": csrf(clinical)},
                         follow_redirects=False).status_code == 303
    assert clinical.get("/clinical/studies", follow_redirects=False).status_code == 303


def test_after_the_retention_the_page_says_what_went(app: FastAPI, clinical: TestClient) -> None:
    conn = connect(app.state.store_path)
    try:
        retention.purge(conn, 30, datetime(2026, 3, 1, tzinfo=UTC))
    finally:
        conn.close()
    page = clinical.get(f"/clinical/studies/{app.state.study}")
    assert not _leaks(page.text)
    assert "identité et fichier effacés" in page.text and "après 30 jours" in page.text
    assert "PDS" in page.text and "612" in page.text  # the figures stay


def test_odd_stored_values_never_take_the_pages_down(app: FastAPI,
                                                     clinical: TestClient) -> None:
    conn = connect(app.state.store_path)
    try:
        conn.execute("UPDATE rdsr_studies SET start_utc = '9999-12-31T23:59:59.999999999Z',"
                     " dap_gym2 = NULL, kar_gy = 1e308, fluoro_time_s = -1")
        conn.execute("UPDATE rdsr_patients SET birth_date = '99999999', patient_name ="
                     " '^^^', patient_id = NULL")
        conn.execute("UPDATE events SET detail = '[1, 2'")
        conn.execute("INSERT INTO rdsr_patients SELECT sop_instance_uid, ?, 'ID-2', 'X^Y',"
                     " '1950' FROM rdsr_files WHERE study_instance_uid != ?",
                     [app.state.study, app.state.study])
    finally:
        conn.close()
    for path in ("/clinical/studies", "/clinical/studies?show=all",
                 f"/clinical/studies/{app.state.study}"):
        response = clinical.get(path)
        assert response.status_code == 200, path
    assert "ID-2" in response.text and "99999999" in response.text


def _audit(app: FastAPI, action: str) -> list[tuple[str, str, str]]:
    conn = connect(app.state.store_path)
    try:
        return [(r["username"], r["target"], r["detail"]) for r in conn.execute(
            "SELECT username, target, detail FROM audit WHERE action = ? ORDER BY id",
            [action])]
    finally:
        conn.close()


def test_the_physician_acknowledges_and_closes_the_threshold_event(
        app: FastAPI, clinical: TestClient) -> None:
    """The follow-up is the physician's and the medical physicist's: recorded from the
    study's page through the PCR's own actions (a comment each, CSRF, audited), so that the
    CRP does not have to close it; the CRP's event page shows it closed."""
    page = f"/clinical/studies/{app.state.study}"
    form = clinical.get(page).text
    assert 'data-testid="clinical-form-acknowledge"' in form and "clinical-form-close" not in form
    assert "écrivez ni le nom ni" in form
    refused = clinical.post(f"{page}/acknowledge", data={"comment": "vu"})  # no CSRF token
    assert refused.status_code == 403
    empty = clinical.post(f"{page}/acknowledge", data={"comment": " ", "csrf_token":
                                                       csrf(clinical)})
    assert empty.status_code == 422 and "Un commentaire est obligatoire." in empty.text
    early = clinical.post(f"{page}/close", data={"comment": "fini", "csrf_token":
                                                 csrf(clinical)})
    assert early.status_code == 422 and "avant de le clore" in early.text
    done = clinical.post(f"{page}/acknowledge", data={
        "comment": "Patient convoqué en consultation à J+15", "csrf_token": csrf(clinical)},
        follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"{page}#follow-up")
    shown = clinical.get(page).text
    assert 'data-state="acknowledged"' in shown and "consultation à J+15" in shown
    assert 'data-testid="clinical-form-close"' in shown
    assert clinical.post(f"{page}/close", data={
        "comment": "Pas d'effet cutané à J+21", "csrf_token": csrf(clinical)},
        follow_redirects=False).status_code == 303
    assert 'data-state="closed"' in clinical.get(page).text
    acts = _audit(app, "event.acknowledge") + _audit(app, "event.close")
    assert [(who, target) for who, target, _ in acts] == [("clinical", "event:1")] * 2
    with TestClient(app) as pcr:
        login(pcr, "pcr")
        assert pcr.get("/api/events/1").json()["state"] == "closed"
        assert pcr.post(f"{page}/close", data={"comment": "x", "csrf_token": csrf(pcr)}
                        ).status_code == 403


def test_only_a_threshold_event_of_a_stored_study_is_reached(app: FastAPI,
                                                             clinical: TestClient) -> None:
    conn = connect(app.state.store_path)
    try:
        quiet = conn.execute("SELECT study_instance_uid FROM rdsr_studies"
                             " WHERE study_instance_uid != ?", [app.state.study]).fetchone()[0]
    finally:
        conn.close()
    token = csrf(clinical)
    for uid in (quiet, "1.2.3.4", "x'--"):
        answer = clinical.post(f"/clinical/studies/{uid}/acknowledge",
                               data={"comment": "vu", "csrf_token": token})
        assert answer.status_code == 404, uid
    assert _audit(app, "event.acknowledge") == []


def test_each_view_of_a_patients_identity_is_audited(app: FastAPI,
                                                     clinical: TestClient) -> None:
    """GDPR: who saw whose identity; one row per page showing one, none for a page naming
    nobody."""
    clinical.get(f"/clinical/studies/{app.state.study}")
    clinical.get("/clinical/studies")
    conn = connect(app.state.store_path)
    try:
        quiet = conn.execute("SELECT study_instance_uid FROM rdsr_studies"
                             " WHERE study_instance_uid != ?", [app.state.study]).fetchone()[0]
    finally:
        conn.close()
    clinical.get(f"/clinical/studies/{quiet}")  # names nobody: nothing seen
    rows = _audit(app, "clinical.view")
    assert rows == [("clinical", f"study:{app.state.study}", "{}"),
                    ("clinical", "", f'{{"studies": ["{app.state.study}"]}}')]
    assert not _leaks(" ".join(detail for *_, detail in rows))
