"""Alarms stay in sight until someone acknowledges them (issue 16, item 1).

A room whose critical radiation event nobody has acknowledged stays red on the overview,
over its SSE refresh (``/overview/cards``), whatever its live state says; acknowledged but
not closed: amber; closed: as its live state says. A system fault (a data gap, a device
offline) has its own look, never a radiation alarm's. Every page's header counts the
critical events nobody has acknowledged, and the page title says it. The card's form
acknowledges through the events pages' route, with its required comment and the CSRF token.

The store is filled through the ingest core with the wire's own payloads, as MQTT would.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.timefmt import iso
from hub.web.room_alerts import level, open_critical
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    JOURNAL_2,
    ROOM,
    SITE,
    T0,
    alarm,
    alarms,
    core,
    status,
)
from tests.test_web_rooms import live_msg
from tests.web_helpers import csrf, login, make_app

OTHER, OTHER_ROOM = "chu-nord.salle-4", "salle-4"


def ingest(app: FastAPI, *messages: tuple[str, bytes], now: float = T0 + 60) -> None:
    store = Store.open(app.state.store_path)
    try:
        ingest_core = core(store, now=T0)
        ingest_core.handle_batch(list(messages), now)
        assert ingest_core.stats()["rejected_total"] == 0
    finally:
        store.close()


def unsolicited_emission_over(app: FastAPI, number: int = 1, device: str = DEVICE,
                              room: str = ROOM, journal: str = JOURNAL) -> None:
    """A room that emitted on its own for 3 s: the alarm raised then cleared, and its live
    state since says nothing is emitting and no alarm is active."""
    ingest(app,
           status("online", T0, device=device, room=room, journal=journal),
           alarms(alarm(number * 2 - 1, number, "raised", kind="unsolicited_emission",
                        subject=None),
                  alarm(number * 2, number, "cleared", kind="unsolicited_emission",
                        subject=None),
                  device=device, room=room, journal=journal),
           live_msg(T0 + 20, device=device, room=room))


def cards(page: str) -> dict[str, str]:
    """Each room card of a page, whole (its classes too), by device."""
    found = re.findall(r'(<article class="room-card[^"]*"\s+data-testid="room-card" '
                       r'data-device="([^"]+)".*?</article>)', page, re.S)
    return {device: whole for whole, device in found}


def event_id(app: FastAPI, kind: str, device: str = DEVICE) -> int:
    conn = connect(app.state.store_path)
    try:
        row = conn.execute("SELECT id FROM events WHERE kind = ? AND device = ?",
                           [kind, device]).fetchone()
        assert row is not None, kind
        return int(row[0])
    finally:
        conn.close()


def ack_form(card: str) -> tuple[str, dict[str, str]]:
    """The card's acknowledge form: its action and its hidden fields, as a browser sends."""
    found = re.search(r'<form method="post" action="([^"]+)" data-testid="card-ack-form">'
                      r"(.*?)</form>", card, re.S)
    assert found is not None, card
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                             found.group(2)))
    return found.group(1), fields


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def pcr(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "pcr")
        yield client


def test_a_room_stays_red_until_acknowledged_then_amber_until_closed(
    app: FastAPI, pcr: TestClient
) -> None:
    unsolicited_emission_over(app)
    number = event_id(app, "unsolicited_emission")
    card = cards(pcr.get("/overview/cards").text)[DEVICE]
    # the live state says all is quiet ...
    assert 'data-emitting="false"' in card and 'data-testid="room-alarms"' not in card
    # ... the card stays red, naming the event in French, with a link to it
    assert 'data-alert="alarm"' in card and "alert-alarm" in card
    assert 'data-level="alarm" data-kind="unsolicited_emission" data-about="radiation"' in card
    assert f'<a href="/events/{number}" data-testid="room-alert-link">Émission inopinée</a>' \
        in card
    assert "Prendre en compte" in card
    english = cards(pcr.get("/overview/cards", headers={"Accept-Language": "en"}).text)[DEVICE]
    assert "Unsolicited emission</a>" in english and "Acknowledge</summary>" in english
    # the full page says the same as its refresh
    assert 'data-alert="alarm"' in cards(pcr.get("/").text)[DEVICE]

    action, fields = ack_form(card)
    assert action == f"/events/{number}/acknowledge"
    assert fields == {"csrf_token": csrf(pcr)}
    done = pcr.post(action, data={**fields, "comment": "Arceau arrêté, biomédical appelé."},
                    follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/events/{number}"
    card = cards(pcr.get("/overview/cards").text)[DEVICE]
    assert 'data-alert="acknowledged"' in card and "alert-alarm" not in card
    assert "Pris en compte, non clôturé" in card and "card-ack-form" not in card

    closed = pcr.post(f"/events/{number}/close", follow_redirects=False,
                      data={"csrf_token": csrf(pcr), "comment": "Arceau réparé."})
    assert closed.status_code == 303
    card = cards(pcr.get("/overview/cards").text)[DEVICE]
    assert 'data-alert="none"' in card and 'data-testid="room-alerts"' not in card
    assert "alert-" not in card.split(">", 1)[0]  # no alert class, nor a red one


def test_the_card_form_refuses_an_empty_comment_and_a_missing_token(
    app: FastAPI, pcr: TestClient
) -> None:
    unsolicited_emission_over(app)
    action, fields = ack_form(cards(pcr.get("/overview/cards").text)[DEVICE])
    empty = pcr.post(action, data={**fields, "comment": "   "}, follow_redirects=False,
                     headers={"Accept-Language": "en"})
    assert empty.status_code == 422 and "A comment is required." in empty.text
    forged = pcr.post(action, data={"comment": "no token"}, follow_redirects=False)
    assert forged.status_code == 403
    assert 'data-alert="alarm"' in cards(pcr.get("/overview/cards").text)[DEVICE]


def test_a_viewer_sees_the_alarm_but_no_form(app: FastAPI) -> None:
    unsolicited_emission_over(app)
    with TestClient(app) as viewer:
        login(viewer, "viewer")
        card = cards(viewer.get("/overview/cards").text)[DEVICE]
    assert 'data-alert="alarm"' in card and "card-ack-form" not in card


def test_a_system_fault_never_looks_like_a_radiation_alarm(
    app: FastAPI, pcr: TestClient
) -> None:
    ingest(app, status("online", T0), live_msg(T0 + 20))
    store = Store.open(app.state.store_path)
    try:
        store.open_event("data_gap", DEVICE, SITE, ROOM, "j:1", iso(T0 + 4), {})
        store.open_event("device_offline", DEVICE, SITE, ROOM, "", iso(T0 + 5), {})
        store.conn.commit()
    finally:
        store.close()
    page = pcr.get("/overview/cards").text
    card = cards(page)[DEVICE]
    assert 'data-alert="fault"' in card and "alert-fault" in card
    assert card.count('data-level="fault"') == 2 and 'data-about="system"' in card
    assert "Données manquantes" in card and "Défaut du système" in card
    for radiation_look in ('data-level="alarm"', "alert-alarm", "in-sight-alarm",
                           "card-ack-form", "Critique, à prendre en compte"):
        assert radiation_look not in card, radiation_look
    assert 'data-count="0"' in page  # the header counts critical events only
    # the rule itself: whatever severity a system kind was stored with
    assert level("data_gap", "critical", "open") == "fault"
    assert level("data_gap", "warning", "acknowledged") is None
    assert level("unsolicited_emission", "critical", "open") == "alarm"
    assert level("unsolicited_emission", "critical", "acknowledged") == "acknowledged"
    assert level("long_exposure", "warning", "open") == "radiation"


def test_the_header_counts_them_on_every_page_and_the_title_says_it(
    app: FastAPI, pcr: TestClient
) -> None:
    events = pcr.get("/events").text
    assert "<title>Événements · Voyant</title>" in events and 'data-count="0"' in events
    unsolicited_emission_over(app)
    unsolicited_emission_over(app, device=OTHER, room=OTHER_ROOM, journal=JOURNAL_2)
    events = pcr.get("/events").text
    assert "<title>(2) Événements · Voyant</title>" in events
    counter = re.search(r'<a id="alarm-count"[^>]*>(.*?)</a>', events, re.S)
    assert counter is not None
    assert 'class="alarm-count on"' in counter.group(0) and 'data-count="2"' in counter.group(0)
    assert html.unescape(re.search(r'href="([^"]+)"', counter.group(0)).group(1)) == (  # type: ignore[union-attr]
        "/events?state=open&severity=critical")
    assert "Événements critiques à prendre en compte" in counter.group(1)
    assert "<title>(2) Salles · Voyant</title>" in pcr.get("/").text
    # the overview's SSE refresh brings the title and the header's count along (htmx takes
    # a top-level <title>, and swaps the count out of band)
    fragment = pcr.get("/overview/cards").text
    assert fragment.lstrip().startswith("<title>(2) Salles · Voyant</title>")
    assert re.search(r'<a id="alarm-count"[^>]*hx-swap-oob="true"', fragment)
    assert 'hx-swap-oob' not in pcr.get("/").text  # in the page: the header's own, once

    number = event_id(app, "unsolicited_emission", OTHER)
    pcr.post(f"/events/{number}/acknowledge", follow_redirects=False,
             data={"csrf_token": csrf(pcr), "comment": "Vu."})
    assert "<title>(1) Calendrier" in pcr.get("/calendar").text
    assert pcr.get("/overview/cards").text.lstrip().startswith("<title>(1) Salles")
    with TestClient(app) as anonymous:  # the login page counts nothing
        assert 'id="alarm-count"' not in anonymous.get("/login").text
    # the header's link lists exactly the open critical events (not the data gaps)
    listed = pcr.get("/events/rows?state=open&severity=critical").text
    assert len(re.findall(r'data-event-id="(\d+)"', listed)) == 1
    assert pcr.get("/events?severity=loud").status_code == 422


def test_the_count_is_one_indexed_query(app: FastAPI) -> None:
    with TestClient(app):
        pass  # the store made
    unsolicited_emission_over(app)
    conn = connect(app.state.store_path)
    try:
        assert open_critical(conn) == (1, event_id(app, "unsolicited_emission"))
        plan = " ".join(str(tuple(r)) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*), coalesce(max(id), 0) FROM events"
            " WHERE state = 'open' AND severity = 'critical'"))
    finally:
        conn.close()
    assert "idx_events_state" in plan


def test_the_alerts_script_is_served_and_its_settings_start_off(pcr: TestClient) -> None:
    page = pcr.get("/").text
    assert '<script src="http://testserver/static/alerts.js" defer></script>' in page
    settings = re.search(r'<fieldset id="alert-settings".*?</fieldset>', page, re.S)
    assert settings is not None and " hidden" in settings.group(0).split(">", 1)[0]
    assert 'checked' not in settings.group(0)
    assert "qu'en HTTPS ou sur localhost" in html.unescape(settings.group(0))
    script = pcr.get("/static/alerts.js")
    assert script.status_code == 200 and "requestPermission" in script.text
    assert "isSecureContext" in script.text
    assert 'src="http://testserver/static/alerts.js"' in pcr.get("/events").text
