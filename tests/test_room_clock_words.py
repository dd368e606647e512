"""The room pages read as a French PCR expects (issue 16, items 2 and 3): one clock (Paris
wall time, the zone said once), Paris days in the filters (23 and 25 hours on the days the
clocks change), every CSV time with its offset, French numbers, states in words and no raw
signal key in the text a person reads."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.web.numfmt import fixed, number
from hub.web.rooms import day_bounds
from hub.workdays import PARIS
from tests.hub_factory import DEVICE, JOURNAL_2, SITE
from tests.test_web_rooms import fill
from tests.web_helpers import login, make_app

FR = {"Accept-Language": "fr"}
EN = {"Accept-Language": "en"}
#: Exposures around the two days the clocks change in 2026 (UTC): each Paris day's first
#: and last second, and the seconds just outside it.
OCTOBER = ("2026-10-24T21:59:59.000Z", "2026-10-24T22:00:00.000Z", "2026-10-25T00:30:00.000Z",
           "2026-10-25T01:30:00.000Z", "2026-10-25T22:59:59.000Z", "2026-10-25T23:00:00.000Z")
MARCH = ("2026-03-28T22:59:59.000Z", "2026-03-28T23:00:00.000Z", "2026-03-29T21:59:59.000Z",
         "2026-03-29T22:00:00.000Z")


class _Text(HTMLParser):
    """The text a person reads: no tag, attribute, script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"[ \t\r\n]+", " ", " ".join(parser.parts))  # U+202F kept


def _exposure(number_: int, start: str) -> dict[str, object]:
    return {"device": DEVICE, "site": SITE, "room": "salle-3", "journal": JOURNAL_2, "run": 9,
            "number": number_, "state": "closed", "start": start, "end": start,
            "duration_s": 1.0, "requested": 1, "resumed": 0, "interrupted": 0,
            "doors_open": "[]", "alarms": "[]", "clock_synced": 1, "clock_implausible": 0}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    store = Store.open(tmp_path / "hub.db")
    try:
        fill(store)
    finally:
        store.close()
    conn = connect(app.state.store_path)
    for i, start in enumerate(OCTOBER + MARCH, start=1):
        row = _exposure(i, start)
        conn.execute(f"INSERT INTO exposures ({', '.join(row)}) VALUES"
                     f" ({', '.join('?' * len(row))})", list(row.values()))
    conn.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "viewer")
        yield client


def test_the_french_room_page_speaks_paris_time_french_numbers_and_words(
        client: TestClient) -> None:
    page = client.get(f"/rooms/{DEVICE}", headers=FR)
    assert page.status_code == 200
    text = visible(page.text)
    assert text.count("Heures de Paris (Europe/Paris)") == 1  # the zone, said once
    ours = visible("".join(re.findall(  # the signals, the exposures, the changes
        r'<div id="room-signals".*?</table>|<section id="exposures">.*?</section>'
        r'|<section id="changes".*?</section>', page.text, re.S)))
    assert "Début" in ours and "UTC" not in ours and "heure de Paris" not in ours
    # live state at T0 + 1 s = 07:00:01 UTC, 08:00:01 in Paris (winter, +01:00)
    assert "2026-01-05 08:00:01" in text and "2026-01-05 07:00:01" not in text
    assert "0,12 µSv/h" in text and "0.12" not in text
    signals = re.findall(r'data-signal="([^"]+)" data-value="(\w+)">\s*<th>([^<]*)</th>\s*'
                         r'<td><span [^>]*>([^<]*)</span>', page.text)
    words = {key: (unescape(label), unescape(state)) for key, _value, label, state in signals}
    assert words["light.powered"] == ("Voyant de mise sous tension", "allumé")
    assert words["light.emission"][1] == "éteint"
    assert words["door.corridor"] == ("Porte corridor", "fermée")
    assert words["door.control"] == ("Porte control", "ouverte")
    assert words["emission"][1] == "pas d'émission" and words["request"][1] == "non"
    for code in ("light", "door", "generator_powered", "True", "False", "request",
                 "interlock_open", "emission", "exposure_open"):  # (the fixture's unknown
        assert re.search(rf"(?<![\w.]){code}(?![\w])", text) is None, code  # alarm kind kept)
    # the exposures' state in words; their times in Paris time
    assert "terminée" in text and "2026-10-25 02:30:00" in text
    english = visible(client.get(f"/rooms/{DEVICE}", headers=EN).text)
    assert english.count("Paris time (Europe/Paris)") == 1 and "0.12 µSv/h" in english
    assert "finished" in english and "lit" in english


def test_the_overview_says_the_zone_once_and_writes_french_numbers(client: TestClient) -> None:
    text = visible(client.get("/", headers=FR).text)
    assert text.count("Heures de Paris (Europe/Paris)") == 1
    assert "1\u202f235 µSv/h" in text and "0,12 µSv/h" in text  # 1234.5: half up, 1 235
    assert "allumé" in text and "fermée" in text and "light." not in text


def _count(client: TestClient, **query: str) -> int:
    page = client.get(f"/rooms/{DEVICE}", params={**query, "requested": "yes"}, headers=EN)
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'data-testid="exposures-count">[^<]*<strong>([\d,]+)</strong>', page.text)
    assert found is not None
    return int(found.group(1).replace(",", ""))


def test_the_filter_days_are_paris_days_of_25_and_23_hours(client: TestClient) -> None:
    # 25 October 2026 lasts 25 hours in Paris: 22:00 UTC the day before to 23:00 UTC
    assert day_bounds(date(2026, 10, 25), date(2026, 10, 25), PARIS) == (
        "2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z")
    # 29 March 2026 lasts 23 hours: 23:00 UTC the day before to 22:00 UTC
    assert day_bounds(date(2026, 3, 29), date(2026, 3, 29), PARIS) == (
        "2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")
    assert day_bounds(date.min, date.max, PARIS) == (None, None)  # no day past the ends
    assert _count(client, **{"from": "2026-10-25", "to": "2026-10-25"}) == 4
    assert _count(client, **{"from": "2026-10-24", "to": "2026-10-24"}) == 1
    assert _count(client, **{"from": "2026-10-26", "to": "2026-10-26"}) == 1
    assert _count(client, **{"from": "2026-03-29", "to": "2026-03-29"}) == 2
    assert _count(client, **{"from": "2026-03-28", "to": "2026-03-28"}) == 1
    assert _count(client, **{"from": "2026-03-30", "to": "2026-03-30"}) == 1


def _csv(client: TestClient, lang: dict[str, str], **query: str) -> list[dict[str, str]]:
    response = client.get(f"/rooms/{DEVICE}/exposures.csv", params=query, headers=lang)
    assert response.status_code == 200, response.text[:300]
    body = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body, newline=""),
                               delimiter=";" if lang is FR else ","))


def test_the_csv_filters_paris_days_and_tells_the_repeated_hour_apart(
        client: TestClient) -> None:
    rows = _csv(client, FR, **{"from": "2026-10-25", "to": "2026-10-25"})
    starts = [r["start"] for r in rows]
    assert starts == ["2026-10-25T00:00:00.000+02:00", "2026-10-25T02:30:00.000+02:00",
                      "2026-10-25T02:30:00.000+01:00", "2026-10-25T23:59:59.000+01:00"]
    assert [r["start"] for r in _csv(client, EN, **{"from": "2026-03-29", "to": "2026-03-29"})
            ] == ["2026-03-29T00:00:00.000+01:00", "2026-03-29T23:59:59.000+02:00"]


def test_numbers_in_the_readers_language() -> None:
    assert number(0.16, "fr") == "0,16" and number(0.16, "en") == "0.16"
    assert number(12345, "fr") == "12\u202f345" and number(12345, "en") == "12,345"
    assert number(0.0123456, "fr") == "0,0123" and number(1.5, "fr") == "1,5"
    assert number(1e308, "fr") == "1,00E308"
    for missing in (None, math.nan, math.inf, -math.inf):
        assert number(missing, "fr") == "—" and fixed(missing, "fr") == "—"
    assert fixed(12, "fr") == "12,0" and fixed(1234.56, "en") == "1,234.6"
    # rounded as a person rounds, half up (not to the even digit), and never a negative zero
    assert number(1234.5, "fr") == "1\u202f235" and number(0.125, "fr", 2) == "0,13"
    assert fixed(2.25, "fr") == "2,3" and fixed(-0.04, "fr") == "0,0"
    assert fixed(-0.16, "en", 0) == "0" and number(-0.0, "fr") == "0"
    assert number(999.95, "fr") == "1\u202f000" and number(-0.16, "fr") == "-0,16"
