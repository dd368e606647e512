"""Every page and API route renders whatever the store holds (issue 12, item 5).

One store is filled through the real ingest (:class:`hub.ingest.core.IngestCore`)
with payloads drawn by hypothesis from the contract's own bounds
(tests/contract_strategies.py: a fixed seed, a bounded number of examples),
plus rows an older hub could have written before those bounds (impossible
dates, 1e308, infinities, NaN stored as NULL). Then every route of the app's
route table, so pages added later too, is requested as anonymous, viewer, pcr,
admin and with an API token, its path parameters filled from the stored records
(devices, event and report ids) and with absurd ones, and its query parameters
with extreme values: never a 500, never an exception in the log; a malformed
path or query value answers 422, a well-formed but absent id 404.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hub.db import rollup_series, rollups
from hub.db.connection import connect
from hub.db.store import Store
from hub.reports import preparation, quarters
from hub.reports import quarterly as qr
from hub.reports.points import list_points
from hub.timefmt import iso
from hub.web import annex, live, report_document
from hub.web import report_document as rd
from tests.contract_strategies import ODD_TEXT, record
from tests.hub_factory import DEVICE, JOURNAL, ROOM, SITE, T0, batch, core
from tests.test_errors import modules
from tests.test_web_access import _original, _routes
from tests.web_helpers import ROLES, api_token, clients_by_role, make_app
from wire.contract import ALARMS, EXPOSURES, LIVE, READINGS, STATUS, topic
from wire.kinds import KINDS
from wire.records import AlarmItem, ExposureItem, ReadingItem
from wire.states import Live, Status

#: Examples drawn per kind of message: enough to meet every edge, few enough for a minute.
EXAMPLES = {READINGS: 40, EXPOSURES: 20, ALARMS: 20, STATUS: 6, LIVE: 10}
LEGACY = "legacy.ir9"
#: Ids no store holds (within SQLite's integers) and ids no store can hold.
ABSENT_IDS = ("999999", str(2**63 - 1))
MALFORMED_IDS = ("0", "-1", str(2**63), str(2**64), "9" * 40, "1.5", "abc", "%00")
ABSENT_DEVICES = ("no.such.device", "%E2%80%AE", "x" * 300, "%2e%2e", "%00")
#: Values tried in every query parameter a route reads (declared or not).
ABSURD_QUERY = (
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01", "9999-12-31",
    "2026-02-30", str(2**64), "-1", "nan", "", "\x00\u202e", "x" * 1000, "0000-Q1",
)
#: Query names pages read from ``request.query_params`` without declaring them.
PAGE_QUERY = ("range", "end", "from", "to", "page", "requested", "alarm", "room", "site",
              "quarter", "status", "q", "state", "kind", "esr", "token")
#: Streams never end: their work (change markers) and the rollup job's are checked below.
STREAMS = {"/live/stream"}
#: The routes and ids of each kind of id in a path, for the walk.
ID_TABLES = {"event_id": "events", "report_id": "reports", "point_id": "points",
             "user_id": "users", "token_id": "api_tokens",
             "measurement_id": "report_measurements"}


# -- drawing payloads ----------------------------------------------------------------------


#: The project's packages, every module of which :func:`drawn` imports first.
PACKAGES = ("edge_agent", "firmware_py", "hub", "sim", "wire")


@functools.cache
def every_project_module() -> None:
    """Import every module of the project, once. Hypothesis also draws from the literals of
    the local modules imported so far (``instrument_check`` as a door's name): with all of
    them imported, a worker draws the same examples whatever tests it ran before."""
    for package in PACKAGES:
        modules(package)


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy`` at a fixed seed: the same ones on every run."""
    every_project_module()
    out: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def _kinds() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(sorted(KINDS)), st.from_regex(r"^[a-z_]{1,64}$",
                                                                      fullmatch=True))


def payloads() -> list[tuple[str, bytes]]:
    """Record batches (consecutive sequence numbers, one left out: a gap), states."""
    models = {READINGS: ReadingItem, EXPOSURES: ExposureItem, ALARMS: AlarmItem}
    extra: dict[str, Any] = {ALARMS: {"kind": _kinds()}}
    batches = []
    for kind, model in models.items():
        items = st.lists(record(model, T0, seq=1, **extra.get(kind, {})), min_size=1,
                         max_size=4)
        batches += [(kind, b) for b in drawn(items, EXAMPLES[kind])]
    batches.sort(key=lambda kb: json.dumps(kb[1], sort_keys=True))  # interleave the kinds
    out: list[tuple[str, bytes]] = []
    seq = 1
    for i, (kind, items) in enumerate(batches):
        if i == len(batches) // 2:
            seq += 1  # a record that never comes: a data gap
        for item in items:
            item["seq"], seq = seq, seq + 1
        out.append(batch(kind, items))
    # The states name the room's journal (another would be a new journal: a box restored)
    # and claim no oldest record (one drawn would declare the records below it lost).
    who = {"v": 1, "device": DEVICE, "site": SITE, "room": ROOM}
    for status in drawn(record(Status, T0, journal=JOURNAL, oldest=None, **who),
                        EXAMPLES[STATUS]):
        out.insert(len(out) // 3, (topic(SITE, ROOM, STATUS), json.dumps(status).encode()))
    journals = st.sampled_from([None, JOURNAL])
    for state in drawn(record(Live, T0, journal=journals, **who), EXAMPLES[LIVE]):
        out.insert(len(out) // 2, (topic(SITE, ROOM, LIVE), json.dumps(state).encode()))
    return out


# -- what an older hub could have stored ----------------------------------------------------

BAD_TIMES = ("2026-02-30T10:00:00Z", "2026-01-05T25:00:00Z", "0000-00-00T00:00:00Z",
             "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z", "2026-13-01T00:00:61Z",
             "\uff12\uff10\uff12\uff16-01-05T07:00:40.000Z")  # fullwidth digits: older \d
#: ESR days (declaration, follow-up due and sent, matériovigilance) an older hub stored.
BAD_DAYS = ("9999-12-31", "0001-01-01", "2026-02-30", "\u202e<b>", "9999-12-31T23:59:59Z", "")
HUGE = (1e308, math.inf, 1.7976931348623157e308, 5e-324, None)


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    names = ", ".join(f'"{k}"' for k in row)
    conn.execute(f"INSERT OR REPLACE INTO {table} ({names}) VALUES"
                 f" ({', '.join('?' for _ in row)})", list(row.values()))


def legacy_rows(conn: sqlite3.Connection) -> None:
    """A room written by a hub before the contract's bounds: every time text of the old
    pattern (impossible dates too), floats up to 1e308 and infinity, NaN (stored as NULL)."""
    who = {"device": LEGACY, "site": "legacy", "room": "ir9"}
    journal = "ab" * 16
    _insert(conn, "devices", {**who, "journal": journal, "acked_upto": 20,
                              "last_seen": BAD_TIMES[0], "online": 1, "status_state": "online",
                              "status_at": BAD_TIMES[3], "heartbeat_s": 1e308, "agent": "∞"})
    _insert(conn, "journals", {"device": LEGACY, "journal": journal, "upto": 20,
                               "started_at": "2025-12-01T00:00:00Z"})
    starts = [*BAD_TIMES, "2026-01-05T07:00:00Z", "2026-01-05T07:00:10Z", "2026-02-28T23:59:59Z",
              "2026-01-05T06:59:50Z"]
    for seq, start in enumerate(starts, 1):
        value = HUGE[seq % len(HUGE)]
        _insert(conn, "readings", {**who, "journal": journal, "seq": seq, "run": 1,
                                   "start": start, "end": BAD_TIMES[(seq + 2) % len(BAD_TIMES)],
                                   "counts": 2**63 - 1, "seconds_covered": value, "cpm": value,
                                   "dose_usv": value, "mean_usv_h": value,
                                   "mean_sigma_usv_h": value, "max_usv_h": HUGE[seq % 3],
                                   "max_sigma_usv_h": value, "saturated": 1,
                                   "calibration": ODD_TEXT[seq], "frames": 0, "frames_lost": 0,
                                   "clock_synced": seq % 2})
    for number, at in enumerate(BAD_TIMES, 1):
        common = {**who, "journal": journal, "run": 1, "number": number, "last_seq": number,
                  "first_seen": at, "updated": at}
        _insert(conn, "exposures", {**common, "event": "closed", "state": "closed",
                                    "start": at, "end": BAD_TIMES[-number], "duration_s": 1e308,
                                    "requested": 1, "resumed": 0, "interrupted": 0,
                                    "procedure": 2**63 - 1, "pulses": 2**63 - 1,
                                    "doors_open": json.dumps([ODD_TEXT[number]]),
                                    "max_dose_rate_usv_h": HUGE[number % len(HUGE)],
                                    "dose_usv": math.inf, "alarms": '["dose_rate_high"]'})
        _insert(conn, "alarms", {**common, "event": "raised", "state": "raised",
                                 "kind": "door_open_during_emission", "subject": ODD_TEXT[number],
                                 "at": at, "since": at, "cleared": BAD_TIMES[-number],
                                 "detail": ODD_TEXT[-number]})
        _insert(conn, "events", {**who, "kind": "door_open_during_emission", "ref": f"l:{number}",
                                 "opened_at": at, "condition_cleared_at": BAD_TIMES[-number],
                                 "severity": "critical", "esr": number % 2,
                                 "declaration_due": "2026-02-30" if number % 2 else None,
                                 "declared_at": BAD_DAYS[number // 2] if number % 2 else None,
                                 "followup_due": BAD_DAYS[1 - number] if number > 1 else None,
                                 "followup_at": BAD_DAYS[2] if number == 5 else None,
                                 "materiovigilance_at": BAD_DAYS[number % len(BAD_DAYS)],
                                 "detail": json.dumps({"at": at, "subject": ODD_TEXT[number]})})
        _insert(conn, "signal_changes", {**who, "at": at, "signal": ODD_TEXT[number] or "s",
                                         "value": 1})
    _insert(conn, "live", {**who, "at": BAD_TIMES[1], "payload": json.dumps({
        "inputs": {"door.\u202e": True, "emission": True}, "dose_rate_usv_h": 1e308,
        "alarms": [{"kind": "x", "since": BAD_TIMES[0]}], "outbox": 2**63 - 1,
        "exposure_open": True, "calibration": "<b>"})})


def calendar_rows(conn: sqlite3.Connection) -> None:
    """The verification calendar's rows written by hand or by an older hub: days that are
    none or at the end of time, periods that are no number of months or out of bounds."""
    who = {"site": "legacy", "room": "ir9"}
    by = {"recorded_at": BAD_TIMES[0], "recorded_by": ODD_TEXT[1] or "x"}
    _insert(conn, "control_rooms", {**who, "device_kind": "mobile", "received_on": "garbage",
                                    "first_use_on": "9999-12-31", "use_changed_on": "2026-02-30",
                                    "tracked_since": "\u202e<b>", "upgraded_on": "9999-12-31"})
    for n, day in enumerate(("garbage", *BAD_DAYS)):
        _insert(conn, "control_occasions", {**who, **by, "on_day": day, "note": ODD_TEXT[n],
                                            "kind": ("modification", "maintenance")[n % 2]})
        _insert(conn, "control_records", {**who, **by, "control": "periodic_equipment",
                                          "done_on": day, "result": "not_ok",
                                          "performed_by": ODD_TEXT[n] or "x"})
    for key, fixed, mobile in (("periodic_equipment", "x", None), ("periodic_workplace", 2**63 - 1,
                               -1), ("quality_internal", 1e308, "9"), ("quality_audit", None, 3)):
        _insert(conn, "control_type_settings", {"key": key, "enabled": 1, "period_months": fixed,
                                                "period_months_mobile": mobile,
                                                "updated_at": BAD_TIMES[1], "updated_by": "x"})
    _insert(conn, "control_types", {"key": "odd", "name": ODD_TEXT[2] or "x", "period_months": "x",
                                    "period_months_mobile": 2**63 - 1, "triggers": "{",
                                    "created_at": BAD_TIMES[2], "created_by": "x"})


def chain_rows(conn: sqlite3.Connection) -> None:
    """Input change records, breaks, conflicts and records as received, at their extremes:
    odd text, the largest sequence numbers, times that name no instant, lost ranges whose
    detail has the wrong types."""
    who = {"device": LEGACY, "site": "legacy", "room": "ir9"}
    journal, huge = "ab" * 16, 2**63 - 1
    signals = ["emission", "door.\u202e<b>", "reset", "interlock_open", *ODD_TEXT[1:5]]
    for i, at in enumerate(BAD_TIMES):
        _insert(conn, "changes", {**who, "journal": journal if i % 2 else ODD_TEXT[i] or "j",
                                  "seq": huge - i, "run": huge, "signal": signals[i % len(signals)],
                                  "value": i % 2, "first": at, "last": BAD_TIMES[-1 - i],
                                  "count": (huge, 0, 1, 15, -1)[i % 5],
                                  "origin": ("edge", "start", ODD_TEXT[i] or "x")[i % 3],
                                  "by": ODD_TEXT[-1 - i] if i % 2 else None,
                                  "clock_synced": (None, 0, 1)[i % 3], "clock_implausible": i % 2,
                                  "stored_at": BAD_TIMES[i]})
        _insert(conn, "received", {"device": LEGACY, "journal": journal, "seq": huge - i,
                                   "kind": ("changes", "readings", "quarantined")[i % 3],
                                   "stored_at": at, "hash": ("f" * 64, ODD_TEXT[i], None)[i % 3],
                                   "prev": ("0" * 64, None, "<b>")[i % 3], "body": ODD_TEXT[i]})
        _insert(conn, "chain_breaks", {**who, "journal": journal if i else ODD_TEXT[2],
                                       "seq": (huge, 0, -huge)[i % 3],
                                       "reason": ODD_TEXT[i] or "prev", "found_at": at})
        _insert(conn, "record_conflicts", {**who, "journal": journal, "seq": huge - 2 * i,
                                           "kind": ODD_TEXT[i] or "k", "received_at": at,
                                           "hash": f"{i:064x}", "stored_hash": ODD_TEXT[i],
                                           "body": ODD_TEXT[-1 - i]})
    for seq, body in enumerate((ODD_TEXT[2], "[1]", "null", '{"seq": NaN}'), 1):  # exported
        _insert(conn, "received", {"device": LEGACY, "journal": journal, "seq": seq,
                                   "kind": "readings", "stored_at": BAD_TIMES[seq],
                                   "hash": ODD_TEXT[seq], "prev": None, "body": body})
    for seq, item in enumerate(ODD_TEXT[:8], 5):
        _insert(conn, "quarantine", {**who, "journal": journal, "seq": seq, "kind": item,
                                     "received_at": BAD_TIMES[seq % len(BAD_TIMES)],
                                     "reason": item, "item": item, "counted": 1,
                                     "hash": ODD_TEXT[-seq]})
    for n, detail in enumerate(({"journal": journal, "first": 1, "last": huge, "lost": True},
                                {"journal": ODD_TEXT[3], "first": "1", "lost": True},
                                {"journal": None, "first": huge, "last": -huge, "lost": 1})):
        _insert(conn, "events", {**who, "kind": "data_gap", "ref": f"g:{n}",
                                 "opened_at": BAD_TIMES[n], "severity": "warning",
                                 "detail": json.dumps(detail)})


# -- the store and the app ------------------------------------------------------------------


def fill(tmp_path: Path) -> FastAPI:
    """The app over a store filled by the ingest, then by an older hub, with reports."""
    app = make_app(tmp_path)  # its tables and triggers first, as `voyant-hub run` does
    store = Store.open(tmp_path / "hub.db")
    hub = core(store, now=T0)
    now = T0
    for message in payloads():
        hub.handle_batch([message], now)
        now += 5.0
    hub.tick(now + 86_400)  # the gap and the silence become events
    store.close()
    conn = connect(tmp_path / "hub.db")
    try:
        conn.execute("BEGIN IMMEDIATE")
        legacy_rows(conn)
        chain_rows(conn)
        calendar_rows(conn)
        conn.execute("COMMIT")
        quarter_end = datetime(2026, 4, 2, tzinfo=UTC)
        ids = preparation.prepare_quarter(conn, quarters.parse_quarter("2026-Q1"), quarter_end)
        assert ids, "no report prepared"
        report = qr.get_report(conn, ids[0])
        conn.execute("BEGIN IMMEDIATE")
        qr.sign(conn, ids[0], "Ω <b>", "pcr", quarter_end, rd.render_both,
                report["content_sha256"])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return fill(tmp_path_factory.mktemp("survive"))


@pytest.fixture(scope="module")
def clients(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    with clients_by_role(app, api_token(app, "pcr", "robot")) as out:
        yield out


def _pairs(app: FastAPI, sql: str) -> list[tuple[str, str]]:
    conn = connect(app.state.store_path)
    try:
        return [(str(r[0]), str(r[1])) for r in conn.execute(sql)]
    finally:
        conn.close()


def _stored(app: FastAPI, sql: str) -> list[str]:
    conn = connect(app.state.store_path)
    try:
        return [str(r[0]) for r in conn.execute(sql)]
    finally:
        conn.close()


# -- the walk ---------------------------------------------------------------------------------


def _variants(app: FastAPI, route: Any) -> list[tuple[str, str]]:
    """(path, expectation) for a route: every stored value of its path parameters
    ("ok"), well-formed absent ones ("404") and malformed ones ("422")."""
    names = list(route.param_convertors)
    declared, _ = _queries(route)
    if not names:
        out = [(route.path, "ok")]
        if {"site", "room"} <= set(declared):  # a room chosen by query (the calendar's)
            out += [(f"{route.path}?{urlencode({'site': site, 'room': room})}", "ok")
                    for site, room in _pairs(app, "SELECT site, room FROM devices")]
            out += [(f"{route.path}?site=no&room=such", "ok")]  # a filter: maybe empty
        return out
    out = []
    for name in names:
        stored: list[str] = []
        absent: tuple[str, ...] = ("x",)
        malformed: tuple[str, ...] = ()
        if name == "device":
            stored = _stored(app, "SELECT device FROM devices ORDER BY device")
            absent = ABSENT_DEVICES
        elif name in ID_TABLES or name.endswith("_id"):
            table = ID_TABLES.get(name)
            stored = _stored(app, f"SELECT id FROM {table} ORDER BY id") if table else []
            absent, malformed = ABSENT_IDS, MALFORMED_IDS
        for value, expect in ([(v, "ok") for v in stored] + [(v, "404") for v in absent]
                              + [(v, "422") for v in malformed]):
            out.append((_fill_one(route, name, value), expect))
    return out


def _fill_one(route: Any, name: str, value: str) -> str:
    """The route's path with ``name`` set to ``value`` and every other parameter dummy."""
    path = route.path
    for other in route.param_convertors:
        for pattern in (f"{{{other}}}", f"{{{other}:int}}", f"{{{other}:str}}",
                        f"{{{other}:path}}"):
            path = path.replace(pattern, value if other == name else "1")
    return path


def _queries(route: Any) -> tuple[list[str], list[str]]:
    """The query names a route declares, and those and the ones pages read undeclared."""
    declared, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        declared += [p.alias for p in dependant.query_params]
        stack.extend(dependant.dependencies)
    declared = list(dict.fromkeys(declared))
    return declared, list(dict.fromkeys([*declared, *PAGE_QUERY]))


def _get_routes(app: FastAPI) -> list[Any]:
    out = []
    for route in _routes(app):
        original = _original(route)
        if not hasattr(original, "methods") or route.path in STREAMS:
            continue
        if "GET" in (route.methods or ()):
            out.append(route)
    return out


def _check(role: str, path: str, status: int, expect: str, failures: list[str]) -> None:
    if status >= 500:
        failures.append(f"{role} GET {path[:120]}: {status}")
    elif role in ("anonymous",) or status in (401, 403, 303):
        return
    elif expect in ("404", "422") and str(status) != expect:
        failures.append(f"{role} GET {path[:120]}: {status}, expected {expect}")


def _document_only(html: str) -> bytes:
    """A stand-in for WeasyPrint: the document was made (its HTML is what is checked)."""
    assert isinstance(html, str) and "</html>" in html
    return b"%PDF-1.7 (not printed in this walk)"


def print_first_only(patch: pytest.MonkeyPatch, route: Any, number: int) -> bool:
    """Whether ``route`` is a PDF; if so, from its second variant on (``number``), its
    document is made but not printed: WeasyPrint takes about a second a document, and the
    first stored record's is printed."""
    pdf = str(route.path).endswith(".pdf")
    if pdf and number:
        patch.setattr(annex, "pdf", _document_only)
        patch.setattr(report_document, "render_pdf", _document_only)
    return pdf


def test_every_route_survives_every_stored_record(app: FastAPI, clients: dict[str, TestClient],
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.ERROR)
    routes = _get_routes(app)
    assert len(routes) >= 30, [r.path for r in routes]
    failures: list[str] = []
    walked = 0
    for route in routes:
        for number, (path, expect) in enumerate(_variants(app, route)):
            with monkeypatch.context() as patch:
                # Every stored record's document is made, by one role; the roles' access is
                # the HTML page's, walked.
                pdf = print_first_only(patch, route, number)
                for role in (("admin",) if pdf else ROLES):
                    response = clients[role].get(path, follow_redirects=False)
                    walked += 1
                    _check(role, path, response.status_code, expect, failures)
    assert not failures, f"{len(failures)} of {walked} requests:\n" + "\n".join(failures[:60])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(r.getMessage() for r in errors[:20])


def test_every_query_value_answers_without_a_500(app: FastAPI, clients: dict[str, TestClient],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Each absurd value in every query name at once (a page reads them all), then in each
    declared one alone (FastAPI refuses a request at its first bad declared value)."""
    caplog.set_level(logging.ERROR)
    failures: list[str] = []
    for route in _get_routes(app):
        path = _variants(app, route)[0][0]
        declared, names = _queries(route)
        tries = [dict.fromkeys(names, value) for value in ABSURD_QUERY]
        tries += [{name: value} for name in declared for value in ABSURD_QUERY]
        for params in tries:
            response = clients["admin"].get(path, params=params, follow_redirects=False)
            if response.status_code >= 500:
                failures.append(f"GET {path} {str(params)[:80]}: {response.status_code}")
    assert not failures, "\n".join(failures[:60])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(r.getMessage() for r in errors[:20])


@pytest.mark.parametrize("url,expected", [
    ("/api/events/9223372036854775808", 422), ("/api/reports/18446744073709551616", 422),
    (f"/api/events?offset={2**64}", 422), ("/api/events/999999", 404),
    (f"/api/rooms/{DEVICE}/readings?end=0001-01-01T00:00:00Z", 422),
    (f"/api/rooms/{DEVICE}/readings?end=9999-12-31T23:59:59Z", 422),
    (f"/rooms/{DEVICE}?end=0001-01-01", 422), ("/api/rooms/no.such.device", 404),
])
def test_the_issue_urls(clients: dict[str, TestClient], url: str, expected: int) -> None:
    for role in ("viewer", "token") if url.startswith("/api/") else ("viewer",):
        assert clients[role].get(url, follow_redirects=False).status_code == expected, role


def test_the_extreme_chain_rows_are_shown(clients: dict[str, TestClient]) -> None:
    """The walk met them: the room page lists the odd change records and says broken at
    the lowest sequence number of a break; the CSV and the API carry them too."""
    page = clients["viewer"].get(f"/rooms/{LEGACY}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'data-state="broken"' in page.text
    assert page.text.count('data-testid="change-row"') == len(BAD_TIMES)
    assert f'data-seq="{-(2**63 - 1)}"' in page.text
    csv_text = clients["viewer"].get(f"/rooms/{LEGACY}/changes.csv").text
    assert len(csv_text.splitlines()) == 1 + len(BAD_TIMES) and str(2**63 - 1) in csv_text
    chain = clients["token"].get(f"/api/rooms/{LEGACY}").json()["chain"]
    assert chain["state"] == "broken" and chain["place"]["seq"] == -(2**63 - 1)


def test_the_journal_export_of_extreme_rows_is_json_lines(
        clients: dict[str, TestClient]) -> None:
    """Bodies and quarantined items that are no JSON (or no object) are exported as their
    text: never a 200 with an empty body cut short by a row."""
    answer = clients["viewer"].get(f"/rooms/{LEGACY}/journal.jsonl")
    assert answer.status_code == 200
    lines = [json.loads(line, parse_constant=pytest.fail) for line in answer.text.splitlines()]
    assert lines and all(line["device"] == LEGACY for line in lines)
    records = {line["seq"]: line["record"] for line in lines if "seq" in line}
    assert records[1] == ODD_TEXT[2] and records[2] == [1] and records[6] == ODD_TEXT[1]
    assert records[4] == '{"seq": NaN}'  # strict JSON lines: NaN goes as the text kept


def test_the_live_stream_work_survives(app: FastAPI) -> None:
    """What /live/stream does between its messages (the change markers: reads only), and
    the rollup job's refresh (``hub.jobs``: chunks until complete) over the same store."""
    marks = "SELECT count(*), total(wm) FROM rollup_marks"
    before = _stored(app, marks)
    hub = live.Broadcaster(app.state.store_path)
    assert hub.changes() == []  # the baseline
    hub.changes()
    hub._close()
    assert _stored(app, marks) == before  # the poller wrote nothing
    conn = connect(app.state.store_path)
    try:
        for _ in range(1000):
            if rollups.refresh(conn, limit=rollups.CHUNK).complete:
                break
        assert rollups.refresh(conn) == rollups.Refreshed(0, True)  # nothing left
    finally:
        conn.close()


def test_the_store_holds_what_the_walk_needs(app: FastAPI) -> None:
    """The walk is not vacuous: every kind of record, events and reports are there."""
    for table in ("readings", "exposures", "alarms", "events", "reports", "live"):
        assert _stored(app, f"SELECT count(*) FROM {table} WHERE device = '{DEVICE}'"
                       if table != "reports" else "SELECT count(*) FROM reports")[0] != "0", table
    assert len(list_points(connect(app.state.store_path))) >= 2
    kinds = set(_stored(app, "SELECT DISTINCT kind FROM events"))
    assert {"data_gap", "device_offline"} <= kinds, kinds
    for table in ("control_rooms", "control_occasions", "control_records",
                  "control_type_settings", "control_types"):
        assert _stored(app, f"SELECT count(*) FROM {table}")[0] != "0", table


def _contents(app: FastAPI, skip: frozenset[str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = connect(app.state.store_path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: sorted((tuple(r) for r in conn.execute(f'SELECT * FROM "{t}"')), key=repr)
                for t in tables if t not in skip}
    finally:
        conn.close()


def _pending_readings(app: FastAPI, journal: str) -> None:
    """Readings the rollups do not count yet, inside the charts' windows: a page that
    refreshed the rollups would write them."""
    conn = connect(app.state.store_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        _insert(conn, "journals", {"device": DEVICE, "journal": journal, "upto": 30,
                                   "started_at": "2026-01-05T00:00:00Z"})
        for seq in range(1, 31):
            start = datetime.now(UTC) - timedelta(minutes=40 - seq)
            _insert(conn, "readings", {
                "device": DEVICE, "site": SITE, "room": ROOM, "journal": journal, "seq": seq,
                "run": 1, "start": iso(start.timestamp()),
                "end": iso(start.timestamp() + 10), "counts": 5, "seconds_covered": 10.0,
                "cpm": 30.0, "dose_usv": 0.001, "mean_usv_h": 0.2, "mean_sigma_usv_h": 0.01,
                "max_usv_h": 0.3, "max_sigma_usv_h": 0.01, "saturated": 0,
                "calibration": "sbm20/Cs-137", "frames": 10, "frames_lost": 0,
                "clock_synced": 1})
        conn.execute("COMMIT")
        assert rollup_series.pending_since(conn, DEVICE) is not None
    finally:
        conn.close()


def _walk_changes(app: FastAPI, clients: dict[str, TestClient], part: str = "/"
                  ) -> tuple[list[str], int]:
    """The tables a walk of every GET route changed (as pcr, admin and a token), and how
    many answers were 200; ``part``: only the routes whose path holds it."""
    skip = frozenset({"sessions"})  # the session's own bookkeeping: its last use
    before = _contents(app, skip)
    ok = 0
    for route in [r for r in _get_routes(app) if part in str(r.path)]:
        for path, _ in _variants(app, route)[:3]:
            for role in ("pcr", "admin", "token"):
                ok += clients[role].get(path, follow_redirects=False).status_code == 200
    after = _contents(app, skip)
    assert before.keys() == after.keys()
    return [t for t in before if before[t] != after[t]], ok


def test_no_get_writes_the_store(app: FastAPI, clients: dict[str, TestClient]) -> None:
    """GETs read (issue 13): the rollups are the job's, never a page's, even with readings
    waiting to be counted."""
    _pending_readings(app, "cd" * 16)
    changed, ok = _walk_changes(app, clients)
    assert not changed, changed
    assert ok >= 100, ok  # the pages were served, not refused


def test_the_no_write_walk_sees_a_page_that_writes(
        app: FastAPI, clients: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a chart that refreshed the rollups, as a GET of the room
    page did before issue 13, is caught."""
    _pending_readings(app, "ef" * 16)
    real = rollup_series.series

    def refreshing(conn: sqlite3.Connection, *args: Any, **kwargs: Any) -> Any:
        rollups.refresh(conn)
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(rollup_series, "series", refreshing)
    changed, _ = _walk_changes(app, clients, "/rooms/")  # the charts' routes: a walk's cost
    assert {"rollup_minute", "rollup_marks"} <= set(changed), changed


def test_a_body_holding_nan_or_infinity_is_refused_not_a_500(
        app: FastAPI, clients: dict[str, TestClient], caplog: pytest.LogCaptureFixture) -> None:
    """Python's JSON parser reads ``NaN`` and ``Infinity``; JSON has neither. Quoted back
    in FastAPI's 422, they made the answer itself fail: every JSON route of the API is sent
    them, in every field its body declares and in one it does not."""
    caplog.set_level(logging.ERROR)
    failures, sent = [], 0
    for route in _routes(app):
        methods = set(getattr(_original(route), "methods", None) or ()) - {"GET", "HEAD"}
        if not route.path.startswith("/api/") or not methods:
            continue
        path = _variants(app, route)[0][0]
        body = route.dependant.body_params
        fields = [name for p in body
                  for name in getattr(p.field_info.annotation, "model_fields", {})] or ["x"]
        for value in ("NaN", "Infinity", "-Infinity"):
            text = "{" + ", ".join(f'"{name}": {value}' for name in [*fields, "extra"]) + "}"
            for method in sorted(methods):
                response = clients["token"].request(
                    method, path, content=text, headers={"content-type": "application/json"})
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{method} {path} {text[:60]}: {response.status_code}")
    assert sent >= 20 and not failures, "\n".join(failures[:40])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(r.getMessage() for r in errors[:20])
