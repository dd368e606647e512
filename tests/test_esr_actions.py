"""The ESR's criterion, its withdrawal, the matériovigilance flag, and the criteria list as
the site's data (hub/events/esr.py, hub/events/criteria.py, hub/config.py)."""

from __future__ import annotations

import re
import sqlite3
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.events import criteria, esr
from hub.events import workflow as ev
from tests.hub_factory import DEVICE, ROOM, SITE
from wire.errors import ConfigError

DETECTED = "2026-01-05T07:00:06.000Z"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def conn(tmp_path: Path, store: Store) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "hub.db")
    yield c
    c.close()


@pytest.fixture
def event_id(store: Store) -> int:
    with store.transaction():
        return store.alarm_event("unsolicited_emission", DEVICE, SITE, ROOM, "j:1:1", DETECTED,
                                 {"subject": None}, "critical", None, DETECTED)


def _actions(conn: sqlite3.Connection, event_id: int) -> list[str]:
    return [n["action"] for n in ev.notes(conn, event_id)]


# -- the criterion --------------------------------------------------------------------------


def test_the_packaged_list_has_its_version_and_short_labels() -> None:
    listed = criteria.packaged()
    assert "guide ASN n° 11" in listed.version
    assert len(listed.items) >= 6 and len(set(listed.codes())) == len(listed.items)
    assert all(len(c.label_fr) <= 100 and len(c.label_en) <= 100 for c in listed.items)
    assert listed.get("6") is not None and listed.get("99") is None


def test_the_packaged_list_is_in_the_wheel() -> None:
    """A fresh install reads the packaged list: pyproject ships the hub's TOML data."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = project["tool"]["setuptools"]["package-data"]["hub"]
    assert "events/*.toml" in shipped


def test_qualifying_names_one_criterion_of_the_list_in_force(
    conn: sqlite3.Connection, event_id: int
) -> None:
    site = criteria.Criteria("site list 2026-02", (criteria.Criterion("S1", "a", "a"),))
    for code in ("", "  ", "9.9", "6"):  # "6" is in the packaged list, not the site's
        with pytest.raises(ev.EventError) as caught, write(conn):
            esr.qualify_esr(conn, event_id, "pcr", "why", NOW, criterion=code, criteria=site)
        assert caught.value.field == "criterion"
        assert caught.value.params == {"version": "site list 2026-02"}
    assert _actions(conn, event_id) == []
    with write(conn):
        done = esr.qualify_esr(conn, event_id, "pcr", "why", NOW, criterion=" S1 ",
                               criteria=site)
    assert (done["criterion"], done["criteria_version"]) == ("S1", "site list 2026-02")
    event = ev.get_event(conn, event_id, TODAY)
    assert (event["esr_criterion"], event["esr_criteria_version"]) == ("S1",
                                                                       "site list 2026-02")
    assert event["notes"][-1]["comment"] == "S1: why"


# -- unqualifying ---------------------------------------------------------------------------


def test_a_wrongly_qualified_esr_is_unqualified_then_closed(
    conn: sqlite3.Connection, event_id: int
) -> None:
    with pytest.raises(ev.EventError) as caught, write(conn):
        esr.unqualify_esr(conn, event_id, "pcr", "not one", NOW)
    assert caught.value.field == "esr"  # not an ESR
    with write(conn):
        esr.qualify_esr(conn, event_id, "pcr", "looked like one", NOW, criterion="6")
    with pytest.raises(ev.EventError) as caught, write(conn):
        ev.close(conn, event_id, "pcr", "done", NOW)
    assert caught.value.field == "esr" and "unqualify" in caught.value.message
    for reason in ("", "   ", "x" * (esr.REASON_MAX + 1)):
        with pytest.raises(ev.EventError) as caught, write(conn):
            esr.unqualify_esr(conn, event_id, "pcr", reason, NOW)
        assert caught.value.field == "reason"
    with write(conn):
        done = esr.unqualify_esr(conn, event_id, "pcr", " a test of the generator ", NOW)
    assert done == {"esr": False, "reason": "a test of the generator", "was_criterion": "6",
                    "was_due": "2026-01-07"}
    event = ev.get_event(conn, event_id, TODAY)
    assert (event["esr"], event["declaration_due"], event["esr_criterion"],
            event["due_status"]) == (False, None, None, None)
    with write(conn):
        ev.close(conn, event_id, "pcr", "a test, not an event", NOW)
    assert ev.get_event(conn, event_id, TODAY)["state"] == "closed"
    assert _actions(conn, event_id) == ["qualify_esr", "unqualify_esr", "close"]
    assert ev.notes(conn, event_id)[1]["comment"] == "a test of the generator"


def test_a_declared_esr_is_never_unqualified(conn: sqlite3.Connection, event_id: int) -> None:
    with write(conn):
        esr.qualify_esr(conn, event_id, "pcr", "significant", NOW, criterion="6")
        esr.declare(conn, event_id, "pcr", TODAY, "ESNR-1", "", NOW)
    with pytest.raises(ev.EventError) as caught, write(conn):
        esr.unqualify_esr(conn, event_id, "pcr", "changed my mind", NOW)
    assert caught.value.field == "esr" and "outcome" in caught.value.message
    assert ev.get_event(conn, event_id, TODAY)["esr"] is True


# -- matériovigilance -----------------------------------------------------------------------


def test_the_materiovigilance_flag_has_its_date_and_reference(
    conn: sqlite3.Connection, event_id: int
) -> None:
    bad = [(date(2026, 1, 6), "R-1", "reported_on"),  # tomorrow
           (date(2026, 1, 4), "R-1", "reported_on"),  # before the detection
           (TODAY, "R" * 65, "reference"),
           (TODAY, "<script>", "reference")]
    for reported_on, reference, field in bad:
        with pytest.raises(ev.EventError) as caught, write(conn):
            esr.record_materiovigilance(conn, event_id, "pcr", reported_on, reference, "", NOW)
        assert caught.value.field == field
    assert ev.get_event(conn, event_id, TODAY)["materiovigilance_at"] is None
    with write(conn):
        done = esr.record_materiovigilance(conn, event_id, "pcr", TODAY, " R2601234 ",
                                           "C-arm emitted on its own", NOW)
    assert done == {"materiovigilance_at": "2026-01-05", "materiovigilance_ref": "R2601234",
                    "comment": "C-arm emitted on its own"}
    event = ev.get_event(conn, event_id, TODAY)
    assert (event["materiovigilance_at"], event["materiovigilance_ref"], event["esr"],
            event["state"]) == ("2026-01-05", "R2601234", False, "open")
    assert event["notes"][-1]["action"] == "materiovigilance"
    with pytest.raises(ev.EventError, match="already recorded"), write(conn):
        esr.record_materiovigilance(conn, event_id, "pcr", TODAY, "R2", "", NOW)


# -- the site's own list --------------------------------------------------------------------


def test_a_site_list_is_read_and_every_mistake_named(tmp_path: Path) -> None:
    good = tmp_path / "criteria.toml"
    good.write_text('version = "guide ASN n° 11, site 2026"\n[[criteria]]\ncode = "6"\n'
                    'label_fr = "Autre"\nlabel_en = "Other"\n', encoding="utf-8")
    config = parse_config({"events": {"esr_criteria_file": str(good), "followup_months": 3}})
    assert criteria.in_force(config.events.esr_criteria_file).version == (
        "guide ASN n° 11, site 2026")
    assert config.events.followup_months == 3
    bad = tmp_path / "bad.toml"
    bad.write_text('verson = "x"\n[[criteria]]\ncode = "a b"\nlabel_fr = ""\n'
                   'label_en = "Other"\nnote = 1\n[[criteria]]\ncode = "6"\n'
                   'label_fr = "Autre"\nlabel_en = "Other"\n[[criteria]]\ncode = "6"\n'
                   f'label_fr = "{"x" * 201}"\nlabel_en = "Other"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        parse_config({"events": {"esr_criteria_file": str(bad)}}, "hub.toml")
    text = str(caught.value)
    for mistake in ("verson: unknown key", "version: a non-empty text is required",
                    "criteria[1].note: unknown key", "criteria[1].code: 1 to 16",
                    "criteria[1].label_fr: a non-empty text", "criteria[3].code: '6' is listed"
                    " twice", "criteria[3].label_fr: at most 200 characters"):
        assert mistake in text, text
    assert "events.esr_criteria_file" in text and str(bad) in text


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot be read"),
    ("version = ", "not a TOML file"),
    ('version = "v"\n', "at least one [[criteria]]"),
    ('version = "v"\ncriteria = [1]\n', "a table (code, label_fr, label_en) is expected"),
])
def test_a_broken_site_list_stops_the_start(tmp_path: Path, content: str | None,
                                            expected: str) -> None:
    path = tmp_path / "criteria.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        parse_config({"events": {"esr_criteria_file": str(path)}})


@pytest.mark.parametrize("months", [0, 13, "two"])
def test_the_follow_up_delay_is_bounded(months: object) -> None:
    with pytest.raises(ConfigError, match=r"events\.followup_months"):
        parse_config({"events": {"followup_months": months}})
