"""French words, one clock and deadlines with their weekday on the events, audit and
calendar pages (issue 16, items 2 and 3): the event page says Paris time only, its
stored detail in words; the audit log says what was done in a sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.store import Store
from hub.web.audit_words import detail_items
from hub.web.i18n import translations
from hub.web.timeshow import long_day
from tests.test_no_raw_codes import visible_text
from tests.test_web_events import NOW, post
from tests.web_helpers import login, make_app

SUMMER_UTC = "2026-07-01T10:15:30.000Z"  # 12:15:30 in Paris (UTC+2)


def _text(html: str) -> str:
    """The visible text, runs of ASCII white space as one (a U+202F stays itself)."""
    return re.sub(r"[ \t\r\n]+", " ", visible_text(html))


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        c.cookies.set("lang", "fr")
        yield c


def _event(app: FastAPI) -> int:
    """An event whose detail holds what the ingest writes: times, journal, run, a flag."""
    detail = {"subject": None, "at": SUMMER_UTC, "since": SUMMER_UTC, "journal": "ab" * 16,
              "run": 3, "number": 7, "stored_at": SUMMER_UTC, "clock_implausible": True}
    store = Store.open(app.state.store_path)
    try:
        with store.transaction():
            return store.alarm_event("unsolicited_emission", "chu.salle-1", "chu", "salle-1",
                                     "j:1:1", SUMMER_UTC, detail, "critical", None, SUMMER_UTC)
    finally:
        store.close()


def test_a_deadline_says_its_weekday() -> None:
    assert long_day("2026-12-07", "fr") == "lundi 7 décembre 2026"
    assert long_day("2026-12-07", "en") == "Monday 7 December 2026"
    assert long_day("2026-02-30", "fr") == "2026-02-30"  # as stored: no such day
    assert long_day(None, "fr") == ""


def test_the_event_page_speaks_paris_time_only(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    client.cookies.set("lang", "fr")
    event_id = _event(app)
    text = _text(client.get(f"/events/{event_id}").text)
    assert "2026-07-01 12:15:30" in text
    assert "10:15" not in text and "UTC" not in text and not re.search(r"\dT\d|\dZ\b", text)
    assert "Heures de Paris (Europe/Paris)." in text  # the zone, said once
    assert text.count("Europe/Paris") == 1
    for words in ("Journal du boîtier", "Démarrage du boîtier n°", "Horloge du boîtier"
                  " invraisemblable", "Émission inopinée"):
        assert words in text, words
    for code in ("journal", "run", "stored_at", "clock_implausible", "True",
                 "unsolicited_emission"):
        assert not re.search(rf"(?<![\w-]){code}(?![\w-])", text), code


def test_the_declaration_due_says_its_weekday(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    client.cookies.set("lang", "fr")
    event_id = _event(app)
    assert post(client, f"/events/{event_id}/qualify-esr", comment="émise seule",
                criterion="6").status_code == 303
    page = _text(client.get(f"/events/{event_id}").text)
    inbox = _text(client.get("/events").text)
    # Qualified on Monday 5 January 2026 (the event's time is past the hub's clock, so the
    # hub counts from the qualification): two working days later, Wednesday 7 January.
    assert "mercredi 7 janvier 2026" in page and "mercredi 7 janvier 2026" in inbox


def test_the_audit_log_says_what_was_done(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    event_id = _event(app)
    assert post(client, f"/events/{event_id}/qualify-esr", comment="émise seule",
                criterion="6").status_code == 303
    login(client, "admin")
    client.cookies.set("lang", "fr")
    text = _text(client.get("/audit").text)
    assert "Événement qualifié ESR" in text and f"Événement {event_id}" in text
    assert "ESR\u202f: oui" in text
    assert "Connexion" in text  # login.success
    for code in ("event.qualify-esr", "login.success", "esr:", "True", f"event:{event_id}"):
        assert code not in text, code


def test_an_audit_detail_in_words() -> None:
    gettext = translations("fr").gettext
    items = detail_items(gettext, "fr", {"esr": False, "kind": "data_gap", "role": "admin",
                                         "state": "closed", "note": None,
                                         "sessions_ended": 2})
    assert items == [("ESR", "non"), (gettext("Kind"), "Données manquantes"),
                     (gettext("Role"), "administrateur"), (gettext("State"), gettext("Closed")),
                     (gettext("Note"), "—"), ("Sessions fermées", "2")]
