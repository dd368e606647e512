"""The CSV downloads open in French Excel: checked on their bytes.

French: UTF-8 with a BOM, ``;`` between fields, a decimal comma, rounded values;
English: RFC 4180 (``,``, decimal point) with the BOM too. In both, every time is
Europe/Paris wall time with its UTC offset, so the hour that repeats at the end of
October reads as two different times.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.web import csv_export
from tests.web_helpers import login, make_app

DEVICE, SITE, ROOM = "chu.salle-1", "chu", "salle-1"
JOURNAL = "4f1c" + "0" * 28
BOM = b"\xef\xbb\xbf"
FR = {"Accept-Language": "fr"}
EN = {"Accept-Language": "en"}
#: 2026-10-25, end of summer time in Paris: 03:00 CEST becomes 02:00 CET (01:00 UTC).
BEFORE, AFTER = "2026-10-25T00:30:00.000Z", "2026-10-25T01:30:00.250Z"


def exposure(number: int, start: str, end: str | None, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "device": DEVICE, "site": SITE, "room": ROOM, "journal": JOURNAL, "run": 1,
        "number": number, "state": "closed" if end else "open", "start": start, "end": end,
        "duration_s": 12.345678, "requested": 1, "resumed": 0, "interrupted": 0,
        "procedure": 7, "pulses": 1200, "doors_open": json.dumps([]), "emission_light_ok": 1,
        "max_dose_rate_usv_h": 1234.5678, "dose_usv": 0.012345678, "saturated": 0,
        "alarms": json.dumps([]), "calibration": "sbm20/Cs-137", "clock_synced": 1,
        "clock_implausible": 0}
    row.update(values)
    return row


def change(seq: int, first: str, last: str) -> list[object]:
    return [DEVICE, SITE, ROOM, JOURNAL, seq, 1, "emission", 1, first, last, 3, "edge", None,
            1, 0, last]


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    with TestClient(app):
        pass
    conn = connect(app.state.store_path)
    conn.execute("INSERT INTO devices (device, site, room, journal, acked_upto, online)"
                 " VALUES (?, ?, ?, ?, 0, 1)", [DEVICE, SITE, ROOM, JOURNAL])
    rows = [
        exposure(1, BEFORE, "2026-10-25T00:30:12.345Z"),
        exposure(2, AFTER, None, duration_s=None, max_dose_rate_usv_h=0.16,
                 dose_usv=None, doors_open=json.dumps(["corridor", "control"]),
                 alarms=json.dumps(["unrequested_emission"]), calibration="=cmd|calc"),
        exposure(3, "2026-07-01T10:00:00Z", "2026-07-01T10:00:01Z", duration_s=0.96,
                 max_dose_rate_usv_h=1e308, dose_usv=0.000123456),
    ]
    for row in rows:
        conn.execute(f"INSERT INTO exposures ({', '.join(row)}) VALUES"
                     f" ({', '.join('?' * len(row))})", list(row.values()))
    conn.executemany(f"INSERT INTO changes VALUES ({', '.join('?' * 16)})",
                     [change(1, BEFORE, BEFORE), change(2, AFTER, "2026-10-25T01:30:01.500Z")])
    conn.close()
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        login(c, "viewer")
        yield c


def table(body: bytes, delimiter: str) -> list[dict[str, str]]:
    assert body.startswith(BOM)
    return list(csv.DictReader(io.StringIO(body[len(BOM):].decode("utf-8"), newline=""),
                               delimiter=delimiter))


def test_the_french_exposures_open_in_french_excel(client: TestClient) -> None:
    response = client.get(f"/rooms/{DEVICE}/exposures.csv", headers=FR)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body = response.content
    assert body.startswith(BOM + b"device;journal;run;number;state;start;end;duration_s;")
    assert body.endswith(b"\r\n") and b"," not in body.split(b"\r\n")[0]
    third, first, second = table(body, ";")  # oldest first: July, then the October two
    assert (first["start"], first["end"]) == ("2026-10-25T02:30:00.000+02:00",
                                             "2026-10-25T02:30:12.345+02:00")
    assert second["start"] == "2026-10-25T02:30:00.250+01:00"  # the same wall hour, an hour on
    assert second["end"] == "" and second["duration_s"] == "" and second["dose_usv"] == ""
    assert (first["duration_s"], first["max_dose_rate_usv_h"], first["dose_usv"]) == (
        "12,3", "1230", "0,0123")
    assert second["max_dose_rate_usv_h"] == "0,16"
    assert (third["duration_s"], third["max_dose_rate_usv_h"], third["dose_usv"]) == (
        "1,0", "1,00E+308", "0,000123")
    assert third["start"] == "2026-07-01T12:00:00.000+02:00"
    assert (first["pulses"], first["procedure"], first["requested"]) == ("1200", "7", "1")
    assert second["doors_open"] == "corridor;control"  # quoted in the file: the cell is whole
    assert b'"corridor;control"' in body
    assert second["calibration"] == "'=cmd|calc"  # never a formula
    raw_second = body.split(b"\r\n")[3].decode()
    assert "0,16" in raw_second and "+01:00" in raw_second


def test_the_english_exposures_are_rfc_4180_with_a_bom(client: TestClient) -> None:
    body = client.get(f"/rooms/{DEVICE}/exposures.csv", headers=EN).content
    assert body.startswith(BOM + b"device,journal,run,number,state,start,end,duration_s,")
    third, first, second = table(body, ",")
    assert (first["duration_s"], first["max_dose_rate_usv_h"], first["dose_usv"]) == (
        "12.3", "1230", "0.0123")
    assert second["max_dose_rate_usv_h"] == "0.16" and third["max_dose_rate_usv_h"] == (
        "1.00E+308")
    assert [r["start"] for r in (first, second)] == ["2026-10-25T02:30:00.000+02:00",
                                                     "2026-10-25T02:30:00.250+01:00"]
    assert b";" not in body.split(b"\r\n")[1]  # the separator is the comma only


def test_the_language_follows_the_cookie_over_the_browser(client: TestClient) -> None:
    client.cookies.set("lang", "en")
    body = client.get(f"/rooms/{DEVICE}/exposures.csv", headers=FR).content
    assert body.startswith(BOM + b"device,journal,")


def test_the_changes_carry_their_offsets_across_the_october_change(client: TestClient) -> None:
    body = client.get(f"/rooms/{DEVICE}/changes.csv", headers=FR).content
    assert body.startswith(BOM + b"device;site;room;journal;seq;")
    before, after = table(body, ";")
    assert (before["first"], before["last"], before["stored_at"]) == (
        "2026-10-25T02:30:00.000+02:00",) * 3
    assert (after["first"], after["last"]) == ("2026-10-25T02:30:00.250+01:00",
                                             "2026-10-25T02:30:01.500+01:00")
    assert (after["seq"], after["count"], after["value"]) == ("2", "3", "1")
    english = table(client.get(f"/rooms/{DEVICE}/changes.csv", headers=EN).content, ",")
    assert [r["first"] for r in english] == [before["first"], after["first"]]


def test_the_spring_change_and_the_odd_stored_times() -> None:
    assert csv_export.local_time("2026-03-29T00:59:59.999Z") == "2026-03-29T01:59:59.999+01:00"
    assert csv_export.local_time("2026-03-29T01:00:00Z") == "2026-03-29T03:00:00.000+02:00"
    # no instant, or none in Paris within years 1-9999 or on a whole-minute offset: as stored
    for stored in ("2026-02-30T00:00:00Z", "9999-12-31T23:30:00Z", "1800-01-01T00:00:00Z"):
        assert csv_export.local_time(stored) == stored
    assert csv_export.local_time("-1 day") == "'-1 day"


@pytest.mark.parametrize(("value", "shown"), [
    (0.16, "0.16"), (0.1234, "0.123"), (1234.5, "1230"), (999.5, "1000"), (5.0, "5"),
    (0.0, "0"), (-0.5, "-0.5"), (1e-12, "1.00E-12"), (float("inf"), "inf"),
])
def test_doses_keep_three_significant_digits(value: float, shown: str) -> None:
    assert csv_export.significant(value) == shown
    assert csv_export.cell(value, "dose", ",") == shown.replace(".", ",")


def test_a_negative_number_is_not_taken_for_a_formula() -> None:
    assert csv_export.cell(-2.5, "dose", ",") == "-2,5"
    assert csv_export.cell(-3, None, ".") == "-3"
    assert csv_export.cell("-3", None, ".") == "'-3"
