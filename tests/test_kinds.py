"""The vocabulary of kinds (wire/kinds.py) is the one list: every kind raised anywhere is in it,
and the rule table, the hub and the page read it."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge_agent.journal_hold import AGENT_ALARM_KINDS
from edge_agent.monitor.rules import RULES, After, FluoroscopyTime
from hub.controls import overdue as controls
from hub.db.store import Store
from tests.web_helpers import login, make_app
from wire.kinds import ALARM_KINDS, KINDS, SEVERITIES, label, severity

ROOT = Path(__file__).resolve().parent.parent
#: Where the hub names the kind of an event it opens.
HUB_RAISES = re.compile(r"""(?:open_event|count_event|severity)\(\s*["']([a-z_]+)["']""")


def raised_by(who: str) -> set[str]:
    return {kind for kind, known in KINDS.items() if known.by == who}


def hub_raises() -> set[str]:
    """Every kind the hub's code opens an event of: the literal kinds of its event openers
    and severity lookups, and the calendar's kinds."""
    found = set(controls.KINDS)
    for path in sorted((ROOT / "hub").rglob("*.py")):
        found |= set(HUB_RAISES.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_rule_is_one_kind_of_the_vocabulary() -> None:
    kinds = [rule.kind for rule in RULES]
    assert len(kinds) == len(set(kinds)), "a kind has two entries in the rule table"
    assert set(kinds) == set(ALARM_KINDS) == raised_by("monitor")


def test_the_graces_name_keys_of_the_rules_table() -> None:
    from edge_agent.config import Rules

    for rule in RULES:
        if isinstance(rule.grace, After | FluoroscopyTime):
            assert rule.grace.key in Rules.model_fields, rule.kind


def test_the_agents_own_alarms_are_in_the_vocabulary() -> None:
    assert set(AGENT_ALARM_KINDS) == raised_by("agent")


def test_every_kind_the_hub_raises_is_in_the_vocabulary() -> None:
    found = hub_raises()
    assert {"device_offline", "data_gap", "record_quarantined", "ack_stalled",
            "journal_new"} <= found  # the scan itself finds the ingest's kinds
    assert found == raised_by("hub")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_described_whole(kind: str) -> None:
    known = KINDS[kind]
    assert known.severity in SEVERITIES and known.about in ("radiation", "system")
    assert known.fr.strip() and known.en.strip() and known.fr != known.en
    assert severity(kind) == known.severity
    assert (label(kind, "fr"), label(kind, "en")) == (known.fr, known.en)


def test_the_names_are_distinct_in_each_language() -> None:
    for lang in ("fr", "en"):
        names = [label(kind, lang) for kind in KINDS]
        assert len(names) == len(set(names)), lang


def test_a_kind_the_hub_does_not_know_is_a_warning_under_its_code() -> None:
    assert severity("newer_kind") == "warning"
    assert label("newer_kind", "fr") == label("newer_kind", "en") == "newer_kind"


def test_the_critical_kinds_are_about_radiation() -> None:
    for kind, known in KINDS.items():
        if known.severity == "critical":
            assert known.about == "radiation", kind


def test_the_page_shows_the_vocabularys_name_in_each_language(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    store = Store.open(app.state.store_path)
    try:
        with store.transaction():
            for number, kind in enumerate(KINDS, start=1):
                store.alarm_event(kind, "chu.salle-1", "chu", "salle-1", f"j:1:{number}",
                                  "2026-01-05T07:00:06.000Z", {"subject": None},
                                  severity(kind), None, "2026-01-05T07:00:06.000Z")
    finally:
        store.close()
    with TestClient(app) as client:
        login(client, "viewer")
        for lang in ("fr", "en"):
            page = client.get("/events", headers={"Accept-Language": lang}).text
            cells = re.findall(r'data-kind="([a-z_]+)".*?<td>.*?</td>\s*<td>([^<(]*)',
                               page, re.S)
            shown = {kind: html.unescape(text).strip() for kind, text in cells}
            assert shown == {kind: label(kind, lang) for kind in KINDS}, lang
