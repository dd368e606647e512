"""Rooms pages, their JSON API, the CSV export and the live stream's broadcaster.

The store is filled through the ingest core (``IngestCore``) with the wire's own
payloads, as the MQTT ingest would; the app runs with the ingest off.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from hub.db.connection import connect, write
from hub.db.store import Store
from hub.timefmt import iso
from hub.web import live
from tests.hub_factory import (
    DEVICE,
    JOURNAL_2,
    SITE,
    T0,
    batch,
    core,
    exposure,
    reading,
    readings,
    status,
)
from tests.web_helpers import api_token, bearer, login, make_app
from wire.contract import EXPOSURES, LIVE, READINGS, Live, topic
from wire.kinds import label

OTHER = "chu-nord.salle-4"
END = iso(T0 + 86400)[:19]  # the chart's end: a day after T0


def live_msg(at: float, device: str = DEVICE, room: str = "salle-3", **changes: Any
             ) -> tuple[str, bytes]:
    fields: dict[str, Any] = dict(
        v=1, device=device, site=SITE, room=room, at=iso(at),
        inputs={"generator_powered": True, "request": False, "emission": False,
                "light.powered": True, "light.emission": False,
                "door.corridor": False, "door.control": True},
        alarms=[], exposure_open=False, dose_rate_usv_h=0.12, calibration="sbm20/Cs-137",
        outbox=0)
    fields.update(changes)
    return topic(SITE, room, LIVE), Live.model_validate(fields).to_bytes()


def fill(store: Store) -> None:
    """Two rooms: salle-3 online with readings and exposures; salle-4 offline, emitting."""
    ingest = core(store, now=T0)
    ingest.handle_batch([
        status("online", T0),
        live_msg(T0 + 1),
        readings(1, 400),
        batch(EXPOSURES, [
            exposure(401, 1, "closed", start=iso(T0 + 5)),
            exposure(402, 2, "closed", start=iso(T0 + 86400 * 2), requested=False,
                     alarms=["unrequested_emission"], calibration="=cmd|calc"),
            exposure(403, 3, "closed", start=iso(T0 + 86400 * 3),
                     alarms=["door_open_during_emission"], doors_open=["corridor"]),
        ]),
        status("offline", T0 + 2, device=OTHER, room="salle-4", journal=JOURNAL_2),
        live_msg(T0 + 2, device=OTHER, room="salle-4",
                 inputs={"generator_powered": True, "emission": True, "door.main": True},
                 exposure_open=True, dose_rate_usv_h=1234.5, calibration="sbm20/RQR5",
                 alarms=[{"kind": "door_open_during_emission", "subject": "main",
                          "since": iso(T0 + 2)}]),
    ], T0 + 3 * 86400 + 3600)  # received after the last record: every clock plausible
    assert ingest.stats()["rejected_total"] == 0
    store.open_event("data_gap", DEVICE, SITE, "salle-3", "j:1", iso(T0 + 4), {})
    store.conn.commit()


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    store = Store.open(tmp_path / "hub.db")
    try:
        fill(store)
    finally:
        store.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "viewer")
        yield client


def cards(html: str) -> dict[str, str]:
    found = re.findall(r'<article class="room-card[^"]*"\s+data-testid="room-card" '
                       r'data-device="([^"]+)"(.*?)</article>', html, re.S)
    return dict(found)


# -- overview ---------------------------------------------------------------------------------


def test_overview_shows_each_room_live(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'sse-connect="/live/stream"' in page.text
    assert 'hx-trigger="sse:rooms, sse:events"' in page.text
    found = cards(page.text)
    assert set(found) == {DEVICE, OTHER}
    one, two = found[DEVICE], found[OTHER]
    assert 'data-online="true"' in one and 'data-emitting="false"' in one
    assert 'data-open-events="1"' in one
    assert "0.12 µSv/h" in one and "(sbm20/Cs-137)" in one
    assert 'data-door="corridor" data-open="false"' in one
    assert 'data-door="control" data-open="true"' in one
    assert 'data-lamp="powered">powered: <span class="flag on" data-value="true">lit' in one
    assert 'data-online="false"' in two and 'data-emitting="true"' in two
    assert "1,235 µSv/h" in two and "(sbm20/RQR5)" in two
    assert 'data-kind="door_open_during_emission"' in two and "Offline" in two
    # the fragment the cards refresh from says the same
    fragment = client.get("/overview/cards")
    assert fragment.status_code == 200 and set(cards(fragment.text)) == {DEVICE, OTHER}
    assert "<html" not in fragment.text


def test_overview_in_french_by_default(client: TestClient) -> None:
    page = client.get("/")
    assert "Générateur sous tension" in page.text and "Hors ligne" in page.text


def test_alarms_are_named_from_the_vocabulary(client: TestClient) -> None:
    """A card's active alarm and an exposure's alarms show the name wire/kinds.py gives in
    the reader's language (the code stays in data-kind); an unknown kind shows
    its code."""
    for lang in ("fr", "en"):
        name = str(escape(label("door_open_during_emission", lang)))  # as Jinja escapes
        card = cards(client.get("/", headers={"Accept-Language": lang}).text)[OTHER]
        assert (f'data-kind="door_open_during_emission">'
                f"{name} (main)") in card, lang
        room = client.get(f"/rooms/{DEVICE}", params={"range": "all"},
                          headers={"Accept-Language": lang}).text
        assert f'data-kind="door_open_during_emission">{name}</span>' in room, lang
        assert 'data-kind="unrequested_emission">unrequested_emission</span>' in room, lang
    assert label("door_open_during_emission", "fr") != label("door_open_during_emission", "en")


def test_pages_need_a_session(app: FastAPI) -> None:
    with TestClient(app) as anonymous:
        assert anonymous.get("/", follow_redirects=False).status_code == 303
        assert anonymous.get(f"/rooms/{DEVICE}", follow_redirects=False).status_code == 303
        assert anonymous.get("/api/rooms").status_code == 401
        assert anonymous.get("/live/stream", follow_redirects=False).status_code == 303


# -- room page --------------------------------------------------------------------------------


def test_room_page_signals_chart_and_exposures(client: TestClient) -> None:
    page = client.get(f"/rooms/{DEVICE}", params={"range": "24h"},
                      headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'hx-trigger="sse:rooms"' in page.text
    assert 'data-signal="door.control" data-value="true"' in page.text
    assert 'data-testid="dose-chart-svg" data-range="24h"' in page.text
    assert page.text.count('data-testid="exposure-row"') == 3
    assert client.get("/rooms/nope").status_code == 404
    signals = client.get(f"/rooms/{DEVICE}/signals")
    assert signals.status_code == 200 and "sbm20/Cs-137" in signals.text


def test_records_stamped_by_an_implausible_clock_are_shown_and_left_out(
    app: FastAPI, client: TestClient
) -> None:
    store = Store.open(app.state.store_path)
    try:
        core(store, now=T0).handle_batch([
            batch(READINGS, [reading(404, start="9999-01-01T00:00:00Z",
                                     end="9999-01-01T00:00:10Z")]),
            batch(EXPOSURES, [exposure(405, 4, "closed", start="0001-01-01T00:00:00Z",
                                       end="0001-01-01T00:00:03Z")]),
        ], T0 + 3 * 86400 + 3700)
    finally:
        store.close()
    page = client.get(f"/rooms/{DEVICE}", headers={"Accept-Language": "fr"})
    assert 'data-testid="readings-clock-implausible"' in page.text
    assert "horloge invraisemblable" in page.text
    assert page.text.count('data-testid="exposure-clock-implausible"') == 1
    chart = client.get(f"/api/rooms/{DEVICE}/readings", params={"range": "24h", "end": END})
    assert sum(p["n"] for p in chart.json()["points"]) == 400  # the flagged one left out
    assert chart.json()["clock_implausible"] == 1
    export = client.get(f"/rooms/{DEVICE}/exposures.csv")
    assert export.text.splitlines()[0].endswith(";clock_implausible")  # French: ";"


def test_chart_reads_the_rollups(client: TestClient) -> None:
    # the readings start at T0 (2026-01-05 07:00Z), 400 of them every 10 s
    response = client.get(f"/api/rooms/{DEVICE}/readings", params={"range": "24h", "end": END})
    assert response.status_code == 200
    data = response.json()
    assert data["step_s"] == 300 and data["calibrations"] == ["sbm20/Cs-137"]
    assert sum(p["n"] for p in data["points"]) == 400
    assert all(p["mean_usv_h"] == pytest.approx(0.1) for p in data["points"])
    assert all(p["max_usv_h"] == pytest.approx(0.2) for p in data["points"])
    assert data["complete"] is True
    quarter = client.get(f"/api/rooms/{DEVICE}/readings",
                         params={"range": "quarter", "end": END}).json()
    assert quarter["step_s"] == 3 * 3600 and sum(p["n"] for p in quarter["points"]) == 400
    chart = client.get(f"/rooms/{DEVICE}/chart", params={"range": "7d"})
    assert chart.status_code == 200 and 'data-range="7d"' in chart.text
    bad = client.get(f"/api/rooms/{DEVICE}/readings", params={"range": "year"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "range"]


@pytest.mark.parametrize(("params", "numbers"), [
    ({}, [3, 2, 1]),
    ({"requested": "no"}, [2]),
    ({"requested": "yes"}, [3, 1]),
    ({"alarm": "yes"}, [3, 2]),
    ({"alarm": "no"}, [1]),
    ({"from": iso(T0 + 86400 * 2)[:10]}, [3, 2]),
    ({"to": iso(T0 + 86400 * 2)[:10]}, [2, 1]),
    ({"from": iso(T0 + 86400 * 2)[:10], "to": iso(T0 + 86400 * 2)[:10], "alarm": "yes"}, [2]),
])
def test_exposure_filters(client: TestClient, params: dict[str, str],
                          numbers: list[int]) -> None:
    api = client.get(f"/api/rooms/{DEVICE}/exposures", params=params)
    assert api.status_code == 200
    assert [e["number"] for e in api.json()["items"]] == numbers
    page = client.get(f"/rooms/{DEVICE}", params=params)
    assert page.text.count('data-testid="exposure-row"') == len(numbers)
    export = client.get(f"/rooms/{DEVICE}/exposures.csv", params=params)
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert [int(r["number"]) for r in rows] == sorted(numbers)


def test_exposure_api_pagination(client: TestClient) -> None:
    first = client.get(f"/api/rooms/{DEVICE}/exposures", params={"per_page": 2}).json()
    assert (first["total"], first["pages"], len(first["items"])) == (3, 2, 2)
    second = client.get(f"/api/rooms/{DEVICE}/exposures",
                        params={"per_page": 2, "page": 2}).json()
    assert [e["number"] for e in second["items"]] == [1]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"requested": "maybe"}, "requested"),
    ({"alarm": "1"}, "alarm"),
    ({"from": "2026-01-10", "to": "2026-01-09"}, "to"),
    ({"page": "0"}, "page"),
])
def test_bad_filters_name_the_field(client: TestClient, params: dict[str, str],
                                    field: str) -> None:
    api = client.get(f"/api/rooms/{DEVICE}/exposures", params=params)
    assert api.status_code == 422
    assert [d["loc"][-1] for d in api.json()["detail"]] == [field]
    page = client.get(f"/rooms/{DEVICE}", params=params, headers={"Accept-Language": "en"})
    assert page.status_code == 422  # the page itself, the mistake named next to its field
    assert f'data-testid="error-{field}"' in page.text
    if field != "page":
        export = client.get(f"/rooms/{DEVICE}/exposures.csv", params=params)
        assert export.status_code == 422 and export.text.startswith(f"{field}: ")


def test_csv_export(client: TestClient) -> None:
    export = client.get(f"/rooms/{DEVICE}/exposures.csv")
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"] == (
        f'attachment; filename="exposures_{DEVICE}.csv"')
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert "calibration" in header and "max_dose_rate_usv_h" in header
    by_number = {r[header.index("number")]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert by_number["1"]["calibration"] == "sbm20/Cs-137"
    assert by_number["1"]["requested"] == "1" and by_number["2"]["requested"] == "0"
    assert by_number["3"]["doors_open"] == "corridor"
    assert by_number["2"]["alarms"] == "unrequested_emission"
    assert by_number["2"]["calibration"] == "'=cmd|calc"  # never a spreadsheet formula
    assert export.text.endswith("\r\n")


def test_rooms_api(client: TestClient, app: FastAPI) -> None:
    token = api_token(app, "viewer", username="robot")
    rooms = client.get("/api/rooms", headers=bearer(token)).json()
    assert [r["device"] for r in rooms] == [DEVICE, OTHER]
    one = rooms[0]
    assert one["online"] is True and one["generator_powered"] is True
    assert one["doors"] == {"control": True, "corridor": False}
    assert one["dose_rate"] == {"usv_h": 0.12, "calibration": "sbm20/Cs-137"}
    assert one["open_events"] == 1
    # its data gap: a system fault, the card's level and the event the card shows
    assert one["alert"] == "fault"
    assert [(e["kind"], e["about"], e["level"]) for e in one["alerts"]] == [
        ("data_gap", "system", "fault")]
    two = client.get(f"/api/rooms/{OTHER}").json()
    assert two["emitting"] is True and two["exposure_open"] is True and two["online"] is False
    assert two["light_powered"] is None and two["alarms"][0]["subject"] == "main"
    assert client.get("/api/rooms/nope").status_code == 404
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/rooms", "/api/rooms/{device}", "/api/rooms/{device}/readings",
                 "/api/rooms/{device}/exposures"):
        assert path in paths


# -- live -------------------------------------------------------------------------------------


def _write_live(path: str, device: str, **changes: Any) -> None:
    conn = connect(path)
    try:
        _, payload = live_msg(T0 + 100, device=device, **changes)
        with write(conn):
            conn.execute("UPDATE live SET payload = ?, at = ? WHERE device = ?",
                         [payload.decode(), iso(T0 + 100), device])
    finally:
        conn.close()


def test_broadcaster_sees_what_changed(app: FastAPI) -> None:
    path = app.state.store_path
    hub = live.Broadcaster(path)
    assert hub.changes() == []  # the baseline
    assert hub.changes() == []  # nothing committed since
    _write_live(path, DEVICE, dose_rate_usv_h=0.5)
    assert hub.changes() == ["rooms"]
    # a heartbeat (only the time moves) is no news
    conn = connect(path)
    with write(conn):
        conn.execute("UPDATE live SET payload = json_set(payload, '$.at', 'x'), at = 'x'")
    assert hub.changes() == []
    with write(conn):
        conn.execute("UPDATE devices SET online = 0 WHERE device = ?", [DEVICE])
    assert hub.changes() == ["rooms"]
    with write(conn):
        conn.execute("UPDATE events SET state = 'acknowledged'")
    assert hub.changes() == ["events"]
    with write(conn):
        conn.execute("UPDATE events SET acknowledged_by = 'pcr'")
    assert hub.changes() == ["events"]
    conn.close()


def test_broadcaster_reads_the_events_first_and_the_rooms_after(app: FastAPI) -> None:
    """A poll publishes the events' notice before reading the rooms' digest (issue 18): a
    part not asked for stays to be read, once, by the next call that asks for it."""
    assert live.PARTS == ((live.EVENTS,), (live.ROOMS,))
    path = app.state.store_path
    hub = live.Broadcaster(path)
    assert hub.changes() == []  # the baseline
    _write_live(path, DEVICE, dose_rate_usv_h=0.7)
    conn = connect(path)
    with write(conn):
        conn.execute("UPDATE events SET state = 'acknowledged'")
    conn.close()
    assert hub.changes((live.EVENTS,)) == ["events"]
    assert hub.changes((live.EVENTS,)) == []  # read already: nothing new since
    assert hub.changes((live.ROOMS,)) == ["rooms"]  # changed before, still news
    assert hub.changes() == []


def test_a_poke_publishes_the_events_before_reading_the_rooms(
        app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The alarm's notice is on the subscriber's queue before the rooms' digest is read."""
    read_rooms = live.MARKERS[live.ROOMS]
    published_before_rooms: list[int] = []

    async def scenario() -> list[str]:
        hub = live.Broadcaster(app.state.store_path, interval_s=60.0)  # the poke alone
        queue = hub.subscribe()

        def rooms_marker(conn: sqlite3.Connection) -> str:
            published_before_rooms.append(hub.next_id)  # notices published so far
            return read_rooms(conn)

        monkeypatch.setitem(live.MARKERS, live.ROOMS, rooms_marker)
        await asyncio.wait_for(hub.baseline.wait(), 2)
        published_before_rooms.clear()
        await asyncio.to_thread(_write_live, app.state.store_path, DEVICE, exposure_open=True)
        conn = connect(app.state.store_path)
        with write(conn):
            conn.execute("UPDATE events SET state = 'acknowledged'")
        conn.close()
        hub.poke()
        names = [(await asyncio.wait_for(queue.get(), 2))[1] for _ in range(2)]
        await hub.stop()
        return names

    assert asyncio.run(scenario()) == ["events", "rooms"]
    assert published_before_rooms == [1]  # the events' notice, published already


def test_broadcaster_fans_out_and_stops(app: FastAPI) -> None:
    async def scenario() -> None:
        hub = live.Broadcaster(app.state.store_path, interval_s=0.02, idle_stop_s=0.1)
        one, two = hub.subscribe(), hub.subscribe()
        assert hub.task is not None
        await asyncio.wait_for(hub.baseline.wait(), 2)  # what exists now is not news
        await asyncio.to_thread(_write_live, app.state.store_path, OTHER, exposure_open=True)
        assert (await asyncio.wait_for(one.get(), 2))[1] == "rooms"
        assert (await asyncio.wait_for(two.get(), 2))[1] == "rooms"
        hub.unsubscribe(one)
        hub.unsubscribe(two)
        await asyncio.wait_for(hub.task, 2)  # nobody listens: it stops by itself
        three = hub.subscribe()  # and starts again for the next one
        await hub.stop()
        assert (await three.get()) == (0, "")  # the stream's end

    asyncio.run(scenario())


def test_stream_sends_named_events(app: FastAPI) -> None:
    """Through the SSE generator: ``event: rooms`` once a live row changed."""
    async def scenario() -> list[str]:
        hub = live.Broadcaster(app.state.store_path, interval_s=0.02)
        queue = hub.subscribe()

        class FakeRequest:
            def __init__(self) -> None:
                self.headers = {"last-event-id": "7"}

        stream = live._stream(FakeRequest(), hub, queue)  # type: ignore[arg-type]
        names = [(await anext(stream)).event, (await anext(stream)).event]
        await asyncio.wait_for(hub.baseline.wait(), 2)
        await asyncio.to_thread(_write_live, app.state.store_path, DEVICE, exposure_open=True)
        event = await asyncio.wait_for(anext(stream), 2)
        names.append(event.event)
        assert event.data == "rooms" and event.id is not None
        await hub.stop()
        await stream.aclose()
        assert queue not in hub.subscribers
        return names

    assert asyncio.run(scenario()) == ["rooms", "events", "rooms"]


def test_open_events_count_ignores_closed(client: TestClient, app: FastAPI) -> None:
    conn: sqlite3.Connection = connect(app.state.store_path)
    with write(conn):
        conn.execute("UPDATE events SET state = 'closed'")
    conn.close()
    assert client.get(f"/api/rooms/{DEVICE}").json()["open_events"] == 0
    assert json.loads(client.get("/api/rooms").text)[0]["open_events"] == 0


def test_chart_ending_on_a_chosen_day(client: TestClient) -> None:
    day = iso(T0)[:10]
    page = client.get(f"/rooms/{DEVICE}", params={"range": "24h", "end": day})
    assert page.status_code == 200
    assert 'data-range="24h" data-points="14"' in page.text  # 400 readings: 67 min, 5-min steps
    fragment = client.get(f"/rooms/{DEVICE}/chart", params={"range": "7d", "end": day})
    assert 'data-range="7d" data-points="2"' in fragment.text
    bad = client.get(f"/rooms/{DEVICE}", params={"end": "soon"},
                     headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and 'data-testid="error-end"' in bad.text
    far = client.get(f"/rooms/{DEVICE}", params={"end": "0001-01-01"},
                     headers={"Accept-Language": "en"})
    assert far.status_code == 422 and "Expected a date from 1970-01-01 to 9000-12-31" in far.text
    for end in ("0001-04-05", "0001-04-06", "0001-04-05T00:00", "9999-12-30", "1969-12-31"):
        for range_ in ("1h", "24h", "7d", "quarter"):  # a 422 naming the field, never a 500
            for url in (f"/rooms/{DEVICE}", f"/rooms/{DEVICE}/chart"):
                answer = client.get(url, params={"range": range_, "end": end})
                assert answer.status_code == 422, (url, range_, end)
    for end in ("1970-01-01", "9000-12-31"):
        for range_ in ("1h", "24h", "7d", "quarter"):
            assert client.get(f"/rooms/{DEVICE}/chart",
                              params={"range": range_, "end": end}).status_code == 200
    assert client.get(f"/api/rooms/{DEVICE}/readings",
                      params={"end": "9999-12-31T00:00:00Z"}).status_code == 422
