"""The demo's history (sim/demo_history*.py): a short span through the real ingest, and its cache.

The demo's full history (two quarters) takes a while; here a few days hold
the same story: the rooms' work, incidents of each sort (alarms of the
monitor, a power cut and a network outage that the hub notices by itself),
the PCR's review (an ESR declared, events closed), all of it stored by the
hub's own ingest with nothing refused and the hash chains whole.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from edge_agent.outbox import Outbox
from hub.db.connection import connect
from hub.reports.quarters import parse_quarter
from hub.workdays import PARIS
from sim import demo_history
from sim.demo_files import ROOMS, DemoFiles, clear_directory, write_files
from sim.demo_history import ensure_history, read_key
from sim.demo_history_plan import Incident, working_days

PORT = 18_830
#: Monday 28 September 2026 (the last days of 2026-Q3) to Thursday 1 October, noon.
SINCE = datetime(2026, 9, 28, 0, 0, tzinfo=PARIS).timestamp()
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=PARIS).timestamp()


def _nth(day: date) -> int:
    start = parse_quarter("2026-Q3").bounds()[0]
    return list(working_days(start, start + 92 * 86_400.0)).index(day)


INCIDENTS: tuple[Incident, ...] = (
    ("bloc-3", 0, _nth(date(2026, 9, 28)), "play", "demo_unsolicited"),
    ("salle-1", 0, _nth(date(2026, 9, 28)), "play", "door_open_during_fluoroscopy"),
    ("salle-2", 0, _nth(date(2026, 9, 28)), "cut", "10800"),
    ("salle-1", 0, _nth(date(2026, 9, 29)), "outage", "3600"),
    ("salle-2", 0, _nth(date(2026, 9, 29)), "play", "emission_light_fault"),
)


def _files(tmp_path: Path) -> DemoFiles:
    files = DemoFiles(tmp_path / "demo")
    clear_directory(files.directory)
    write_files(files, ROOMS, web_port=18_080, broker_port=PORT)
    return files


def _count(files: DemoFiles, sql: str) -> int:
    conn = connect(files.store)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_a_short_history_through_the_real_ingest(tmp_path: Path) -> None:
    files = _files(tmp_path)
    made = ensure_history(files, ROOMS, PORT, now=lambda: NOW, out=lambda _: None,
                          since=SINCE, incidents=INCIDENTS)
    assert made.made
    assert _count(files, "SELECT count(*) FROM readings") > 3 * 3 * 24 * 3600 / 900 * 0.9
    assert _count(files, "SELECT count(*) FROM exposures") > 20
    conn = connect(files.store)
    try:
        kinds = {str(k) for (k,) in conn.execute("SELECT DISTINCT kind FROM events")}
        esr = conn.execute("SELECT kind, declared_at, declaration_ref FROM events"
                           " WHERE esr = 1").fetchall()
        closed = conn.execute("SELECT count(*) FROM events WHERE state = 'closed'").fetchone()
        audited = {str(a) for (a,) in conn.execute("SELECT DISTINCT action FROM audit")}
        verified = conn.execute("SELECT count(*) FROM control_records").fetchone()[0]
        named = dict(conn.execute("SELECT key, label FROM display_names WHERE kind = 'signal'"
                                  " AND device LIKE '%salle-1'").fetchall())
        refused = [conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                   for table in ("rejected", "quarantine", "chain_breaks", "record_conflicts")]
    finally:
        conn.close()
    assert {"unsolicited_emission", "door_open_during_emission", "emission_light_fault",
            "device_offline", "data_gap"} <= kinds, kinds
    assert [(kind, ref) for kind, _, ref in esr] == [("unsolicited_emission", "ESR-2026-0142")]
    assert esr[0][1] == "2026-09-29"  # declared the next working day
    assert closed[0] >= 3
    assert {"event.qualify-esr", "event.declare", "event.close", "control.record",
            "report.prepare_quarter", "names.set"} <= audited
    assert named == {"door.corridor": "Porte du couloir patients",
                     "door.control": "Porte du poste de commande"}
    assert verified > 0
    assert refused == [0, 0, 0, 0]
    # every record of each journal is acknowledged: the live room starts with an empty outbox
    for room in ROOMS:
        outbox = Outbox(files.journal(room))
        try:
            assert outbox.backlog() == 0
        finally:
            outbox.close()


def test_the_history_is_kept_reused_and_made_again_when_its_key_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files(tmp_path)
    clock = [NOW]
    since = NOW - 86_400.0

    def run() -> demo_history.History:
        clear_directory(files.directory)  # what each start of the demo does
        write_files(files, ROOMS, web_port=18_080, broker_port=PORT)
        return ensure_history(files, ROOMS, PORT, now=lambda: clock[0], out=lambda _: None,
                              since=since, incidents=())

    first = run()
    assert first.made and read_key(files) is not None
    readings = _count(files, "SELECT count(*) FROM readings")
    clock[0] += 3 * 3600.0  # started again three hours later: reused, topped up
    second = run()
    assert not second.made
    assert second.start == pytest.approx(NOW)
    # three rooms: the first hour at 900 s, the last two at the live rooms' 10 s
    assert _count(files, "SELECT count(*) FROM readings") == readings + 3 * (4 + 2 * 360)
    key = read_key(files)
    assert key is not None and key["end"] == pytest.approx(NOW)  # the kept copy is untouched
    monkeypatch.setattr(demo_history, "HISTORY_VERSION", demo_history.HISTORY_VERSION + 1)
    third = run()
    assert third.made
    moment = datetime.combine(date(2026, 10, 1), time(15, 0), PARIS).astimezone(UTC)
    assert third.end == pytest.approx(moment.timestamp())
