"""A room's journaled input changes: the room page's section, ``changes.csv`` with its date
filters, ``/api/rooms/{device}/changes``, and the journal export's download."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.web import changes
from tests.web_helpers import api_token, bearer, login, make_app
from wire.chain import GENESIS, canonical, record_hash

DEVICE, SITE, ROOM = "chu.salle-1", "chu", "salle-1"
JOURNAL = "4f1c" + "0" * 28


def change(seq: int, signal: str, first: str, last: str | None = None, count: int = 1,
           value: int = 1, origin: str = "edge", by: str | None = None) -> list[object]:
    return [DEVICE, SITE, ROOM, JOURNAL, seq, 1, signal, value, first, last or first, count,
            origin, by, 1, 0, first]


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    with TestClient(app):
        pass
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room, journal, acked_upto, online)"
                 " VALUES (?, ?, ?, ?, 0, 1)", [DEVICE, SITE, ROOM, JOURNAL])
    rows = [
        change(1, "door.corridor", "2026-01-04T23:59:59.900Z", value=0, origin="start",
               count=0),
        change(2, "emission", "2026-01-05T07:00:00.000Z"),
        change(3, "emission", "2026-01-05T07:00:00.500Z", "2026-01-05T07:00:01.400Z", 15, 0),
        change(4, "reset", "2026-01-06T10:00:00.000Z", by="=marie"),
        change(5, "door.corridor", "2026-01-07T00:00:00.000Z"),
    ]
    conn.executemany(f"INSERT INTO changes VALUES ({', '.join('?' * 16)})", rows)
    conn.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        login(c, "viewer")
        yield c


def csv_rows(body: bytes) -> list[dict[str, str]]:
    """The rows of an English CSV download (after its BOM: tests/test_csv_french.py)."""
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_room_page_lists_the_latest_changes_newest_first(client: TestClient) -> None:
    page = client.get(f"/rooms/{DEVICE}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    signals = re.findall(r'data-testid="change-row" data-signal="([^"]+)" data-count="(\d+)"',
                         page.text)
    # the train's first edge and its run record (seq 2 and 3) are one line
    assert signals == [("door.corridor", "1"), ("reset", "1"), ("emission", "16"),
                       ("door.corridor", "0")]
    assert ("16 changes from 2026-01-05 08:00:00 to 2026-01-05 08:00:01, ends X-rays off"
            " <span class=\"muted\">(2 records, sequence 2 to 3)</span>") in page.text
    assert "reset asked (by =marie)" in page.text
    assert "found closed when the agent started" in page.text
    assert "Shown: the latest 5 of 5." in page.text
    assert f'href="/rooms/{DEVICE}/changes.csv?' in page.text
    french = client.get(f"/rooms/{DEVICE}").text
    assert ("16 changements de 2026-01-05 08:00:00 à 2026-01-05 08:00:01, état final\u202f:"
            " pas d&#39;émission") \
        in french and "(2 enregistrements, séquences 2 à 3)" in french
    assert "Changements des entrées" in french


def test_the_page_shows_a_bounded_number_and_says_how_many(app: FastAPI,
                                                           client: TestClient) -> None:
    conn = connect(app.state.store_path)
    conn.executemany(f"INSERT INTO changes VALUES ({', '.join('?' * 16)})",
                     [change(100 + i, "request", f"2026-02-01T00:{i:02d}:00Z")  # a minute apart
                      for i in range(changes.SHOWN + 10)])
    conn.close()
    page = client.get(f"/rooms/{DEVICE}", headers={"Accept-Language": "en"}).text
    assert page.count('data-testid="change-row"') == changes.SHOWN
    assert f"Shown: the latest {changes.SHOWN} of {changes.SHOWN + 15}." in page


def test_the_csv_holds_every_change_oldest_first_with_its_run(client: TestClient) -> None:
    response = client.get(f"/rooms/{DEVICE}/changes.csv", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="changes_{DEVICE}.csv"' in response.headers["content-disposition"]
    rows = csv_rows(response.content)
    assert list(rows[0]) == list(changes.CSV_COLUMNS)
    assert [int(r["seq"]) for r in rows] == [1, 2, 3, 4, 5]
    run = rows[2]
    assert (run["signal"], run["count"], run["first"], run["last"], run["value"]) == (
        "emission", "15", "2026-01-05T08:00:00.500+01:00", "2026-01-05T08:00:01.400+01:00",
        "0")  # Paris time with its offset
    assert rows[0]["origin"] == "start" and rows[3]["by"] == "'=marie"  # no formula


def test_the_csv_filters_by_paris_days_of_the_first_edge(client: TestClient) -> None:
    """23:59:59.9 UTC on 4 January is 00:59:59.9 in Paris on the 5th: a Paris day's change."""
    def seqs(query: str) -> list[int]:
        response = client.get(f"/rooms/{DEVICE}/changes.csv?{query}",
                              headers={"Accept-Language": "en"})
        assert response.status_code == 200, response.text
        return [int(r["seq"]) for r in csv_rows(response.content)]

    assert seqs("from=2026-01-05&to=2026-01-05") == [1, 2, 3]
    assert seqs("from=2026-01-06") == [4, 5]
    assert seqs("to=2026-01-04") == []
    assert seqs("to=9999-12-31&from=0001-01-01") == [1, 2, 3, 4, 5]
    assert seqs("from=2026-01-06&requested=nonsense&page=-1") == [4, 5]  # not its own
    named = client.get(f"/rooms/{DEVICE}/changes.csv?from=2026-01-05&to=2026-01-06")
    assert (f'filename="changes_{DEVICE}_2026-01-05_2026-01-06.csv"'
            in named.headers["content-disposition"])


@pytest.mark.parametrize("query", ["from=2026-02-30", "to=yesterday", "from=%00",
                                   "from=2026-01-06&to=2026-01-05", "from=" + "9" * 400,
                                   "to=2026-01-05T00:00:00Z"])
def test_a_hostile_query_is_a_clear_422(client: TestClient, query: str) -> None:
    response = client.get(f"/rooms/{DEVICE}/changes.csv?{query}",
                          headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert re.match(r"^(from|to): ", response.text)


def test_an_unknown_room_is_a_404(client: TestClient) -> None:
    assert client.get("/rooms/no.such/changes.csv").status_code == 404
    assert client.get("/rooms/no.such/journal.jsonl").status_code == 404


def test_the_api_gives_the_latest_changes(app: FastAPI, client: TestClient) -> None:
    token = bearer(api_token(app, "viewer"))
    body = client.get(f"/api/rooms/{DEVICE}/changes?limit=2", headers=token).json()
    assert body["total"] == 5 and [i["seq"] for i in body["items"]] == [5, 4]
    assert client.get(f"/api/rooms/{DEVICE}/changes?limit=0", headers=token).status_code == 422


def test_the_journal_export_downloads_what_the_inspector_checks(app: FastAPI,
                                                                client: TestClient) -> None:
    """Two chained records as received: the download has them with their hashes."""
    first = {"seq": 1, "run": 1, "signal": "emission", "value": True,
             "first": "2026-01-05T07:00:00.000Z", "last": "2026-01-05T07:00:00.000Z",
             "count": 1, "origin": "edge", "by": None, "clock_synced": True, "prev": GENESIS}
    second = {**first, "seq": 2, "value": False, "prev": record_hash(first)}
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO journals VALUES (?, ?, 2, ?)",
                 [DEVICE, JOURNAL, "2026-01-05T07:00:00.000Z"])
    for record in (first, second):
        conn.execute("INSERT INTO received VALUES (?, ?, ?, 'changes', ?, ?, ?, ?)",
                     [DEVICE, JOURNAL, record["seq"], "2026-01-05T07:00:01.000Z",
                      record_hash(record), record["prev"], canonical(record).decode()])
    conn.close()
    response = client.get(f"/rooms/{DEVICE}/journal.jsonl")
    assert response.status_code == 200
    assert f'filename="journal_{DEVICE}.jsonl"' in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(e["seq"], e["hash"]) for e in lines] == [(1, record_hash(first)),
                                                     (2, record_hash(second))]
    other = client.get(f"/rooms/{DEVICE}/journal.jsonl?journal=ffff")
    assert other.status_code == 200 and other.text == ""
    for bad in ("from=2026-02-30", "journal=%00", "journal=" + "j" * 300):
        assert client.get(f"/rooms/{DEVICE}/journal.jsonl?{bad}").status_code == 422, bad
