"""The verification calendar's rules: due dates, triggers, reminders, the overdue event,
the site's types and intervals."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub import workdays
from hub.config import Controls, parse_config
from hub.controls import actions as ca
from hub.controls import overdue as co
from hub.controls import records as cr
from hub.controls import schedule
from hub.controls.types import (
    BUILTIN,
    BUILTIN_KEYS,
    LEGACY_KEYS,
    OPTIONAL,
    OPTIONAL_KEYS,
    WORKPLACE,
    ControlError,
    RoomSettings,
    TypeSetting,
    catalog,
    check_type,
)
from hub.db import migrations
from hub.db.connection import connect, write
from hub.db.store import Store
from wire.errors import ConfigError
from wire.kinds import KINDS

TYPES = {t.key: t for t in (*BUILTIN, *OPTIONAL)}
NOON = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


def _due(key: str, room: RoomSettings, *done: tuple[str, str],
         since: date = date(2026, 1, 1)) -> schedule.Due:
    records = [schedule.Done(date.fromisoformat(d), r) for d, r in done]  # type: ignore[arg-type]
    return schedule.next_due(TYPES[key], room, records, since)


ROOM = RoomSettings("chu", "bloc1")


# -- months and status ---------------------------------------------------------------------------


@pytest.mark.parametrize("start,months,expected", [
    ("2024-02-29", 12, "2025-02-28"),   # leap day: the year after has none, never later
    ("2024-02-29", 48, "2028-02-29"),
    ("2023-11-30", 3, "2024-02-29"),    # into a leap February
    ("2025-11-30", 3, "2026-02-28"),
    ("2025-01-31", 1, "2025-02-28"),
    ("2025-10-15", 3, "2026-01-15"),    # across the year
    ("2026-03-29", 3, "2026-06-29"),    # the spring DST day is an ordinary day
])
def test_add_months_clamps_to_the_month_end(start: str, months: int, expected: str) -> None:
    assert schedule.add_months(date.fromisoformat(start), months) == date.fromisoformat(expected)


@pytest.mark.parametrize("days,expected", [
    (-1, ("overdue", None)), (0, ("soon", 7)), (7, ("soon", 7)), (8, ("upcoming", 30)),
    (30, ("upcoming", 30)), (31, ("ok", None)),
])
def test_reminders_at_30_and_7_days(days: int, expected: tuple[str, int | None]) -> None:
    today = date(2026, 6, 15)
    due = date.fromordinal(today.toordinal() + days)
    assert schedule.status(due, today, [30, 7]) == expected
    assert schedule.status(None, today) == ("unscheduled", None)


@pytest.mark.parametrize("utc,paris_day", [
    (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), date(2026, 3, 28)),  # 23:59 CET
    (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), date(2026, 3, 29)),   # 00:00 CET, DST night
    (datetime(2026, 10, 24, 21, 59, tzinfo=UTC), date(2026, 10, 24)),  # 23:59 CEST
    (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), date(2026, 10, 25)),   # 00:00 CEST
])
def test_today_is_the_paris_day_across_dst(utc: datetime, paris_day: date) -> None:
    assert workdays.today(utc) == paris_day


# -- due dates -----------------------------------------------------------------------------------


def test_quarterly_runs_three_months_from_the_last_verification() -> None:
    due = _due(WORKPLACE, ROOM, ("2026-01-10", "ok"), ("2025-10-02", "ok"))
    assert (due.due, due.reason, due.last_done) == (date(2026, 4, 10), "periodic",
                                                    date(2026, 1, 10))


def test_a_site_interval_and_a_mobile_device() -> None:
    """The site sets a built-in type's interval (within the law's longest) on the page."""
    done = ("2024-02-29", "ok")
    assert _due("periodic_equipment", ROOM, done).due == date(2025, 2, 28)  # one year
    types = {t.key: t for t in catalog(settings=[
        TypeSetting("periodic_equipment", True, 12, 6)])}
    mobile = RoomSettings("chu", "c-arm", "mobile")
    records = [schedule.Done(date(2024, 2, 29))]
    assert schedule.next_due(types["periodic_equipment"], mobile, records,
                             date(2024, 1, 1)).due == date(2024, 8, 29)
    assert schedule.next_due(types["periodic_equipment"], ROOM, records,
                             date(2024, 1, 1)).due == date(2025, 2, 28)


def test_never_recorded_is_due_after_the_grace_period() -> None:
    due = _due(WORKPLACE, ROOM, since=date(2026, 5, 1))
    assert (due.due, due.reason, due.last_done) == (date(2026, 5, 31), "first_record", None)


def test_initial_verification_at_commissioning_and_after_a_modification() -> None:
    room = RoomSettings("chu", "bloc2", received_on="2026-02-01", first_use_on="2026-03-01")
    due = _due("initial_equipment", room)
    assert (due.due, due.reason) == (date(2026, 3, 1), "first_use")  # before first use
    # One verification between receipt and commissioning covers it; no renewal by default.
    assert _due("initial_equipment", room, ("2026-02-20", "ok")).due is None
    # A verification from before the receipt (the previous device) does not.
    assert _due("initial_equipment", room, ("2026-01-05", "ok")).reason == "first_use"
    # Each modification calls for it again, until one is recorded on or after it.
    modified = RoomSettings("chu", "bloc2", received_on="2026-02-01", first_use_on="2026-03-01",
                            occasions=(("modification", "2026-05-04"),
                                       ("maintenance", "2026-05-10")))
    due = _due("initial_workplace", modified, ("2026-02-20", "ok"))
    assert (due.due, due.reason) == (date(2026, 5, 4), "modification")
    assert _due("initial_workplace", modified, ("2026-02-20", "ok"),
                ("2026-05-06", "ok")).due is None
    # The maintenance calls for the verification on return to service, not the initial one.
    due = _due("return_to_service", modified)
    assert (due.due, due.reason) == (date(2026, 5, 10), "maintenance")
    assert _due("return_to_service", modified, ("2026-05-10", "ok")).due is None


def test_the_renewal_of_the_initial_verification_is_a_site_setting() -> None:
    """R.4451-41: renewed where the order requires it for the equipment's category."""
    (renewed,) = [t for t in catalog(settings=[TypeSetting("initial_equipment", True, 36,
                                                            None)])
                  if t.key == "initial_equipment"]
    room = RoomSettings("chu", "bloc2", first_use_on="2026-03-01")
    records = [schedule.Done(date(2026, 2, 20))]
    assert schedule.next_due(renewed, room, records, date(2026, 1, 1)).due == date(2029, 2, 20)


def test_quality_controls_follow_first_clinical_use() -> None:
    room = RoomSettings("chu", "bloc3", first_use_on="2026-01-31")
    assert _due("quality_internal", room).due == date(2026, 4, 30)   # initial: 3 months after
    assert _due("quality_external", room).due == date(2026, 1, 31)   # before first use
    assert _due("quality_audit", room).due == date(2027, 1, 31)      # one year after
    assert _due("quality_internal", room, ("2026-04-20", "ok")).due == date(2026, 7, 20)


def test_a_not_ok_result_calls_for_a_recheck() -> None:
    due = _due("periodic_equipment", ROOM, ("2026-03-01", "not_ok"))
    assert (due.due, due.reason, due.last_result) == (date(2026, 3, 31), "recheck", "not_ok")
    ok_again = _due("periodic_equipment", ROOM, ("2026-03-01", "not_ok"), ("2026-03-20", "ok"))
    assert (ok_again.due, ok_again.reason) == (date(2027, 3, 20), "periodic")


# -- types ---------------------------------------------------------------------------------------


def test_site_types_from_the_configuration() -> None:
    config = parse_config({"controls": {"disabled": ["protection_devices"], "types": [
        {"key": "apron_check", "name": "Lead aprons", "period_months": 12,
         "period_months_mobile": 6, "triggers": ["receipt", "maintenance"]}]}})
    types = {t.key: t for t in catalog(config.controls.types, (), config.controls.disabled)}
    assert "protection_devices" not in types and types["apron_check"].source == "config"
    mobile = RoomSettings("chu", "c-arm", "mobile", received_on="2026-01-10")
    records = [schedule.Done(date(2026, 1, 12))]
    assert schedule.next_due(types["apron_check"], mobile, records, date(2026, 1, 1)).due == (
        date(2026, 7, 12))


def test_a_former_configuration_still_starts() -> None:
    """``disabled`` may still name a legal guide's type (no longer in force: no effect)."""
    config = parse_config({"controls": {"disabled": ["ambient_external", "quality_audit"]}})
    keys = {t.key for t in catalog(config.controls.types, (), config.controls.disabled)}
    assert keys == BUILTIN_KEYS


@pytest.mark.parametrize("table,message", [
    ({"types": [{"key": "ambient_internal", "name": "x", "period_months": 3}]},
     "already a verification type"),
    ({"types": [{"key": "periodic_workplace", "name": "x", "period_months": 3}]},
     "already a verification type"),
    ({"types": [{"key": "x", "name": "x", "period_months": 3},
                {"key": "x", "name": "y", "period_months": 3}]}, "already a verification type"),
    ({"types": [{"key": "x", "name": "x"}]}, "give period_months, triggers, or both"),
    ({"types": [{"key": "Bad key", "name": "x", "period_months": 3}]}, "controls.types.0.key"),
    ({"types": [{"key": "x", "name": "x", "period_months": 0}]}, "greater than or equal to 1"),
    ({"types": [{"key": "x", "name": "x", "triggers": ["delivery"]}]}, "controls.types.0.triggers"),
    ({"disabled": ["nope"]}, "not a built-in verification type"),
    ({"remind_days": [30, 30]}, "listed twice"),
    ({"remind_days": []}, "controls.remind_days"),
    ({"check_every_min": 0}, "controls.check_every_min"),
])
def test_bad_controls_configuration_is_refused(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"controls": table}, "hub.toml")


def test_the_defaults_are_the_order_of_23_october_2020() -> None:
    config = Controls()
    assert config.remind_days == [30, 7] and not config.disabled and not config.types
    in_force = catalog()
    assert {t.key: (t.period_for("fixed"), t.max_months, t.performer) for t in in_force} == {
        "initial_equipment": (None, 120, "accredited"),   # renewal: none by default
        "initial_workplace": (None, 120, "accredited"),
        "periodic_equipment": (12, 12, "crp"),            # art. 7: at most one year
        "return_to_service": (None, 120, "crp"),
        "periodic_workplace": (3, 3, "crp"),              # art. 12: at most 3 months
        "protection_devices": (12, 12, "crp"),            # art. 12: at most one year
        "instrument_check": (12, 120, "crp")}             # R.4451-48: the programme's
    assert all(t.basis for t in in_force)  # each with its legal basis
    assert not {t.key for t in in_force} & (OPTIONAL_KEYS | LEGACY_KEYS)
    enabled = catalog(settings=[TypeSetting("quality_audit", True, 12, None)])
    assert [t.key for t in enabled if t.source == "optional"] == ["quality_audit"]


@pytest.mark.parametrize("fields,field", [
    ({"key": "9x"}, "key"), ({"key": "ambient_internal"}, "key"), ({"key": "mine"}, "key"),
    ({"key": "quality_audit"}, "key"),
    ({"name": "  "}, "name"), ({"period_months": 0}, "period_months"),
    ({"period_months": None, "triggers": []}, "period_months"),
    ({"period_months": None, "period_months_mobile": 6, "triggers": ["receipt"]},
     "period_months_mobile"),
    ({"triggers": ["delivery"]}, "triggers"),
])
def test_check_type_names_the_field(fields: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"key": "apron_check", "name": "Aprons", "period_months": 12,
                              "period_months_mobile": None, "triggers": [], **fields}
    with pytest.raises(ControlError) as caught:
        check_type(taken=["mine"], **values)
    assert caught.value.field == field


# -- the store and the overdue event -----------------------------------------------------------

#: The probe point that the device 'box-1' gets when it is registered (its workplace).
PROBE = 1
#: The default types due with no occasion dated: periodic equipment, the workplace (its one
#: probe point), protection devices, measuring instruments.
PERIODIC = 4


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "hub.db"
    Store.open(path).close()
    db = connect(path)
    db.execute("INSERT INTO devices (device, site, room) VALUES ('box-1', 'chu', 'bloc1')")
    yield db
    db.close()


def _record(conn: sqlite3.Connection, done_on: str, now: datetime = NOON, result: str = "ok",
            control: str = WORKPLACE, note: str = "") -> dict[str, Any]:
    with write(conn):
        return ca.record_done(conn, Controls(), "marie", "chu", "bloc1", control, done_on,
                              result, "PCR M. Curie", note, "RPT-1", now,
                              PROBE if control == WORKPLACE else None)


def _events(conn: sqlite3.Connection, kind: str = "control_overdue") -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        "SELECT * FROM events WHERE kind = ? ORDER BY id", [kind])]


def _ongoing(conn: sqlite3.Connection, kind: str = "control_overdue") -> list[str]:
    """The refs of the events of ``kind`` whose condition still holds."""
    return [e["ref"] for e in _events(conn, kind) if e["condition_cleared_at"] is None]


def test_overdue_event_raised_once_then_cleared_by_recording(conn: sqlite3.Connection) -> None:
    co.check_overdue(conn, NOON)  # starts tracking the room today: nothing due yet
    assert _events(conn) == []
    _record(conn, "2026-01-10")  # due 2026-04-10: overdue on 15 June, opened at once
    assert co.check_overdue(conn, NOON)["opened"] == 0  # idempotent
    assert co.check_overdue(conn, NOON)["opened"] == 0
    events = _events(conn)
    assert len(events) == 1
    event = events[0]
    assert (event["site"], event["room"], event["device"], event["ref"], event["state"]) == (
        "chu", "bloc1", "box-1", "control:periodic_workplace:point:1", "open")
    assert '"due":"2026-04-10"' in event["detail"] and event["condition_cleared_at"] is None
    done = _record(conn, "2026-06-14")
    assert (done["next_due"], done["status"]) == ("2026-09-14", "ok")
    event = _events(conn)[0]
    assert event["condition_cleared_at"] is not None and event["state"] == "open"  # PCR's call
    assert co.check_overdue(conn, NOON) == {"opened": 0, "ended": 0}
    # Overdue again three months later: a new event, the first one untouched.
    later = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
    co.check_overdue(conn, later)  # the never-recorded ones are overdue too by then
    ambient = [e for e in _events(conn) if e["ref"] == "control:periodic_workplace:point:1"]
    assert [e["condition_cleared_at"] is None for e in ambient] == [False, True]


def test_overdue_starts_the_day_after_the_due_date_in_paris(conn: sqlite3.Connection) -> None:
    _record(conn, "2025-12-28", now=datetime(2025, 12, 28, 12, 0, tzinfo=UTC))  # due 2026-03-28
    co.check_overdue(conn, datetime(2026, 3, 28, 22, 59, tzinfo=UTC))
    assert "control:periodic_workplace:point:1" not in _ongoing(conn)
    co.check_overdue(conn, datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert "control:periodic_workplace:point:1" in _ongoing(conn)


def test_a_never_recorded_control_raises_after_the_grace(conn: sqlite3.Connection) -> None:
    co.check_overdue(conn, NOON)
    # due 30 days after tracking starts: born inside the 30-day window, so no 30-day
    # reminder burst on the first day; the 7-day one comes as for any control
    assert _events(conn, "control_due_soon") == []
    co.check_overdue(conn, datetime(2026, 7, 7, 12, tzinfo=UTC))
    assert _events(conn, "control_due_soon") == []
    co.check_overdue(conn, datetime(2026, 7, 8, 12, tzinfo=UTC))
    assert {r.split(":")[-1] for r in _ongoing(conn, "control_due_soon")} == {"7d"}
    assert len(_ongoing(conn, "control_due_soon")) == PERIODIC
    co.check_overdue(conn, datetime(2026, 7, 15, 12, tzinfo=UTC))
    assert _ongoing(conn) == []
    co.check_overdue(conn, datetime(2026, 7, 16, 12, tzinfo=UTC))
    assert len(_ongoing(conn)) == PERIODIC  # 30 days to enter the verifications' history


def test_records_are_kept(conn: sqlite3.Connection) -> None:
    _record(conn, "2026-01-10")
    with pytest.raises(sqlite3.DatabaseError, match="kept"):
        conn.execute("UPDATE control_records SET result = 'not_ok'")
    with pytest.raises(sqlite3.DatabaseError, match="kept"):
        conn.execute("DELETE FROM control_records")
    assert len(cr.history(conn)) == 1


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE", "INSERT OR IGNORE", "INSERT"])
def test_a_record_cannot_be_replaced_by_its_id(conn: sqlite3.Connection, verb: str) -> None:
    """REPLACE deletes the old row without firing the DELETE trigger: the INSERT one stops it."""
    first = _record(conn, "2026-01-10")
    conn.execute("PRAGMA recursive_triggers = OFF")  # SQLite's default (sqlite_utils sets ON)
    with pytest.raises(sqlite3.DatabaseError, match="kept as recorded"):
        conn.execute(f"{verb} INTO control_records (id, site, room, control, done_on, result,"
                     " performed_by, recorded_at, recorded_by) VALUES (?, 'chu', 'bloc1',"
                     " 'ambient_internal', '2026-06-01', 'ok', 'forger', 'x', 'x')",
                     [first["id"]])
    (row,) = cr.history(conn)
    assert (row["id"], row["done_on"], row["performed_by"]) == (
        first["id"], "2026-01-10", "PCR M. Curie")
    assert _record(conn, "2026-02-10")["id"] > first["id"]  # new records still go in


def test_an_existing_store_gains_the_replace_guard(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TRIGGER control_records_no_replace")  # a store made before it existed
    first = _record(conn, "2026-01-10")
    conn.execute("PRAGMA recursive_triggers = OFF")  # SQLite's default (sqlite_utils sets ON)
    replace = ("INSERT OR REPLACE INTO control_records (id, site, room, control, done_on,"
               " result, performed_by, recorded_at, recorded_by) VALUES (?, 'chu', 'bloc1',"
               " 'ambient_internal', ?, 'ok', 'forger', 'x', 'x')")
    conn.execute(replace, [first["id"], "2026-02-01"])  # the hole the trigger closes
    assert cr.history(conn)[0]["performed_by"] == "forger"
    conn.execute("PRAGMA user_version = 0")  # a store made before versions...
    migrations.migrate(conn)  # ...brought up to date at the next start
    with pytest.raises(sqlite3.DatabaseError, match="kept as recorded"):
        conn.execute(replace, [first["id"], "2026-03-01"])


# -- active reminders ----------------------------------------------------------------------------

#: Only the quarterly workplace verification: the other types' reminders would blur the counts.
WORKPLACE_ONLY = Controls(disabled=sorted(BUILTIN_KEYS - {WORKPLACE}))


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


def _record_on(conn: sqlite3.Connection, day: str, result: str = "ok") -> dict[str, Any]:
    with write(conn):
        return ca.record_done(conn, WORKPLACE_ONLY, "marie", "chu", "bloc1", WORKPLACE,
                              day, result, "PCR", "leak" if result == "not_ok" else "", "",
                              _at(day), PROBE)


def _check(conn: sqlite3.Connection, day: str) -> dict[str, int]:
    return co.check_overdue(conn, _at(day), WORKPLACE_ONLY)


REF_30 = "control:periodic_workplace:point:1:2026-04-10:30d"
REF_7 = "control:periodic_workplace:point:1:2026-04-10:7d"


def test_reminders_at_30_then_7_days_once_each(conn: sqlite3.Connection) -> None:
    _record_on(conn, "2026-01-10")  # due 2026-04-10
    assert _check(conn, "2026-03-10") == {"opened": 0, "ended": 0}  # 31 days before
    assert _check(conn, "2026-03-11") == {"opened": 1, "ended": 0}  # 30 days: crossed
    (event,) = _events(conn, "control_due_soon")
    assert (event["ref"], event["device"], event["severity"], event["state"], event["esr"]) == (
        REF_30, "box-1", "info", "open", 0)
    assert json.loads(event["detail"]) == {
        "control": WORKPLACE, "name": "Periodic verification of the workplaces",
        "point": {"id": 1, "name": "probe"}, "due": "2026-04-10",
        "reason": "periodic", "last_done": "2026-01-10", "remind_days": 30}
    assert _check(conn, "2026-04-02") == {"opened": 0, "ended": 0}  # 8 days: still the 30
    assert _check(conn, "2026-04-03") == {"opened": 1, "ended": 1}  # 7 days supersedes it
    assert _ongoing(conn, "control_due_soon") == [REF_7]
    assert _check(conn, "2026-04-10") == {"opened": 0, "ended": 0}  # due today: not overdue
    assert _check(conn, "2026-04-11") == {"opened": 1, "ended": 1}  # overdue takes over
    assert _ongoing(conn, "control_due_soon") == [] and _ongoing(conn) == [
        "control:periodic_workplace:point:1"]
    assert [e["ref"] for e in _events(conn, "control_due_soon")] == [REF_30, REF_7]


def test_reminders_are_not_repeated_by_checks_or_restarts(conn: sqlite3.Connection,
                                                          tmp_path: Path) -> None:
    _record_on(conn, "2026-01-10")
    _check(conn, "2026-03-11")
    changes = conn.total_changes
    for day in ("2026-03-11", "2026-03-12", "2026-03-25"):
        assert _check(conn, day) == {"opened": 0, "ended": 0}
    assert conn.total_changes == changes  # nothing to do: nothing written
    again = connect(tmp_path / "hub.db")  # a restarted hub: nothing kept in memory
    try:
        assert co.check_overdue(again, _at("2026-03-20"), WORKPLACE_ONLY)["opened"] == 0
    finally:
        again.close()
    assert len(_events(conn, "control_due_soon")) == 1


def test_a_reminder_whose_condition_ended_is_not_raised_again(conn: sqlite3.Connection) -> None:
    """Each level fires once per due date, even if a check comes back into its window."""
    _record_on(conn, "2026-01-10")
    _check(conn, "2026-03-11")
    _check(conn, "2026-04-03")  # the 30-day reminder superseded
    assert _check(conn, "2026-03-20")["opened"] == 0  # the clock stepped back: not again
    assert [e["ref"] for e in _events(conn, "control_due_soon")] == [REF_30, REF_7]


def test_a_hub_down_at_30_days_raises_the_7_day_reminder_only(conn: sqlite3.Connection
                                                              ) -> None:
    _record_on(conn, "2026-01-10")
    assert _check(conn, "2026-04-05")["opened"] == 1  # first check since January
    assert [e["ref"] for e in _events(conn, "control_due_soon")] == [REF_7]


def test_recording_the_control_ends_its_reminder(conn: sqlite3.Connection) -> None:
    _record_on(conn, "2026-01-10")
    _check(conn, "2026-03-11")
    assert _ongoing(conn, "control_due_soon") == [REF_30]
    done = _record_on(conn, "2026-03-12")  # due 2026-06-12: no reminder before 13 May
    assert done["next_due"] == "2026-06-12"
    (event,) = _events(conn, "control_due_soon")
    assert event["condition_cleared_at"] is not None and event["state"] == "open"  # PCR's
    assert _check(conn, "2026-03-12") == {"opened": 0, "ended": 0}
    assert _check(conn, "2026-05-13")["opened"] == 1  # the next due date's own reminder
    assert _ongoing(conn, "control_due_soon") == [
        "control:periodic_workplace:point:1:2026-06-12:30d"]


def test_a_due_date_moved_by_a_record_leaves_no_stale_reminder(conn: sqlite3.Connection
                                                               ) -> None:
    _record_on(conn, "2026-01-10")
    _check(conn, "2026-04-05")
    assert _ongoing(conn, "control_due_soon") == [REF_7]
    # Not compliant: a recheck due 30 days later, inside the 30-day window at once.
    assert _record_on(conn, "2026-04-05", "not_ok")["next_due"] == "2026-05-05"
    assert _ongoing(conn, "control_due_soon") == [
        "control:periodic_workplace:point:1:2026-05-05:30d"]
    detail = json.loads(_events(conn, "control_due_soon")[-1]["detail"])
    assert (detail["due"], detail["reason"]) == ("2026-05-05", "recheck")


@pytest.mark.parametrize("kind", co.KINDS)
def test_the_calendar_event_kinds_are_named_and_documented(kind: str) -> None:
    assert KINDS[kind].fr != KINDS[kind].en  # a French name in the inbox
    doc = (Path(__file__).resolve().parent.parent / "docs" / "hub.md").read_text("utf-8")
    assert f"**`{kind}`**" in doc.split("### Kinds", 1)[1].split("###", 1)[0]


@pytest.mark.parametrize("changes,field", [
    ({"done_on": "2026-06-16"}, "done_on"),      # tomorrow in Paris
    ({"done_on": "15/06/2026"}, "done_on"),
    ({"done_on": "1989-12-31"}, "done_on"),
    ({"result": "maybe"}, "result"),
    ({"result": "not_ok"}, "note"),              # say what was wrong
    ({"control": "nope"}, "control"),
    ({"control": "ambient_internal"}, "control"),  # no longer in force: read-only
    ({"point_id": ""}, "point"),                   # which workplace?
    ({"point_id": "99"}, "point"),
    ({"control": "periodic_equipment"}, "point"),  # only a workplace names a point
    ({"room": "nowhere"}, "room"),
    ({"performed_by": "  "}, "performed_by"),
    ({"note": "x" * 2001}, "note"),
    ({"document_ref": "a\x00b"}, "document_ref"),
])
def test_bad_records_are_refused_and_nothing_is_written(conn: sqlite3.Connection,
                                                        changes: dict[str, str],
                                                        field: str) -> None:
    values = {"site": "chu", "room": "bloc1", "control": WORKPLACE, "point_id": "1",
              "done_on": "2026-06-15", "result": "ok", "performed_by": "PCR", "note": "",
              "document_ref": "", **changes}
    with pytest.raises(ControlError) as caught, write(conn):
        ca.record_done(conn, Controls(), "marie", now=NOON, **values)
    assert caught.value.field == field
    assert cr.history(conn) == []


def test_room_settings_and_their_refusals(conn: sqlite3.Connection) -> None:
    with write(conn):
        change = ca.set_room(conn, Controls(), "marie", "chu", "bloc1", "mobile", "2026-01-10",
                             "2026-02-01", None, NOON)
    assert change["before"]["device_kind"] == "fixed" and change["after"]["device_kind"] == (
        "mobile")
    assert cr.find_room(conn, "chu", "bloc1").first_use_on == "2026-02-01"
    cases: list[tuple[tuple[str, str | None, str | None, str | None], str]] = [
        (("tablet", None, None, None), "device_kind"),
        (("fixed", "2026-02-10", "2026-02-01", None), "first_use_on"),
        (("fixed", "soon", None, None), "received_on"),
        (("fixed", None, None, "2031-01-01"), "use_changed_on")]
    for args, field in cases:
        with pytest.raises(ControlError) as caught, write(conn):
            ca.set_room(conn, Controls(), "marie", "chu", "bloc1", *args, NOON)
        assert caught.value.field == field
    assert cr.find_room(conn, "chu", "bloc1").device_kind == "mobile"  # unchanged
