"""The operators named by the RDSRs (#17 item 6), in memory: off by default (nothing
stored, shown or flagged), names stored from a built RDSR once on, the register matched
by DICOM PN forms, trainings lapsed at 3 years + 1 day and per profession, unknown names
flagged only when a name is present, once per (emission, person)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from io import BytesIO

import pydicom
import pytest

from hub.db import migrations
from hub.db.connection import connect, write
from hub.rdsr import operators_register as register
from hub.rdsr import operators_settings as settings
from hub.rdsr.operators_flags import add_months, flag, lapsed
from hub.rdsr.operators_names import id_key, name_key
from hub.rdsr.operators_settings import OperatorError
from hub.rdsr.operators_store import Named, for_exposures
from hub.rdsr.store import store_bytes
from hub.web.auth import User
from tests import rdsr_builder as b

ADMIN = User(1, "admin", "admin", "Admin")
DEVICE, SITE, ROOM, JOURNAL = "chu.salle-3", "chu", "salle-3", "j-1"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: The reconciliation's table as issue 17 item 4 defines it (step 8 makes it; here too,
#: should this test run without it).
MATCHES = ("CREATE TABLE IF NOT EXISTS rdsr_matches (device TEXT NOT NULL, journal TEXT"
           " NOT NULL, run INTEGER NOT NULL, number INTEGER NOT NULL, irradiation_event_uid"
           " TEXT NOT NULL, PRIMARY KEY (device, journal, run, number, irradiation_event_uid))")


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = connect(":memory:")
    migrations.migrate(c)
    c.execute(MATCHES)
    try:
        yield c
    finally:
        c.close()


def rdsr(*people: pydicom.Dataset, start: str = "20260115093000", uid: str = "1.2.3.4") -> bytes:
    """A report of one event at ``start`` (UTC) naming ``people``."""
    out = BytesIO()
    b.report(b.event(start, *people, uid=uid), tz_offset="+0000").save_as(
        out, enforce_file_format=True)
    return out.getvalue()


def emission(conn: sqlite3.Connection, number: int, start: str, uid: str = "1.2.3.4") -> None:
    """An emission of the box, matched to irradiation event ``uid``."""
    conn.execute("INSERT INTO exposures (device, site, room, journal, run, number, state,"
                 " start, \"end\", clock_implausible) VALUES (?, ?, ?, ?, 1, ?, 'closed', ?,"
                 " ?, 0)", [DEVICE, SITE, ROOM, JOURNAL, number, start, start])
    conn.execute("INSERT INTO rdsr_matches VALUES (?, ?, 1, ?, ?)", [DEVICE, JOURNAL, number, uid])


def turn_on(conn: sqlite3.Connection) -> None:
    assert settings.enable(conn, "yes", ADMIN)


def add(conn: sqlite3.Connection, name: str, profession: str = "Médecin", workers: str = "",
        patients: str = "", forms: str = "", ids: str = "") -> int:
    pid = next(p.id for p in settings.professions(conn) if p.name == profession)
    form = register.parse_form(conn, name, str(pid), workers, patients, forms, ids,
                               today=date(2026, 6, 1))
    return register.save(conn, "", form, ADMIN)


def events(conn: sqlite3.Connection) -> list[tuple[str, str, dict[str, object]]]:
    return [(str(k), str(s), json.loads(d)) for k, s, d in conn.execute(
        "SELECT kind, severity, detail FROM events ORDER BY id")]


def audit(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(str(a), str(t)) for a, t in conn.execute("SELECT action, target FROM audit"
                                                       " ORDER BY id")]


def test_names_reduce_to_one_key_whatever_the_form() -> None:
    assert name_key("MARTIN^Paul") == name_key("Paul MARTIN") == name_key(" martin  paul ")
    assert name_key("DUPONT-DURAND^Hélène") == name_key("Hélène Dupont Durand") == (
        "dupont durand helene")
    assert name_key("MÜLLER^Jürgen=ミュラー") == name_key("jurgen muller")
    assert name_key("MARTIN^Paul^^Dr") != name_key("Paul MARTIN")
    assert name_key("^^") == name_key("") == ""
    assert id_key(" RPPS 1234 ") == id_key("rpps1234")


def test_off_by_default_nothing_stored_shown_nor_flagged(conn: sqlite3.Connection) -> None:
    assert not settings.enabled(conn)
    assert store_bytes(conn, rdsr(b.operator("MARTIN^Paul")), "peer").status == "stored"
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    assert conn.execute("SELECT count(*) FROM rdsr_event_operators").fetchone()[0] == 0
    assert for_exposures(conn, DEVICE, [(JOURNAL, 1, 1)]) is None
    assert flag(conn, NOW) == 0 and events(conn) == []
    with pytest.raises(OperatorError) as refused:
        add(conn, "Paul Martin")
    assert refused.value.field == "operator"


def test_turning_on_needs_the_cse_confirmation_and_is_audited(conn: sqlite3.Connection) -> None:
    for sent in ("", "no", "on", "yes "):
        with pytest.raises(OperatorError) as refused:
            settings.enable(conn, sent, ADMIN)
        assert refused.value.field == "cse_consulted"
    assert not settings.enabled(conn) and audit(conn) == []
    turn_on(conn)
    assert not settings.enable(conn, "yes", ADMIN)  # already on: no second row
    detail = conn.execute("SELECT detail FROM audit").fetchone()[0]
    assert audit(conn) == [("operators.enable", "")]
    assert json.loads(detail) == {"cse_consulted": True}


def test_on_names_are_stored_and_turning_off_deletes_them(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    raw = rdsr(b.operator("MARTIN^Paul", person_id="RPPS-1"),
               b.operator("DURAND^Anne", role="113850"))
    assert store_bytes(conn, raw, "peer").status == "stored"
    assert [tuple(r) for r in conn.execute(
        "SELECT irradiation_event_uid, n, name, name_key, role, person_id"
        " FROM rdsr_event_operators ORDER BY n")] == [
        ("1.2.3.4", 0, "MARTIN Paul", "martin paul", "irradiation_administering", "RPPS-1"),
        ("1.2.3.4", 1, "DURAND Anne", "anne durand", "irradiation_authorizing", None)]
    assert store_bytes(conn, raw, "peer").status == "already_stored"
    assert conn.execute("SELECT count(*) FROM rdsr_event_operators").fetchone()[0] == 2
    assert settings.disable(conn, ADMIN) == 2
    assert conn.execute("SELECT count(*) FROM rdsr_event_operators").fetchone()[0] == 0
    assert audit(conn)[-1] == ("operators.disable", "")
    assert settings.disable(conn, ADMIN) is None and len(audit(conn)) == 2


def test_an_emission_carries_its_matched_events_operators(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    add(conn, "Paul Martin", forms="MARTIN^Paul", workers="2025-01-01", patients="2025-01-01")
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul"), b.operator("LEROY^Marc")), "peer")
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    emission(conn, 2, "2026-01-15T10:30:01.000Z", uid="9.9")  # no RDSR event of that UID
    shown = for_exposures(conn, DEVICE, [(JOURNAL, 1, 1), (JOURNAL, 1, 2)])
    assert shown == {(JOURNAL, 1, 1): [Named("Paul Martin", True), Named("LEROY Marc", False)]}


def test_register_changes_are_audited_and_identifiers_belong_to_one_person(
        conn: sqlite3.Connection) -> None:
    turn_on(conn)
    paul = add(conn, "Paul MARTIN", forms="MARTIN^Paul\nMARTIN^Paul^^Dr", ids="RPPS 1")
    [entry] = register.listing(conn)
    assert (entry.name, entry.name_forms, entry.other_ids) == (
        "Paul MARTIN", ("MARTIN^Paul", "MARTIN^Paul^^Dr"), ("RPPS 1",))
    for kwargs, field in (({"name": "paul martin"}, "name"),
                          ({"name": "Anne Durand", "forms": "Martin Paul"}, "name_forms"),
                          ({"name": "Anne Durand", "ids": "rpps1"}, "other_ids")):
        with pytest.raises(OperatorError) as refused:
            add(conn, **kwargs)
        assert refused.value.field == field and "Paul MARTIN" in str(refused.value)
    pid = entry.profession_id
    changed = register.parse_form(conn, "Paul Martin", str(pid), "2024-03-01", "", "MARTIN^Paul",
                                  "", today=date(2026, 6, 1))
    register.save(conn, str(paul), changed, ADMIN)
    assert register.find(conn, "MARTIN Paul", None) is not None
    assert register.find(conn, "MARTIN Paul Dr", None) is None  # that form was removed
    assert register.find(conn, "someone else", "RPPS 1") is None
    register.delete(conn, str(paul), ADMIN)
    assert register.listing(conn) == [] and register.find(conn, "MARTIN Paul", None) is None
    assert [a for a, _t in audit(conn)] == ["operators.enable", "operator.create",
                                            "operator.update", "operator.delete"]
    assert audit(conn)[1][1] == f"operator:{paul}"


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": "Paul\x00"}, "name"),
    ({"name": "^^-"}, "name"), ({"profession": "1 OR 1"}, "profession"),
    ({"profession": "999"}, "profession"), ({"workers_on": "2026-13-01"}, "workers_on"),
    ({"workers_on": "01/02/2025"}, "workers_on"), ({"patients_on": "2026-06-02"}, "patients_on"),
    ({"patients_on": "1900-01-01"}, "patients_on"), ({"name_forms": "a\n" * 21}, "name_forms"),
    ({"name_forms": "MARTIN\x1b^Paul"}, "name_forms"), ({"other_ids": "9" * 201}, "other_ids"),
])
def test_hostile_fields_are_refused_naming_the_field(conn: sqlite3.Connection,
                                                     fields: dict[str, str], field: str) -> None:
    sent = {"name": "Paul Martin", "profession": "1", "workers_on": "", "patients_on": "",
            "name_forms": "", "other_ids": "", **fields}
    with pytest.raises(OperatorError) as refused:
        register.parse_form(conn, today=date(2026, 6, 1), **sent)
    assert refused.value.field == field


@pytest.mark.parametrize(("raw", "ok"), [("36", True), ("0", False), ("601", False),
                                         ("-1", False), ("3.5", False), ("", False)])
def test_validity_settings_are_whole_months(conn: sqlite3.Connection, raw: str, ok: bool) -> None:
    turn_on(conn)
    if ok:
        assert settings.set_workers_months(conn, raw, ADMIN)  # first set: recorded
        assert not settings.set_workers_months(conn, raw, ADMIN)  # the same again: not
        assert settings.workers_months(conn) == int(raw)
        assert audit(conn)[-1] == ("operators.settings", "")
        return
    for call in (lambda: settings.set_workers_months(conn, raw, ADMIN),
                 lambda: settings.save_profession(conn, "Chirurgien", raw, ADMIN)):
        with pytest.raises(OperatorError):
            call()


def test_months_are_calendar_months() -> None:
    assert add_months(date(2023, 1, 15), 36) == date(2026, 1, 15)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert not lapsed(date(2023, 1, 15), 36, date(2026, 1, 15))
    assert lapsed(date(2023, 1, 15), 36, date(2026, 1, 16))
    assert lapsed(None, 36, date(2026, 1, 16))


def test_workers_training_lapses_at_three_years_and_a_day(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    paul = add(conn, "Paul Martin", workers="2023-01-15", patients="2025-01-01")
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul")), "peer")
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul"), start="20260115230000", uid="1.2.3.5"),
                "peer")
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul"), start="20260116093000", uid="1.2.3.6"),
                "peer")
    emission(conn, 1, "2026-01-15T09:30:01.000Z")  # 15 January: the last valid day
    emission(conn, 2, "2026-01-15T23:00:01.000Z", uid="1.2.3.5")  # 16 January in Paris
    emission(conn, 3, "2026-01-16T09:30:01.000Z", uid="1.2.3.6")
    assert flag(conn, NOW) == 2
    found = events(conn)
    assert [(k, s, d["exposure"]) for k, s, d in found] == [
        ("operator_training_lapsed", "warning", 2), ("operator_training_lapsed", "warning", 3)]
    assert found[0][2] == {  # no name, no training day: the register's number only
        "operator_entry": paul, "workers_lapsed": True, "patients_lapsed": False,
        "journal": JOURNAL, "run": 1, "exposure": 2, "at": "2026-01-15T23:00:01.000Z"}
    assert flag(conn, NOW) == 0 and len(events(conn)) == 2  # idempotent
    conn.execute("UPDATE events SET state = 'closed', condition_cleared_at = ?", ["x"])
    assert flag(conn, NOW) == 0  # closed by the PCR: never a second


def test_patients_training_validity_is_per_profession(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    settings.save_profession(conn, "Chirurgien", "84", ADMIN)  # seven years
    add(conn, "Paul Martin", "Médecin", workers="2025-06-01", patients="2018-06-01")
    anne = add(conn, "Anne Durand", "Chirurgien", workers="2025-06-01", patients="2018-06-01")
    marc = add(conn, "Marc Leroy", "Chirurgien", workers="2025-06-01")  # none recorded
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul"), b.operator("DURAND^Anne"),
                           b.operator("LEROY^Marc")), "peer")
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    assert flag(conn, NOW) == 2
    lapsed_ = {d["operator_entry"]: d for _k, _s, d in events(conn)}
    assert set(lapsed_) == {anne, marc}  # Paul's 120 months still ran
    assert lapsed_[anne]["patients_lapsed"] is True and lapsed_[marc]["patients_lapsed"] is True
    assert lapsed_[anne]["workers_lapsed"] is False


def test_an_unknown_name_is_flagged_once_and_no_name_raises_nothing(
        conn: sqlite3.Connection) -> None:
    turn_on(conn)
    store_bytes(conn, rdsr(b.operator("INCONNU^Jean"), b.operator("inconnu jean")), "peer")
    store_bytes(conn, rdsr(uid="1.2.3.5", start="20260115100000"), "peer")  # names nobody
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    emission(conn, 2, "2026-01-15T10:00:01.000Z", uid="1.2.3.5")
    assert flag(conn, NOW, device=DEVICE, since="2026-01-01T00:00:00.000Z") == 1
    [(kind, sev, detail)] = events(conn)
    assert (kind, sev, detail["exposure"]) == ("operator_unknown", "warning", 1)
    # The name is not in the detail, only where it is kept: the event's UID and its rank.
    assert (detail["irradiation_event_uid"], detail["operator_rank"]) == ("1.2.3.4", 0)
    assert "operator" not in detail and "person_id" not in detail
    [ref] = [str(r[0]) for r in conn.execute("SELECT ref FROM events")]
    for plain in ("inconnu jean", "INCONNU Jean"):  # the API shows the ref: no plain hash
        assert hashlib.sha256(plain.encode()).hexdigest()[:16] not in ref
    assert flag(conn, NOW) == 0
    assert flag(conn, NOW, since="2026-02-01T00:00:00.000Z") == 0
    settings.disable(conn, ADMIN)
    assert flag(conn, NOW) == 0 and len(events(conn)) == 1


def test_flag_runs_inside_the_callers_transaction(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    store_bytes(conn, rdsr(b.operator("INCONNU^Jean")), "peer")
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    with pytest.raises(RuntimeError), write(conn):
        assert flag(conn, NOW) == 1
        raise RuntimeError("the reconciliation failed after")
    assert events(conn) == []  # rolled back with the caller's work


def traced(conn: sqlite3.Connection, call: Callable[[], int]) -> tuple[int, list[str]]:
    """``call()``'s result and the statements it ran, their values written in."""
    ran: list[str] = []
    conn.set_trace_callback(ran.append)
    try:
        return call(), ran
    finally:
        conn.set_trace_callback(None)


def test_the_reconciliations_flags_search_the_box_by_index(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    store_bytes(conn, rdsr(b.operator("INCONNU^Jean")), "peer")
    emission(conn, 1, "2026-01-15T09:30:01.000Z")
    opened, ran = traced(conn, lambda: flag(conn, NOW, device=DEVICE,
                                            since="2026-01-01T00:00:00.000Z"))
    assert opened == 1
    [query] = [q for q in ran if "JOIN exposures x" in q]
    plan = [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + query)]
    assert any("SEARCH x USING INDEX idx_exposures_device_start (device=? AND start>?)" in p
               for p in plan), plan
    assert not any(p.startswith("SCAN x") for p in plan), plan


def test_the_register_is_read_once_per_run_not_per_emission(conn: sqlite3.Connection) -> None:
    turn_on(conn)
    add(conn, "Paul Martin", workers="2020-01-01", patients="2020-01-01")
    add(conn, "Anne Durand", workers="2025-01-01", patients="2025-01-01")
    store_bytes(conn, rdsr(b.operator("MARTIN^Paul"), b.operator("DURAND^Anne")), "peer")
    for number in range(1, 9):  # one event over eight pedal presses
        emission(conn, number, f"2026-01-15T09:3{number}:01.000Z")
    opened, ran = traced(conn, lambda: flag(conn, NOW))
    assert opened == 8  # Paul's lapsed training on each; Anne's valid
    register_reads = [q for q in ran if "operator_identifiers" in q or "operator_register" in q]
    assert len(register_reads) <= 3, register_reads
    shown, ran = traced(conn, lambda: len(for_exposures(
        conn, DEVICE, [(JOURNAL, 1, n) for n in range(1, 9)]) or {}))
    assert shown == 8
    assert len([q for q in ran if "operator_identifiers" in q or "operator_register" in q]
               ) <= 3
