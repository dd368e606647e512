"""The ESR follow-up through the page and the API: the criterion, the follow-up report due
and recorded, the matériovigilance flag, unqualifying, closing with the regulator's outcome;
hostile values refused with a 422 naming the field (hub/web/*/events.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.test_web_events import NOW, add_event, post, rows
from tests.web_helpers import api_token, bearer, login, make_app

FRENCH = {"Accept-Language": "fr"}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _api(client: TestClient, app: FastAPI, event_id: int, action: str,
         body: dict[str, Any]) -> Any:
    token = bearer(api_token(app, "pcr"))
    return client.post(f"/api/events/{event_id}/{action}", json=body, headers=token)


def _locs(response: Any) -> list[tuple[Any, ...]]:
    assert response.status_code == 422, response.text
    return [tuple(d["loc"]) for d in response.json()["detail"]]


def _declared(client: TestClient, event_id: int) -> None:
    assert post(client, f"/events/{event_id}/qualify-esr", comment="emitted on its own",
                criterion="6").status_code == 303
    assert post(client, f"/events/{event_id}/declare", declared_on="2026-01-05",
                reference="ESNR-2026-7").status_code == 303


def _audit(app: FastAPI) -> list[str]:
    return [r["action"] for r in rows(app, "SELECT action FROM audit WHERE action LIKE"
                                           " 'event.%' ORDER BY id")]


def test_the_follow_up_report_falls_due_and_shows_in_the_inbox(
    app: FastAPI, client: TestClient
) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    page = client.get(f"/events/{event_id}", headers=FRENCH)
    assert 'data-testid="qualify-esr-criterion"' in page.text
    assert "guide ASN n° 11" in page.text and "Critère du guide" in page.text
    _declared(client, event_id)
    page = client.get(f"/events/{event_id}", headers=FRENCH)
    assert 'data-testid="followup-due" data-due-status="pending"' in page.text
    assert "dû le jeudi 5 mars 2026" in page.text and "Enregistrer le compte rendu" in page.text
    inbox = client.get("/events", headers=FRENCH)
    assert 'data-testid="followup-item" data-event-id="' + str(event_id) in inbox.text
    assert "Comptes rendus d&#39;ESR attendus" in inbox.text
    listed = client.get("/api/events/followups").json()["followups"]
    assert [(f["event_id"], f["declared_at"], f["due_on"]) for f in listed] == [
        (event_id, "2026-01-05", "2026-03-05")]
    app.state.clock = lambda: datetime(2026, 3, 6, 9, tzinfo=UTC)
    page = client.get(f"/events/{event_id}")
    assert 'data-due-status="overdue"' in page.text
    assert 'data-testid="followup-due" data-due-status="overdue"' in client.get(
        "/events/rows").text
    done = post(client, f"/events/{event_id}/followup", sent_on="2026-03-06",
                reference="CR-2026-7", comment="sent")
    assert done.status_code == 303
    assert client.get("/api/events/followups").json() == {"followups": []}
    assert "followup-item" not in client.get("/events").text
    event = client.get(f"/api/events/{event_id}").json()
    assert (event["followup_at"], event["followup_ref"], event["followup_status"]) == (
        "2026-03-06", "CR-2026-7", None)
    assert _audit(app) == ["event.qualify-esr", "event.declare", "event.followup"]


def test_the_follow_up_delay_is_the_sites(tmp_path: Path) -> None:
    app = make_app(tmp_path, events={"followup_months": 3})
    app.state.clock = lambda: NOW
    event_id = add_event(app)
    with TestClient(app) as client:
        login(client, "pcr")
        _declared(client, event_id)
        assert client.get(f"/api/events/{event_id}").json()["followup_due"] == "2026-04-05"
        assert client.get("/api/events/followups").json()["followups"][0]["due_on"] == (
            "2026-04-05")


def test_the_materiovigilance_flag_through_the_page_and_the_api(
    app: FastAPI, client: TestClient
) -> None:
    first, second = add_event(app), add_event(app, ref="j:1:2")
    login(client, "pcr")
    for reported_on in ("2026-02-30", "tomorrow", "2026-01-06", "2026-01-04"):
        refused = post(client, f"/events/{first}/materiovigilance", reported_on=reported_on,
                       reference="R2601234")
        assert refused.status_code == 422
        assert 'data-testid="error-materiovigilance-reported_on"' in refused.text
    refused = post(client, f"/events/{first}/materiovigilance", reported_on="2026-01-05",
                   reference="R" * 5000)
    assert 'data-testid="error-materiovigilance-reference"' in refused.text
    assert post(client, f"/events/{first}/materiovigilance", reported_on="2026-01-05",
                reference="R2601234", comment="C-arm").status_code == 303
    page = client.get(f"/events/{first}", headers=FRENCH)
    assert "signalé à l&#39;ANSM le 2026-01-05" in page.text and "R2601234" in page.text
    assert "form-materiovigilance" not in page.text  # recorded once
    assert 'data-testid="event-materiovigilance"' in client.get("/events/rows").text
    assert _locs(_api(client, app, second, "materiovigilance",
                      {"reported_on": "2026-02-30", "reference": "R1"})) == [
        ("body", "reported_on")]
    assert _locs(_api(client, app, second, "materiovigilance",
                      {"reported_on": "2026-01-05", "reference": "R" * 65})) == [
        ("body", "reference")]
    done = _api(client, app, second, "materiovigilance",
                {"reported_on": "2026-01-05", "reference": "R2601235"})
    assert done.status_code == 200
    assert (done.json()["event"]["materiovigilance_at"],
            done.json()["event"]["materiovigilance_ref"]) == ("2026-01-05", "R2601235")
    assert _locs(_api(client, app, second, "materiovigilance",
                      {"reported_on": "2026-01-05", "reference": "R2"})) == [("state",)]
    assert _audit(app) == ["event.materiovigilance", "event.materiovigilance"]


def test_unqualifying_an_esr_then_closing_it(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    assert post(client, f"/events/{event_id}/qualify-esr", comment="looked like one",
                criterion="6").status_code == 303
    refused = post(client, f"/events/{event_id}/close", comment="nothing")
    assert refused.status_code == 422 and 'data-testid="error-close-esr"' in refused.text
    refused = post(client, f"/events/{event_id}/unqualify-esr", reason="  ")
    assert refused.status_code == 422
    assert 'data-testid="error-unqualify_esr-reason"' in refused.text
    assert post(client, f"/events/{event_id}/unqualify-esr",
                reason="a generator test, announced").status_code == 303
    page = client.get(f"/events/{event_id}", headers=FRENCH)
    assert "form-unqualify-esr" not in page.text and "Qualification en ESR retirée" in page.text
    assert post(client, f"/events/{event_id}/close", comment="a test").status_code == 303
    (event,) = rows(app, "SELECT state, esr, declaration_due FROM events")
    assert event == {"state": "closed", "esr": 0, "declaration_due": None}
    assert _audit(app) == ["event.qualify-esr", "event.unqualify-esr", "event.close"]
    (trail,) = rows(app, "SELECT detail FROM audit WHERE action = 'event.unqualify-esr'")
    assert "a generator test" in trail["detail"]


def test_unqualifying_through_the_api(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    assert _locs(_api(client, app, event_id, "unqualify-esr", {"reason": "x"})) == [("esr",)]
    assert _locs(_api(client, app, event_id, "unqualify-esr", {"reason": "x" * 2001})) == [
        ("body", "reason")]
    assert _api(client, app, event_id, "qualify-esr",
                {"comment": "why", "criterion": "1.1"}).status_code == 200
    done = _api(client, app, event_id, "unqualify-esr", {"reason": "wrong room"})
    assert done.status_code == 200 and done.json()["event"]["esr"] is False
    assert [n["action"] for n in done.json()["event"]["notes"]] == ["qualify_esr",
                                                                    "unqualify_esr"]


def test_closing_a_declared_esr_with_the_regulators_outcome(
    app: FastAPI, client: TestClient
) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    _declared(client, event_id)
    assert "form-unqualify-esr" not in client.get(f"/events/{event_id}").text
    assert _locs(_api(client, app, event_id, "unqualify-esr", {"reason": "x"})) == [("esr",)]
    assert _locs(_api(client, app, event_id, "followup",
                      {"sent_on": "2026-01-04", "reference": "CR-1"})) == [("body", "sent_on")]
    assert _locs(_api(client, app, event_id, "followup",
                      {"sent_on": "2026-1-5x", "reference": "CR-1"})) == [("body", "sent_on")]
    assert _api(client, app, event_id, "followup",
                {"sent_on": "2026-01-05", "reference": "CR-1"}).status_code == 200
    page = client.get(f"/events/{event_id}")
    assert 'data-testid="close-outcome"' in page.text
    assert _locs(_api(client, app, event_id, "close",
                      {"comment": "done", "outcome": "x" * 2001})) == [("body", "outcome")]
    refused = post(client, f"/events/{event_id}/close", comment="done", outcome=" ")
    assert 'data-testid="error-close-outcome"' in refused.text
    assert post(client, f"/events/{event_id}/close", comment="done",
                outcome="ASNR: analysis received, event closed").status_code == 303
    page = client.get(f"/events/{event_id}", headers=FRENCH)
    assert 'data-testid="event-outcome">ASNR: analysis received, event closed' in page.text
    assert "Suite donnée par l&#39;ASNR" in page.text


@pytest.mark.parametrize("criterion", ["", "99", "6; DROP TABLE events", "x" * 500])
def test_an_unknown_criterion_is_refused(app: FastAPI, client: TestClient,
                                         criterion: str) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    refused = post(client, f"/events/{event_id}/qualify-esr", comment="why",
                   criterion=criterion)
    assert refused.status_code == 422
    assert 'data-testid="error-qualify_esr-criterion"' in refused.text
    assert _locs(_api(client, app, event_id, "qualify-esr",
                      {"comment": "why", "criterion": criterion})) == [("body", "criterion")]
    assert rows(app, "SELECT esr FROM events") == [{"esr": 0}]


def test_the_sites_own_criteria(tmp_path: Path) -> None:
    path = tmp_path / "criteria.toml"
    path.write_text('version = "site list 2026-02"\n[[criteria]]\ncode = "S-1"\n'
                    'label_fr = "Critère du site"\nlabel_en = "Site criterion"\n',
                    encoding="utf-8")
    app = make_app(tmp_path, events={"esr_criteria_file": str(path)})
    app.state.clock = lambda: NOW
    event_id = add_event(app)
    with TestClient(app) as client:
        login(client, "pcr")
        page = client.get(f"/events/{event_id}", headers=FRENCH)
        assert 'value="S-1"' in page.text and "site list 2026-02" in page.text
        assert 'value="6"' not in page.text
        assert _locs(_api(client, app, event_id, "qualify-esr",
                          {"comment": "why", "criterion": "6"})) == [("body", "criterion")]
        done = _api(client, app, event_id, "qualify-esr", {"comment": "why", "criterion": "S-1"})
        assert (done.json()["event"]["esr_criterion"],
                done.json()["event"]["esr_criteria_version"]) == ("S-1", "site list 2026-02")
        assert "Critère du site" in client.get(f"/events/{event_id}", headers=FRENCH).text


def test_a_viewer_sees_but_does_not_act(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "viewer")
    for action, data in (("unqualify-esr", {"reason": "x"}),
                         ("followup", {"sent_on": "2026-01-05", "reference": "CR"}),
                         ("materiovigilance", {"reported_on": "2026-01-05", "reference": "R"})):
        assert post(client, f"/events/{event_id}/{action}", **data).status_code == 403
    assert client.get("/api/events/followups").status_code == 200
    assert "form-materiovigilance" not in client.get(f"/events/{event_id}").text
