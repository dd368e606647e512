"""The events pages and API: inbox, an event's actions, the timeline (hub/web/*/events.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.events.timeline import timeline
from hub.web import audit
from tests.web_helpers import api_token, bearer, csrf, login, make_app

DETECTED = "2026-01-05T07:00:06.000Z"  # Monday: the declaration is due on Wednesday 7
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def add_event(app: FastAPI, kind: str = "unsolicited_emission", opened_at: str = DETECTED,
              device: str = "chu.salle-1", site: str = "chu", room: str = "salle-1",
              ref: str = "j:1:1", cleared: str | None = None) -> int:
    store = Store.open(app.state.store_path)
    try:
        with store.transaction():
            return store.alarm_event(kind, device, site, room, ref, opened_at,
                                     {"subject": None}, "critical", cleared, opened_at)
    finally:
        store.close()


def rows(app: FastAPI, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    conn = connect(app.state.store_path)
    try:
        return [dict(r) for r in conn.execute(sql, params or [])]
    finally:
        conn.close()


def post(client: TestClient, url: str, **data: str) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf(client)}, follow_redirects=False)


def data_testids(html: str) -> list[str]:
    return re.findall(r'data-testid="([^"]+)"', html)


# -- who may see and act ------------------------------------------------------------------------


def test_pages_need_a_login_and_the_api_a_token(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    page = client.get("/events", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get(f"/api/events/{event_id}").status_code == 401
    token = api_token(app, "viewer")
    assert client.get(f"/api/events/{event_id}", headers=bearer(token)).status_code == 200


def test_a_viewer_sees_but_cannot_act(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "viewer")
    page = client.get(f"/events/{event_id}")
    assert page.status_code == 200
    assert "form-acknowledge" not in page.text and "timeline-link" in data_testids(page.text)
    assert post(client, f"/events/{event_id}/acknowledge", comment="x").status_code == 403
    token = api_token(app, "viewer")
    refused = client.post(f"/api/events/{event_id}/acknowledge", json={"comment": "x"},
                          headers=bearer(token))
    assert refused.status_code == 403
    assert rows(app, "SELECT state FROM events") == [{"state": "open"}]


def test_a_form_without_the_csrf_token_is_refused(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    refused = client.post(f"/events/{event_id}/acknowledge", data={"comment": "x"})
    assert refused.status_code == 403
    assert rows(app, "SELECT COUNT(*) AS n FROM event_notes") == [{"n": 0}]


# -- the inbox ----------------------------------------------------------------------------------


def test_the_inbox_lists_open_events_first_and_refreshes_on_the_events_message(
    app: FastAPI, client: TestClient
) -> None:
    older = add_event(app, opened_at="2026-01-05T06:00:00.000Z", ref="j:1:1")
    newer = add_event(app, opened_at="2026-01-05T08:00:00.000Z", ref="j:1:2",
                      kind="door_open_during_emission")
    login(client, "pcr")
    assert post(client, f"/events/{newer}/acknowledge", comment="seen").status_code == 303
    page = client.get("/events")
    assert page.status_code == 200
    ids = re.findall(r'data-testid="event-row" data-event-id="(\d+)"', page.text)
    assert ids == [str(older), str(newer)]  # open first, then acknowledged
    assert 'sse-connect="/live/stream"' in page.text
    assert 'hx-trigger="sse:events' in page.text and 'hx-get="/events/rows"' in page.text
    fragment = client.get("/events/rows?state=open")
    assert "<html" not in fragment.text
    assert re.findall(r'data-event-id="(\d+)"', fragment.text) == [str(older)]
    filtered = client.get("/events?kind=door_open_during_emission&state=acknowledged")
    assert 'hx-get="/events/rows?state=acknowledged&amp;kind=door_open_during_emission"' in (
        filtered.text)
    assert re.findall(r'data-testid="event-row" data-event-id="(\d+)"', filtered.text) == [
        str(newer)]
    by_room = client.get("/events?room=chu/salle-1&esr=no")
    assert len(re.findall(r'data-testid="event-row"', by_room.text)) == 2
    assert 'data-testid="events-empty"' in client.get("/events?room=chu/salle-9").text


@pytest.mark.parametrize(("query", "field"), [("state=done", "state"), ("esr=maybe", "esr"),
                                              ("kind=Bad-Kind", "kind")])
def test_a_bad_filter_is_named_next_to_its_field(
    app: FastAPI, client: TestClient, query: str, field: str
) -> None:
    login(client, "viewer")
    page = client.get(f"/events?{query}")
    assert page.status_code == 422
    assert f'id="f-{field}-error"' in page.text and f'aria-describedby="f-{field}-error"' in (
        page.text)


def test_an_overdue_esr_shows_its_due_date_in_red(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    assert post(client, f"/events/{event_id}/qualify-esr", comment="unsolicited",
                criterion="6").status_code == 303
    row = re.search(r'<span class="due (\w+)" data-testid="declaration-due"[^>]*>([^<]+)',
                    client.get("/events").text)
    assert row is not None and row.group(1) == "pending"
    assert "mercredi 7 janvier 2026" in row.group(2)
    app.state.clock = lambda: datetime(2026, 1, 7, 9, tzinfo=UTC)
    assert 'class="due soon"' in client.get("/events").text
    app.state.clock = lambda: datetime(2026, 1, 8, 9, tzinfo=UTC)
    assert 'class="due overdue"' in client.get("/events").text
    assert 'class="due overdue"' in client.get(f"/events/{event_id}").text


# -- the PCR's actions through the page ---------------------------------------------------------


def test_acknowledge_qualify_declare_close_through_the_forms(
    app: FastAPI, client: TestClient
) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    page = client.get(f"/events/{event_id}")
    assert {"form-acknowledge", "acknowledge-comment", "acknowledge-submit", "form-qualify-esr",
            "event-state", "event-notes"} <= set(data_testids(page.text))
    assert "form-close" not in page.text and "form-declare" not in page.text
    done = post(client, f"/events/{event_id}/acknowledge", comment="calling biomedical")
    assert done.status_code == 303 and done.headers["location"] == f"/events/{event_id}"
    assert post(client, f"/events/{event_id}/qualify-esr", comment="emission on its own",
                criterion="6").status_code == 303
    page = client.get(f"/events/{event_id}")
    assert "form-declare" in page.text and "form-acknowledge" not in page.text
    assert post(client, f"/events/{event_id}/declare", declared_on="2026-01-05",
                reference="ESNR-PAR-2026-0042", comment="").status_code == 303
    refused = post(client, f"/events/{event_id}/close", comment="analysed", outcome="none")
    assert refused.status_code == 422 and 'data-testid="error-close-followup"' in refused.text
    assert post(client, f"/events/{event_id}/followup", sent_on="2026-01-05",
                reference="CR-2026-1").status_code == 303
    refused = post(client, f"/events/{event_id}/close", comment="analysed")
    assert refused.status_code == 422 and 'data-testid="error-close-outcome"' in refused.text
    assert post(client, f"/events/{event_id}/close", comment="analysed",
                outcome="closed by the ASNR").status_code == 303
    (event,) = rows(app, "SELECT * FROM events")
    assert (event["state"], event["esr"], event["declaration_due"], event["declared_at"],
            event["declaration_ref"]) == ("closed", 1, "2026-01-07", "2026-01-05",
                                          "ESNR-PAR-2026-0042")
    notes = rows(app, "SELECT action, username FROM event_notes ORDER BY id")
    assert [n["action"] for n in notes] == ["acknowledge", "qualify_esr", "declare", "followup",
                                            "close"]
    trail = rows(app, "SELECT action, target, username FROM audit WHERE action LIKE 'event.%'"
                      " ORDER BY id")
    assert [t["action"] for t in trail] == ["event.acknowledge", "event.qualify-esr",
                                            "event.declare", "event.followup", "event.close"]
    assert {t["target"] for t in trail} == {f"event:{event_id}"}
    page = client.get(f"/events/{event_id}")
    assert page.text.count('data-testid="event-note"') == 5


@pytest.mark.parametrize(("action", "data", "form", "field"), [
    ("acknowledge", {"comment": "  "}, "acknowledge", "comment"),
    ("close", {"comment": "done"}, "close", "state"),  # not acknowledged yet
    ("declare", {"declared_on": "2026-01-05", "reference": "ESNR-1"}, "declare", "esr"),
    ("declare", {"declared_on": "05/01/2026", "reference": "ESNR-1"}, "declare", "declared_on"),
    ("qualify-esr", {"comment": "x" * 2001, "criterion": "6"}, "qualify_esr", "comment"),
    ("qualify-esr", {"comment": "x", "criterion": "9.9"}, "qualify_esr", "criterion"),
    ("qualify-esr", {"comment": "x"}, "qualify_esr", "criterion"),
    ("unqualify-esr", {"reason": "wrong"}, "unqualify_esr", "esr"),
    ("followup", {"sent_on": "2026-01-05", "reference": "CR-1"}, "followup", "esr"),
    ("materiovigilance", {"reported_on": "2026-13-01", "reference": "R1"}, "materiovigilance",
     "reported_on"),
    ("materiovigilance", {"reported_on": "2026-01-05", "reference": "R" * 65},
     "materiovigilance", "reference"),
])
def test_a_refused_form_says_why_next_to_the_field_and_writes_nothing(
    app: FastAPI, client: TestClient, action: str, data: dict[str, str], form: str, field: str
) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    page = post(client, f"/events/{event_id}/{action}", **data)
    assert page.status_code == 422
    assert f'data-testid="error-{form}-{field}"' in page.text
    assert rows(app, "SELECT state, esr FROM events") == [{"state": "open", "esr": 0}]
    assert rows(app, "SELECT COUNT(*) AS n FROM event_notes") == [{"n": 0}]
    assert rows(app, "SELECT COUNT(*) AS n FROM audit WHERE action LIKE 'event.%'") == [{"n": 0}]


def test_a_refused_comment_is_kept_in_the_form(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    page = post(client, f"/events/{event_id}/declare", declared_on="2099-01-01",
                reference="ESNR-1")
    assert 'data-testid="error-declare-esr"' in page.text  # not an ESR: the form comes back
    assert 'value="ESNR-1"' in page.text


def test_the_page_speaks_french_by_default(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app)
    login(client, "pcr")
    page = client.get(f"/events/{event_id}", headers={"Accept-Language": "fr"})
    assert "Prendre en compte" in page.text and "Émission inopinée" in page.text
    refused = post(client, f"/events/{event_id}/acknowledge", comment="")
    assert "Un commentaire est obligatoire." in refused.text


def test_nothing_is_half_written_when_the_audit_fails(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = add_event(app)
    login(client, "pcr")

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("audit disk full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        post(client, f"/events/{event_id}/acknowledge", comment="seen")
    assert rows(app, "SELECT state FROM events") == [{"state": "open"}]
    assert rows(app, "SELECT COUNT(*) AS n FROM event_notes") == [{"n": 0}]


def test_an_unknown_event_is_a_404(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    assert client.get("/events/999").status_code == 404
    assert post(client, "/events/999/acknowledge", comment="x").status_code == 404
    assert client.get("/api/events/999").status_code == 404


# -- the timeline -------------------------------------------------------------------------------


def test_the_timeline_is_a_printable_annex(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app, cleared="2026-01-05T07:00:09.000Z")
    add_event(app, kind="device_offline", ref="", opened_at="2026-01-05T07:10:00.000Z")
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO signal_changes VALUES ('chu.salle-1', '2026-01-05T07:00:05.000Z',"
                 " 'emission', 1, 'chu', 'salle-1')")
    conn.execute("INSERT INTO signal_changes VALUES ('chu.salle-1', '2026-01-05T08:59:05.000Z',"
                 " 'emission', 0, 'chu', 'salle-1')")  # outside the default window, before now
    conn.close()
    login(client, "pcr", username="marie")
    page = client.get(f"/events/{event_id}/timeline", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    ids = data_testids(page.text)
    assert {"timeline", "timeline-header", "timeline-entries", "timeline-readings",
            "timeline-generated"} <= set(ids)
    assert ids.count("timeline-entry") == 2  # the signal change and the offline event
    assert 'data-type="signal"' in page.text and 'data-type="event"' in page.text
    assert "chu.salle-1" in page.text and "marie" in page.text
    assert "2026-01-05 08:00:06" in page.text  # detection, in Paris time
    assert "events.css" in page.text
    wide = client.get(f"/events/{event_id}/timeline?before_min=0&after_min=180")
    assert data_testids(wide.text).count("timeline-entry") == 2  # 07:00:05 is now before the window
    assert client.get(f"/events/{event_id}/timeline?before_min=-1").status_code == 422


def add_change(app: FastAPI, seq: int, signal: str, first: str, last: str, count: int,
               value: int, origin: str = "edge") -> None:
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO changes VALUES (?, 'chu', 'salle-1', 'j1', ?, 1, ?, ?, ?, ?, ?, ?,"
                 " NULL, 1, 0, ?)", ["chu.salle-1", seq, signal, value, first, last, count,
                                     origin, last])
    conn.close()


def test_the_timeline_holds_the_journaled_changes_and_older_live_states_before_them(
        app: FastAPI, client: TestClient) -> None:
    """A run is one line with its count and edges; a live state of the older agent shows
    only before the device's first journaled change (after it, the same change would be
    shown twice), marked as not journaled."""
    event_id = add_event(app, cleared="2026-01-05T07:00:09.000Z")
    conn = connect(app.state.store_path)
    for at, value in (("2026-01-05T06:59:00.000Z", 1), ("2026-01-05T07:00:05.000Z", 1)):
        conn.execute("INSERT INTO signal_changes VALUES ('chu.salle-1', ?, 'request', ?,"
                     " 'chu', 'salle-1')", [at, value])
    conn.close()
    add_change(app, 7, "emission", "2026-01-05T07:00:04.000Z", "2026-01-05T07:00:04.000Z", 1, 1)
    add_change(app, 8, "emission", "2026-01-05T07:00:04.600Z", "2026-01-05T07:00:05.500Z", 15, 0)
    add_change(app, 9, "door.corridor", "2026-01-05T07:00:03.000Z", "2026-01-05T07:00:03.000Z",
               0, 1, origin="start")
    add_change(app, 10, "emission", "2026-01-05T10:00:00.000Z", "2026-01-05T10:00:00.000Z", 1, 1)
    login(client, "viewer")
    page = client.get(f"/events/{event_id}/timeline", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    types = re.findall(r'data-testid="timeline-entry" data-type="(\w+)"', page.text)
    # 10:00 is outside the window; the train's first edge (7) and run record (8): one entry
    assert types == ["signal", "change", "change"]
    assert "live state, not journaled" in page.text
    assert 'data-testid="timeline-run" data-records="2"' in page.text
    assert ("16 changes in 1.5 s, from 2026-01-05 08:00:04 +01:00 to 2026-01-05 08:00:05 +01:00,"
            " ends off") in page.text
    assert "(2 records, sequence 7 to 8)" in page.text
    assert "found on when the agent started" in page.text
    assert "Door corridor" in page.text
    french = client.get(f"/events/{event_id}/timeline").text
    assert ("16 changements en 1,5 s, de 2026-01-05 08:00:04 +01:00 à 2026-01-05 08:00:05"
            " +01:00, état final\u202f: inactif") in french
    assert "état en direct, non journalisé" in french
    api = client.get(f"/api/events/{event_id}/timeline",
                     headers=bearer(api_token(app, "viewer"))).json()
    run = next(e for e in api["entries"] if e.get("count") == 16)
    assert run == {**run, "type": "change", "journaled": True, "signal": "emission",
                   "value": False, "first": "2026-01-05T07:00:04.000Z",
                   "last": "2026-01-05T07:00:05.500Z", "journal": "j1", "seq": 7,
                   "last_seq": 8, "records": 2}
    legacy = [e for e in api["entries"] if e["type"] == "signal"]
    assert legacy == [{"at": "2026-01-05T06:59:00.000Z", "type": "signal", "journaled": False,
                       "signal": "request", "value": True}]


def test_a_run_reaching_into_the_window_is_in_it(app: FastAPI, client: TestClient) -> None:
    event_id = add_event(app, cleared="2026-01-05T07:00:09.000Z")
    # A record spans a second at most (TRAIN_SPAN_S): this one starts before the window.
    add_change(app, 3, "request", "2026-01-05T06:59:05.400Z", "2026-01-05T06:59:06.300Z", 4, 1)
    login(client, "viewer")
    page = client.get(f"/events/{event_id}/timeline?before_min=1&after_min=1",
                      headers={"Accept-Language": "en"})
    assert 'data-count="4"' in page.text


def test_the_timeline_reads_the_changes_of_its_window_only(app: FastAPI) -> None:
    """The change records are read from a minute before the window, bounded on both sides
    by the index: not the device's whole history from its first change."""
    event_id = add_event(app, cleared="2026-01-05T07:00:09.000Z")
    [event] = rows(app, "SELECT * FROM events WHERE id = ?", [event_id])
    conn = connect(app.state.store_path)
    try:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        timeline(conn, event, 5, 5)
        conn.set_trace_callback(None)
        [query] = [s for s in statements if "FROM changes WHERE" in s and "journal" in s]
        plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + query))
    finally:
        conn.close()
    assert "idx_changes_device_first (device=? AND first>? AND first<?)" in plan, plan
    assert "'2026-01-05T06:54:06.000Z'" in query  # lo (06:55:06) less a minute


def test_the_print_stylesheet_hides_the_controls() -> None:
    css = (Path(__file__).resolve().parent.parent / "hub" / "web" / "static" / "events.css")
    assert "@media print" in css.read_text(encoding="utf-8")


# -- the API ------------------------------------------------------------------------------------


def test_the_api_lists_and_shows_events(app: FastAPI, client: TestClient) -> None:
    first = add_event(app, ref="j:1:1")
    second = add_event(app, ref="j:1:2", opened_at="2026-01-05T08:00:00.000Z")
    token = bearer(api_token(app, "viewer"))
    listed = client.get("/api/events", headers=token).json()
    assert [e["id"] for e in listed["events"]] == [second, first]
    assert listed["events"][0]["state"] == "open" and listed["events"][0]["esr"] is False
    assert client.get("/api/events?state=closed", headers=token).json()["events"] == []
    assert len(client.get("/api/events?site=chu&room=salle-1&esr=false",
                          headers=token).json()["events"]) == 2
    bad = client.get("/api/events?state=done&limit=0", headers=token)
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {("query", "state"),
                                                              ("query", "limit")}
    one = client.get(f"/api/events/{first}", headers=token).json()
    assert one["notes"] == [] and one["kind"] == "unsolicited_emission"
    line = client.get(f"/api/events/{first}/timeline?before_min=5", headers=token).json()
    assert line["before_min"] == 5 and line["after_min"] == 30 and line["event"]["id"] == first
    assert line["generated_by"] == "viewer"


def test_the_api_acts_with_a_token_and_names_the_field_it_refuses(
    app: FastAPI, client: TestClient
) -> None:
    event_id = add_event(app)
    token = bearer(api_token(app, "pcr"))
    url = f"/api/events/{event_id}"

    def refused(action: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
        response = client.post(f"{url}/{action}", json=body, headers=token)
        assert response.status_code == 422, response.text
        return [tuple(d["loc"]) for d in response.json()["detail"]]

    assert refused("acknowledge", {}) == [("body", "comment")]
    assert refused("acknowledge", {"comment": "   "}) == [("body", "comment")]
    assert ("body", "extra") in refused("acknowledge", {"comment": "x", "extra": 1})
    assert refused("close", {"comment": "x"}) == [("state",)]
    assert refused("declare", {"declared_on": "2026-01-05", "reference": "R-1"}) == [("esr",)]
    assert refused("declare", {"declared_on": "soon", "reference": "R-1"}) == [
        ("body", "declared_on")]
    assert refused("declare", {"declared_on": "2026-01-05", "reference": "<b>"}) == [
        ("body", "reference")]
    assert rows(app, "SELECT COUNT(*) AS n FROM event_notes") == [{"n": 0}]
    assert refused("qualify-esr", {"comment": "significant", "criterion": "99"}) == [
        ("body", "criterion")]
    done = client.post(f"{url}/qualify-esr", json={"comment": "significant", "criterion": "6"},
                       headers=token)
    assert done.status_code == 200
    event = done.json()["event"]
    assert (event["esr"], event["state"], event["declaration_due"], event["due_status"]) == (
        True, "acknowledged", "2026-01-07", "pending")
    assert refused("declare", {"declared_on": "2026-01-06", "reference": "R-1"}) == [
        ("body", "declared_on")]  # tomorrow
    declared = client.post(f"{url}/declare", headers=token,
                           json={"declared_on": "2026-01-05", "reference": "ESNR-PAR-2026-7"})
    assert declared.json()["event"]["declaration_ref"] == "ESNR-PAR-2026-7"
    assert refused("close", {"comment": "analysed", "outcome": "x"}) == [("followup",)]
    assert client.post(f"{url}/followup", json={"sent_on": "2026-01-05", "reference": "CR-7"},
                       headers=token).status_code == 200
    assert refused("close", {"comment": "analysed"}) == [("body", "outcome")]
    closed = client.post(f"{url}/close", json={"comment": "analysed", "outcome": "no action"},
                         headers=token)
    assert closed.json()["event"]["state"] == "closed"
    assert [n["action"] for n in closed.json()["event"]["notes"]] == [
        "qualify_esr", "declare", "followup", "close"]
    assert len(rows(app, "SELECT id FROM audit WHERE action LIKE 'event.%'")) == 4


def test_the_api_is_documented(app: FastAPI, client: TestClient) -> None:
    spec = client.get("/api/openapi.json", headers=bearer(api_token(app, "viewer"))).json()
    for path in ("/api/events", "/api/events/{event_id}", "/api/events/{event_id}/timeline"):
        assert "get" in spec["paths"][path]
    for action in ("acknowledge", "close", "qualify-esr", "unqualify-esr", "declare",
                   "followup", "materiovigilance"):
        operation = spec["paths"][f"/api/events/{{event_id}}/{action}"]["post"]
        assert "requestBody" in operation and "422" in operation["responses"]
    assert set(spec["components"]["schemas"]["DeclareBody"]["properties"]) == {
        "declared_on", "reference", "comment"}
    assert not any(p.startswith("/events") for p in spec["paths"])  # pages stay out


@pytest.mark.parametrize("opened_at", ["0001-01-01T00:00:00.000Z", "1200-06-01T00:00:00Z",
                                       "9999-12-31T23:59:59.999Z"])
def test_an_esr_deadline_never_runs_from_an_implausible_clock(
    app: FastAPI, client: TestClient, opened_at: str
) -> None:
    """An event an older hub dated by a device's wrong clock: its deadline runs from now
    (2 working days), never from year 1 or 9999 (the calendar has no holidays there)."""
    app.state.clock = lambda: datetime(2026, 1, 5, 9, tzinfo=UTC)  # a Monday
    event_id = add_event(app, opened_at=opened_at)
    login(client, "pcr")
    assert post(client, f"/events/{event_id}/qualify-esr", comment="found late",
                criterion="6").status_code == 303
    (row,) = rows(app, "SELECT declaration_due FROM events WHERE id = ?", [event_id])
    assert row["declaration_due"] == "2026-01-07"


def test_the_reports_list_names_the_periodic_verification(client: TestClient) -> None:
    """The English intro of ``/reports`` says what the French one says: the periodic
    verification of the workplaces, signed by the CRP (no "ambient control", no "PCR")."""
    login(client, "viewer")
    english = client.get("/reports", headers={"Accept-Language": "en"}).text
    assert ("Periodic verification of the workplaces, every quarter: one report per point"
            " with a probe, prepared when the quarter ends, reviewed and signed by the"
            " radiation protection adviser (CRP), kept with every version.") in english
    assert "Internal ambient control" not in english
    french = client.get("/reports", headers={"Accept-Language": "fr"}).text
    assert "Vérification périodique des lieux de travail, chaque trimestre" in french
