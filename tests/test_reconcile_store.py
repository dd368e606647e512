"""The reconciliation over a store (#17 item 4): matches written to ``rdsr_matches``, the
events ``emission_without_study`` and ``study_without_emission`` opened once and ended when
a late RDSR matches, emissions inside a recorded verification's hours left out, the clock
offset corrected, a file without a UTC offset read as Paris time, the command."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest

from hub.config import Controls
from hub.controls import actions
from hub.controls.types import ControlError
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.rdsr.reconcile_cli import reconcile_main
from hub.rdsr.reconcile_store import paris_days, reconcile_all, reconcile_room
from hub.rdsr.store import store_bytes
from hub.timefmt import iso, parse
from tests import rdsr_builder as b

SITE, ROOM, BOX, JOURNAL = "chu", "bloc-2", "chu.bloc-2", "j" * 32
DAY = date(2026, 1, 15)
T = parse("2026-01-15T09:30:00Z")  # 10:30 in Paris
NOW = datetime(2026, 1, 16, 12, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    Store.open(tmp_path / "hub.db").close()
    c = connect(tmp_path / "hub.db")
    c.execute("INSERT INTO devices (device, site, room, journal) VALUES (?, ?, ?, ?)",
              [BOX, SITE, ROOM, JOURNAL])
    yield c
    c.close()


def _rdsr(events: list[tuple[float, float, str]], tz: str | None = "+0000",
          fluoro_s: str = "28", study: str | None = None) -> bytes:
    """A report of fluoroscopy events (UTC start, duration, UID), the device's clock."""
    zone = UTC if tz == "+0000" else None
    items = [b.event(datetime.fromtimestamp(at, UTC).astimezone(zone).strftime("%Y%m%d%H%M%S")
                     if zone else _paris(at), b.num("113742", str(seconds), "s"), uid=uid)
             for at, seconds, uid in events]
    ds = b.report(b.accumulated(b.num("113730", fluoro_s, "s")), *items, tz_offset=tz)
    if study is not None:
        ds.StudyInstanceUID = study
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _paris(at: float) -> str:
    from hub.workdays import PARIS

    return datetime.fromtimestamp(at, UTC).astimezone(PARIS).strftime("%Y%m%d%H%M%S")


def _store(conn: sqlite3.Connection, data: bytes) -> None:
    assert store_bytes(conn, data, "ARTIS@10.0.0.5", peer_device="Artis").status == "stored"
    conn.execute("UPDATE rdsr_devices SET device = ?", [BOX])


def _emission(conn: sqlite3.Connection, number: int, start: float, seconds: float) -> None:
    conn.execute("INSERT INTO exposures (device, site, room, journal, run, number, state,"
                 " start, \"end\", duration_s, clock_implausible) VALUES"
                 " (?, ?, ?, ?, 1, ?, 'closed', ?, ?, ?, 0)",
                 [BOX, SITE, ROOM, JOURNAL, number, iso(start), iso(start + seconds), seconds])


def _run(conn: sqlite3.Connection, now: datetime = NOW, first: date = DAY,
         last: date = DAY) -> Any:
    start, end = paris_days(first, last)
    return reconcile_room(conn, SITE, ROOM, start, end, now, 6.0)


def _events(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool]]:
    return [(str(r[0]), str(r[1]), str(r[2]), r[3] is None) for r in conn.execute(
        "SELECT kind, ref, severity, condition_cleared_at FROM events"
        " WHERE kind IN ('emission_without_study', 'study_without_emission') ORDER BY id")]


def _matches(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return [(int(r[0]), str(r[1])) for r in conn.execute(
        "SELECT number, irradiation_event_uid FROM rdsr_matches ORDER BY number, 2")]


def test_matches_events_idempotence_and_a_late_rdsr(conn: sqlite3.Connection) -> None:
    _store(conn, _rdsr([(T, 13.0, "1.2.3.1"), (T + 600, 4.0, "1.2.3.2"),
                        (T + 1200, 3.0, "1.2.3.9")], study="1.2.3"))
    _emission(conn, 1, T + 1, 3.0)  # pedal presses inside the first event
    _emission(conn, 2, T + 6, 3.0)
    _emission(conn, 3, T + 600, 4.0)
    _emission(conn, 4, T + 900, 2.0)  # inside the study, no event
    _emission(conn, 5, T + 7200, 2.0)  # two hours later, no study
    done = _run(conn)
    assert [r.verdict for r in done.result.emissions] == [
        "matched", "matched", "matched", "study_lacks_event", "no_study"]
    assert _matches(conn) == [(1, "1.2.3.1"), (2, "1.2.3.1"), (3, "1.2.3.2")]
    expected = [("emission_without_study", f"emission:{JOURNAL}:1:4", "warning", True),
                ("emission_without_study", f"emission:{JOURNAL}:1:5", "critical", True),
                ("study_without_emission", "irradiation:1.2.3.9", "warning", True)]
    assert _events(conn) == expected
    (study,) = done.result.studies
    assert (study.voyant_s, study.rdsr_s, study.difference_s) == (10.0, 28.0, -18.0)
    _run(conn)  # a re-run: nothing new
    assert _events(conn) == expected and len(_matches(conn)) == 3
    # A late report of the same study holds the 4th emission's event: that event ends.
    _store(conn, _rdsr([(T + 899, 4.0, "1.2.3.4")], study="1.2.3"))
    _run(conn)
    assert [e[3] for e in _events(conn)] == [False, True, True]
    # A study of the room now spans the 5th emission, without its event: a warning now.
    _emission(conn, 7, T + 7000, 2.0)
    _emission(conn, 8, T + 7500, 2.0)
    _store(conn, _rdsr([(T + 7000, 2.0, "1.2.5.1"), (T + 7500, 2.0, "1.2.5.2")],
                       study="1.2.5"))
    _run(conn)
    assert _events(conn)[1] == (*expected[1][:2], "warning", True)
    # Its event arrives, and the box's late journal brings the emission of event 9.
    _store(conn, _rdsr([(T + 7199, 4.0, "1.2.5.3")], study="1.2.5"))
    _emission(conn, 6, T + 1199, 3.0)
    _run(conn)
    assert [open_ for *_x, open_ in _events(conn)] == [False, False, False]
    assert _matches(conn)[3:] == [(4, "1.2.3.4"), (5, "1.2.5.3"), (6, "1.2.3.9"),
                                  (7, "1.2.5.1"), (8, "1.2.5.2")]


def _feed(conn: sqlite3.Connection) -> None:
    """The room's dose report feed started: a study of the device two days before."""
    _store(conn, _rdsr([(T - 2 * 86400, 3.0, "1.9.9.1")], study="1.9.9"))


def test_pending_before_the_wait_then_judged(conn: sqlite3.Connection) -> None:
    _feed(conn)
    _emission(conn, 1, T, 3.0)
    young = datetime.fromtimestamp(T + 3600, UTC)
    assert [r.verdict for r in _run(conn, now=young).result.emissions] == ["pending"]
    assert _events(conn) == []
    _run(conn, now=datetime.fromtimestamp(T + 6 * 3600 + 4, UTC))
    assert [e[2] for e in _events(conn)] == ["critical"]


def test_the_devices_clock_offset_is_corrected(conn: sqlite3.Connection) -> None:
    """The device's clock is 2 min 10 s ahead of Voyant's: the estimate corrects it."""
    _store(conn, _rdsr([(T + 130 + k * 300, 3.2, f"1.9.{k}") for k in range(5)]))
    for k in range(5):
        _emission(conn, k + 1, T + k * 300 + 0.4, 3.0)
    done = _run(conn)
    (offset,) = done.offsets.values()
    assert offset is not None and offset.seconds == pytest.approx(129.6)
    assert [r.verdict for r in done.result.emissions] == ["matched"] * 5
    assert _events(conn) == []


@pytest.mark.parametrize("start", ["2026-01-15T09:30:00Z", "2026-07-15T08:30:00Z"])
def test_a_file_without_utc_offset_is_paris_time_either_side_of_summer(
        conn: sqlite3.Connection, start: str) -> None:
    """10:30 written without an offset is 09:30 UTC in winter, 08:30 in summer."""
    at = parse(start)
    _store(conn, _rdsr([(at, 4.0, "1.7.1")], tz=None))
    stored = conn.execute("SELECT start_utc FROM rdsr_irradiation_events").fetchone()[0]
    assert stored == start.replace("Z", ".000Z") and _paris(at)[8:12] == "1030"
    _emission(conn, 1, at + 0.5, 3.0)
    day = datetime.fromtimestamp(at, UTC).date()
    now = datetime.fromtimestamp(at, UTC) + timedelta(days=1)
    assert [r.verdict for r in _run(conn, now, day, day).result.emissions] == ["matched"]


def _record(conn: sqlite3.Connection, day: str, first: str, last: str) -> dict[str, Any]:
    with write(conn):
        return actions.record_done(conn, Controls(), "claire", SITE, ROOM,
                                   "periodic_equipment", day, "ok", "Claire Moreau", "", "",
                                   NOW, None, first, last)


def test_excluded_inside_the_hours_of_a_recorded_verification(conn: sqlite3.Connection
                                                              ) -> None:
    _feed(conn)
    _emission(conn, 1, T, 3.0)  # 10:30 Paris
    _emission(conn, 2, T + 3600, 3.0)  # 11:30 Paris
    done = _record(conn, "2026-01-15", "10:00", "11:00")
    assert (done["window_start"], done["window_end"]) == ("2026-01-15T09:00:00.000Z",
                                                          "2026-01-15T10:00:00.000Z")
    result = _run(conn).result
    assert [r.verdict for r in result.emissions] == ["excluded", "no_study"]
    assert result.emissions[0].window is not None
    assert [e[1] for e in _events(conn)] == [f"emission:{JOURNAL}:1:2"]


def test_a_night_maintenance_across_midnight_and_a_stuck_emission(
        conn: sqlite3.Connection) -> None:
    """"de 22:00 à 02:00" ends the next day; an emission that starts inside but runs on
    after 02:00 (a stuck tube) stays an event."""
    _feed(conn)
    night = parse("2026-01-14T23:30:00Z")  # 00:30 Paris on the 15th
    _emission(conn, 1, night, 5.0)
    _emission(conn, 2, night + 4800, 1200.0)  # 01:50 to 02:10 Paris
    done = _record(conn, "2026-01-14", "22:00", "02:00")
    assert (done["window_start"], done["window_end"]) == ("2026-01-14T21:00:00.000Z",
                                                          "2026-01-15T01:00:00.000Z")
    assert [r.verdict for r in _run(conn).result.emissions] == ["excluded", "no_study"]
    with pytest.raises(ControlError, match="after the start"):
        actions.parse_hours(DAY, "09:00", "09:00", NOW)


def test_a_record_without_hours_excludes_nothing_but_is_said(conn: sqlite3.Connection) -> None:
    _feed(conn)
    _emission(conn, 1, T, 3.0)
    _record(conn, "2026-01-15", "", "")
    (item,) = _run(conn).result.emissions
    assert item.verdict == "no_study" and [d.label for d in item.days] == ["periodic_equipment"]
    detail = json.loads(conn.execute("SELECT detail FROM events").fetchone()[0])
    assert detail["controls_without_hours"] == ["periodic_equipment"]


@pytest.mark.parametrize(("first", "last", "field"), [
    ("10:00", "", "to_time"), ("", "11:00", "from_time"), ("25:00", "26:00", "from_time"),
    ("10:00", "09:59", "to_time"), ("1O:00", "11:00", "from_time"),
    ("10:00", "11:00:00", "to_time")])
def test_hostile_hours_are_refused_naming_the_field(conn: sqlite3.Connection, first: str,
                                                    last: str, field: str) -> None:
    with pytest.raises(ControlError) as refused:
        _record(conn, "2026-01-15", first, last)
    assert refused.value.field == field


def test_the_spring_changes_missing_hour_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ControlError) as refused:
        _record(conn, "2025-03-30", "02:30", "03:30")  # the clocks skip 02:00 to 03:00
    assert refused.value.field == "from_time" and "clocks" in refused.value.message


def test_the_job_reconciles_each_mapped_room(conn: sqlite3.Connection) -> None:
    _store(conn, _rdsr([(T, 3.0, "1.4.1")]))
    _emission(conn, 1, T, 3.0)
    counts = reconcile_all(conn, NOW, 6.0, 3.0, 120.0)
    assert counts == {"rooms": 1, "matched": 1, "unmatched": 0, "without_emission": 0,
                      "before_feed": 0, "failed": 0}
    assert _matches(conn) == [(1, "1.4.1")]


def test_mapping_a_device_does_not_turn_weeks_of_work_into_events(
        conn: sqlite3.Connection) -> None:
    """Twenty days of work before the device sent anything, then one study today: the
    round judges from the feed's start; the weeks before are counted, never events."""
    today = parse("2026-01-16T08:00:00Z")
    for n in range(100):
        _emission(conn, n + 1, today - (20 - n // 5) * 86400 + (n % 5) * 900, 3.0)
    _store(conn, _rdsr([(today, 3.0, "1.5.1")], study="1.5"))
    _emission(conn, 101, today, 3.0)
    counts = reconcile_all(conn, NOW, 6.0, 3.0, 120.0)
    assert _events(conn) == []
    assert (counts["matched"], counts["unmatched"], counts["before_feed"]) == (1, 0, 100)
    start, end = paris_days(date(2025, 12, 17), date(2026, 1, 16))
    done = reconcile_room(conn, SITE, ROOM, start, end, NOW, 6.0)
    assert done.feed_start == today and done.result.before_feed == 100


def test_a_study_straddling_the_range_start_counts_all_its_emissions(
        conn: sqlite3.Connection) -> None:
    """A study from 21:00 Paris on the 14th to 01:30 on the 15th, judged over the 15th:
    Voyant's time is its emissions over the whole study, not the hour before the range."""
    first = parse("2026-01-14T20:00:00Z")
    events = [(first + k * 1800, 4.0, f"1.6.{k}") for k in range(10)]  # to 00:30Z
    _store(conn, _rdsr(events, study="1.6"))
    for k, (at, seconds, _uid) in enumerate(events):
        _emission(conn, k + 1, at, seconds)
    (study,) = _run(conn).result.studies
    assert (study.events, study.voyant_s) == (10, 40.0)


def test_one_rooms_failure_does_not_stop_the_round(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    other = "chu.bloc-1"
    conn.execute("INSERT INTO devices (device, site, room, journal) VALUES (?, ?, ?, ?)",
                 [other, SITE, "bloc-1", "k" * 32])
    _store(conn, _rdsr([(T, 3.0, "1.7.1")]))  # maps every device to BOX
    data = b.report(b.event("20260115093000", uid="1.7.2"), tz_offset="+0000")
    data.ContentSequence[1].TextValue = "OTHER"  # another device observer name
    out = BytesIO()
    data.save_as(out, enforce_file_format=True)
    assert store_bytes(conn, out.getvalue(), "B@10.0.0.6", peer_device="B").status == "stored"
    conn.execute("UPDATE rdsr_devices SET device = ? WHERE peer_device = 'B'", [other])
    _emission(conn, 1, T, 3.0)
    from hub.rdsr import reconcile_store

    real = reconcile_store.compute

    def failing(conn: sqlite3.Connection, site: str, room: str, *args: Any) -> Any:
        if room == "bloc-1":
            raise sqlite3.DatabaseError("database disk image is malformed")
        return real(conn, site, room, *args)

    monkeypatch.setattr(reconcile_store, "compute", failing)
    with caplog.at_level(logging.ERROR, logger="voyant.hub"):
        counts = reconcile_all(conn, NOW, 6.0, 3.0, 120.0)
    assert (counts["rooms"], counts["failed"], counts["matched"]) == (1, 1, 1)
    (record,) = [r for r in caplog.records if r.getMessage() == "reconcile_room_failed"]
    assert record.fields["room"] == "bloc-1"  # type: ignore[attr-defined]
    assert "malformed" in record.fields["error"]  # type: ignore[attr-defined]


def _cli(tmp_path: Path, *args: str) -> int:
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "hub.db"}"\n', encoding="utf-8")
    return reconcile_main([*args, "--config", str(config)], now=NOW)


def test_the_command_json(conn: sqlite3.Connection, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    _store(conn, _rdsr([(T, 13.0, "1.2.3.1"), (T + 600, 3.0, "1.2.3.2")], study="1.2.3"))
    _emission(conn, 1, T + 1, 3.0)
    _emission(conn, 2, T + 7200, 3.0)
    assert _cli(tmp_path, "--room", f"{SITE}/{ROOM}", "--from", "2026-01-15", "--to",
                "2026-01-15", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["form"], out["from"], out["start_utc"]) == (2, "2026-01-15",
                                                            "2026-01-14T23:00:00.000Z")
    assert [(e["number"], e["verdict"], e["irradiation_event_uids"])
            for e in out["emissions"]] == [(1, "matched", ["1.2.3.1"]), (2, "no_study", [])]
    assert [e["irradiation_event_uid"] for e in out["events_without_emission"]] == ["1.2.3.2"]
    (study,) = out["studies"]
    assert (study["study_instance_uid"], study["voyant_emission_s"],
            study["rdsr_fluoro_acquisition_s"], study["difference_s"]) == ("1.2.3", 3.0,
                                                                           28.0, -25.0)
    assert out["imaging_devices"][0]["box"] == BOX and out["pending"] == {"emissions": 0,
                                                                          "events": 0}
    assert "Patient" not in json.dumps(out)
    assert _cli(tmp_path, "--room", f"{SITE}/{ROOM}", "--from", "2026-01-15", "--to",
                "2026-01-15") == 0
    text = capsys.readouterr().out
    assert "Paris time" in text and "no study" in text


@pytest.mark.parametrize("args", [
    ["--room", "chu", "--from", "2026-01-15", "--to", "2026-01-15"],
    ["--room", "chu/bloc-2", "--from", "2026-02-30", "--to", "2026-03-01"],
    ["--room", "chu/bloc-2", "--from", "2026-01-15", "--to", "2026-01-14"],
    ["--room", "chu/bloc-2", "--from", "2020-01-01", "--to", "2026-01-14"],
    ["--room", "chu/bloc-2\n", "--from", "2026-01-15", "--to", "2026-01-15"],
    ["--room", "no/such", "--from", "2026-01-15", "--to", "2026-01-15"],
    ["--room", "chu/bloc-2", "--from", "１２３４-01-01", "--to", "2026-01-15"],
    ["--room", "chu/bloc-2", "--to", "2026-01-15"]])
def test_hostile_arguments_exit_2_with_one_line(conn: sqlite3.Connection, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                args: list[str]) -> None:
    try:
        code = _cli(tmp_path, *args)
    except SystemExit as exc:  # argparse's own refusal, through its one-line error()
        code = int(str(exc.code))
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("voyant-hub reconcile: ")


def test_no_patient_identifier_is_read(conn: sqlite3.Connection) -> None:
    data = _rdsr([(T, 3.0, "1.5.1")])
    ds = pydicom.dcmread(BytesIO(data))
    ds.PatientName, ds.PatientID = "DUPONT^JEAN", "IPP-424242"
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    _store(conn, out.getvalue())
    _emission(conn, 1, T + 3600, 3.0)
    done = _run(conn)
    said = repr(done) + conn.execute("SELECT group_concat(detail) FROM events").fetchone()[0]
    assert "DUPONT" not in said and "424242" not in said


def test_the_reconciliation_judges_the_matched_emissions_operators(
        conn: sqlite3.Connection) -> None:
    """Operators on (an admin, the CSE consulted): a report naming someone the register
    does not know, matched by the reconciliation, raises ``operator_unknown`` for that
    emission, once; off, the same report raises nothing."""
    from hub.rdsr import operators_settings
    from hub.web.auth import User

    def named(uid: str, at: float) -> bytes:
        ds = b.report(b.event(datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H%M%S"),
                              b.num("113742", "4", "s"), b.operator("INCONNU^Jean"), uid=uid),
                      tz_offset="+0000")
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()

    _store(conn, named("1.2.7.1", T))
    _emission(conn, 1, T + 1, 3.0)
    _run(conn)
    assert conn.execute("SELECT count(*) FROM events WHERE kind LIKE 'operator%'"
                        ).fetchone()[0] == 0  # off: no name kept, nothing judged
    operators_settings.enable(conn, "yes", User(1, "admin", "admin", "Admin"))
    _store(conn, named("1.2.7.2", T + 600))
    _emission(conn, 2, T + 601, 3.0)
    _run(conn)
    _run(conn)
    rows = conn.execute("SELECT kind, detail FROM events WHERE kind LIKE 'operator%'").fetchall()
    assert [(k, json.loads(d)["exposure"]) for k, d in rows] == [("operator_unknown", 2)]
