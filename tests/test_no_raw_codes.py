"""No raw code where a French reader reads (issue 16, item 3).

The store of tests/test_pages_survive.py (the real ingest, an older hub's rows, the
calendar's, a signed report) plus one audit row of every action the hub records;
every GET route of the app's own table that answers HTML is rendered in French for an
admin, and its visible text (no tag, attribute, script or style) must not hold a code
of the project's vocabulary: an event kind (``unsolicited_emission``), an audit action
(``event.qualify-esr``), an input's key (``light.emission``), a verification type
(``ambient_internal``), a zone, a role, ``True``/``False``/``None``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.controls.types import BUILTIN, LEGACY, OPTIONAL
from hub.db.connection import connect, write
from hub.reports.points import THRESHOLD_LABELS, ZONE_CODES
from hub.web import audit
from hub.web.audit_words import ACTION_LABELS
from hub.web.auth import ROLES
from hub.web.changes import SIGNAL_LABELS
from tests.test_pages_survive import _get_routes, _variants, fill
from tests.test_web_access import _original, _routes
from tests.web_helpers import login
from wire.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]
#: A time as the store keeps it (``2026-01-16T12:00:00.000Z``), which no page shows when it
#: is a real one (a stored text that is no time, the extreme store's, is shown as written).
STORED_TIME: Final = re.compile(r"\b(20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}"
                                r"(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:[0-9]{2}))")


def stored_time(text: str) -> str | None:
    """The first stored, valid UTC time in ``text``."""
    for match in STORED_TIME.finditer(text):
        try:
            datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        except ValueError:
            continue
        return match.group(1)
    return None
#: Pages that are no reader's (files, streams) are left out by their content type.
SKIPPED_SUFFIXES = (".pdf", ".csv", ".ics", ".jsonl")


def _third_argument(text: str) -> str:
    """The third argument of the call whose arguments start ``text`` (commas in brackets
    are not separators)."""
    depth, args, start = 0, [], 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
            if len(args) == 3:
                break
    return args[2] if len(args) == 3 else ""


def recorded_actions(event_actions: set[str]) -> set[str]:
    """The audit actions the hub's code writes; ``f"event.{action}"`` stands for each of
    ``event_actions``."""
    found: set[str] = set()
    for path in (ROOT / "hub").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"audit\.record\(", text):
            for literal in re.findall(r'"([^"]*)"', _third_argument(text[match.end():])):
                if literal == "event.{action}":
                    found.update(f"event.{a}" for a in event_actions)
                else:
                    found.add(literal)
    return found


def vocabulary() -> set[str]:
    codes = {*KINDS, *SIGNAL_LABELS, *ZONE_CODES, *THRESHOLD_LABELS, *ACTION_LABELS,
             *(t.key for t in (*BUILTIN, *OPTIONAL, *LEGACY)), *ROLES,
             "True", "False", "None"}
    # A key that is a plain English word (``emission``, ``supervised``) is left out: a
    # door's name drawn by the store's generator may say it.
    return {c for c in codes if "_" in c or "." in c or c in (*ROLES, "True", "False", "None")}


def device_names(store: Path) -> set[str]:
    """The names the store's devices gave their doors (the subjects of their alarms, the
    doors open during their exposures): data, which the pages show as sent.

    The store's records are drawn by hypothesis, which draws strings from the literals of
    the project's own modules: any change to the code may redraw them, and a door may be
    named ``instrument_check`` (seen). Such a name is no raw code, and the pages cannot be
    told from the hub's own words where it is shown: a code that is also a name the
    store's devices gave is not searched for (the price of a store drawn from the project's
    literals; the test prints those codes, one or two at a time)."""
    conn = sqlite3.connect(store)
    try:
        names = {subject for (subject,) in conn.execute("SELECT subject FROM alarms")
                 if isinstance(subject, str)}
        for (doors,) in conn.execute("SELECT doors_open FROM exposures"):
            try:
                value = json.loads(doors) if isinstance(doors, str) else None
            except ValueError:
                continue
            if isinstance(value, list):
                names |= {door for door in value if isinstance(door, str)}
    finally:
        conn.close()
    return names


class _Visible(HTMLParser):
    """The text a reader sees: no tag, attribute, script, style or template."""

    HIDDEN: Final = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


def raw_codes(text: str, codes: set[str]) -> dict[str, str]:
    """The codes of ``codes`` standing alone in ``text`` (not inside a longer word or
    code), each with the words around its first sight."""
    found = {}
    for code in codes:
        seen = re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w-]|\.\w)", text)
        if seen:
            found[code] = " ".join(text[max(seen.start() - 60, 0):seen.end() + 20].split())
    return found


def _audit_every_action(app: FastAPI) -> None:
    conn: sqlite3.Connection = connect(app.state.store_path)
    try:
        with write(conn):
            for action in sorted(ACTION_LABELS):
                audit.record(conn, "claire", action, "event:1",
                             {"esr": True, "kind": "unsolicited_emission", "note": None,
                              "role": "pcr", "state": "acknowledged",
                              "change": {"enabled": False}})
            # a verification recorded, as the calendar's form records it
            audit.record(conn, "claire", "control.record", "control:chu/bloc1/instrument_check",
                         {"control": "instrument_check", "result": "not_ok", "status": "overdue",
                          "done_on": "2026-11-16", "next_due": "2027-11-16", "point_id": None,
                          "document_ref": "RV-1", "performed_by": "Claire Moreau (CRP)"})
    finally:
        conn.close()


@pytest.fixture(scope="module")
def french_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = fill(tmp_path_factory.mktemp("codes"))
    _audit_every_action(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        login(client, "admin", "claire")  # a username no code: "admin" is a role's key
        client.cookies.set("lang", "fr")
        yield client


def test_every_recorded_action_has_words(french_admin: TestClient) -> None:
    """Each action the code records (the event actions: the event page's forms) has its
    sentence, so that the audit page never shows a dotted code."""
    app = french_admin.app
    assert isinstance(app, FastAPI)
    forms = {route.path.rsplit("/", 1)[1] for route in _routes(app)
             if getattr(route, "path", "").startswith("/events/{event_id}/")
             and "POST" in (getattr(_original(route), "methods", None) or ())}
    actions = recorded_actions(forms)
    assert {"report.sign", "user.create", "login.failure", "logout", "event.qualify-esr",
            "event.materiovigilance"} <= actions, sorted(actions)
    assert not actions - set(ACTION_LABELS), sorted(actions - set(ACTION_LABELS))


def test_the_detector_sees_a_code() -> None:
    codes = vocabulary()
    text = visible_text('<p title="data_gap">Porte <b>data_gap</b> · esr: True<script>'
                        "probe_fault</script> event.qualify-esr.</p>")
    assert set(raw_codes(text, codes)) == {"data_gap", "True", "event.qualify-esr"}
    assert raw_codes("voyant-data_gap_x event.qualify-esr-2 ambient_internals", codes) == {}


def test_no_raw_code_on_any_french_page(french_admin: TestClient) -> None:
    app = french_admin.app
    assert isinstance(app, FastAPI)
    codes = vocabulary()
    named = codes & device_names(app.state.store_path)
    print(f"\ncodes the store's devices gave as names, not searched for: {sorted(named)}")
    codes, failures, seen = codes - named, [], 0
    for route in _get_routes(app):
        if route.path.startswith("/api") or route.path.endswith(SKIPPED_SUFFIXES):
            continue
        for path, expect in _variants(app, route):
            if expect != "ok":
                continue
            response = french_admin.get(path)
            if response.status_code >= 500:
                failures.append(f"{path}: {response.status_code}")
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            seen += 1
            text = visible_text(response.text)
            found = raw_codes(text, codes)
            if found:
                failures += [f"{path}: {code!r} in «{context}»" for code, context in found.items()]
            stored = stored_time(text)  # a reader reads Paris time, never the store's
            if stored:
                failures.append(f"{path}: stored UTC time {stored!r}")
    assert seen > 15, seen
    assert not failures, "\n".join(failures)
