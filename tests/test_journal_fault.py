"""A journal that cannot write is an alarm: records held in memory, nothing lost, and upkeep.

The write failure is injected (SQLite's "database or disk is full" raised at
the commit, the real rollback path) while the real agent plays a scenario on
the simulator's virtual clock; tests/test_journal_full_disk.py fills a real
filesystem under the journal with a real broker and hub.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

import sim.runner
from edge_agent.agent import Agent
from edge_agent.changes import ChangeRecord
from edge_agent.clock import ManualClock, iso_utc
from edge_agent.errors import JournalError
from edge_agent.journal import Journal
from edge_agent.journal_hold import FAULT_NUMBER_BASE, JOURNAL_FAULT, MAX_HELD, JournalHold
from edge_agent.journal_upkeep import JournalUpkeep
from edge_agent.monitor.records import (
    AlarmRaised,
    AlarmRecord,
    ExposureOpened,
    ExposureRecord,
    Reading,
    ReadingReady,
)
from edge_agent.outbox import Outbox
from edge_agent.sdnotify import Notifier, Watchdog
from sim.runner import Simulation
from sim.scenario import load_scenario
from tests.test_agent import config
from wire.contract import Live

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "sim/scenarios/unsolicited_emission.toml"
#: Virtual seconds during which every journal write fails (the unsolicited emission at 120 s
#: and the exposure at 20 s fall inside).
FAULT = (10.0, 150.0)


class FlakyJournal(Journal):
    """A journal whose commits fail with SQLite's full-disk error while :attr:`fail` is set."""

    fail = False

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with super()._write():
            yield
            if self.fail:
                raise sqlite3.OperationalError("database or disk is full")


class Pings(Notifier):
    def __init__(self) -> None:
        super().__init__("@test", 1_000_000)
        self.sent: list[str] = []

    def send(self, *lines: str) -> bool:
        self.sent.extend(lines)
        return True


def play(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: tuple[float, float] | None
         ) -> tuple[Journal, dict[str, Any]]:
    """Play the scenario, journal writes failing during ``fault``; what was seen meanwhile."""
    monkeypatch.setattr(sim.runner, "Journal", FlakyJournal)
    journal_path = tmp_path / "journal.db"
    simulation = Simulation(load_scenario(SCENARIO), tmp_path, journal_path=journal_path,
                            journal={"path": str(journal_path), "reserve_mb": 0.05})
    pings = Pings()
    watchdog = Watchdog(pings, simulation.clock.monotonic)
    watchdog.interval_s = 1.0
    seen: dict[str, Any] = {"first_fault": None, "output_on": True, "held": {}, "pinged": 0,
                            "reserve_gone": False}

    def on_step(agent: Agent) -> None:
        now = agent.clock.monotonic()
        journal = agent.journal
        assert isinstance(journal, FlakyJournal)
        journal.fail = fault is not None and fault[0] <= now < fault[1]
        before = watchdog.pings
        watchdog.update(agent.health() is None, "")
        if agent.writer.hold.fault is not None and len(agent.writer.hold):
            seen["first_fault"] = seen["first_fault"] or now
            seen["output_on"] &= agent.alarm_output is not None and agent.alarm_output.is_on
            seen["pinged"] += watchdog.pings - before
            seen["reserve_gone"] |= not Path(str(journal_path) + ".reserve").exists()
            live = Live.model_validate({"v": 1, "device": "sim.room", "site": "sim",
                                        "room": "room", "at": "2026-01-05T07:00:00Z",
                                        **agent.live_state()})
            assert JOURNAL_FAULT in [a.kind for a in live.alarms]
            assert live.journal == journal.journal_id
            for held in live.held_alarms:
                seen["held"][held.kind] = held
    simulation.on_step = on_step
    try:
        simulation.run()
        seen["writes"] = simulation.agent.writer.journal_writes()
        seen["fault_after"] = simulation.agent.writer.hold.fault
        seen["reserve_after"] = Path(str(journal_path) + ".reserve").exists()
    finally:
        simulation.close()
    return Journal(journal_path), seen


def records(journal: Journal) -> list[dict[str, Any]]:
    rows = journal.db.execute("SELECT seq, kind, item FROM outbox ORDER BY seq").fetchall()
    return [{"seq": seq, "kind": kind, **json.loads(item)} for seq, kind, item in rows]


def test_a_journal_that_cannot_write_raises_journal_fault_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, seen = play(tmp_path / "fault", monkeypatch, FAULT)
    reference, _ = play(tmp_path / "reference", monkeypatch, None)
    # At once: the alarm output, the live state (checked at every step), no watchdog ping.
    assert FAULT[0] <= seen["first_fault"] <= FAULT[0] + 10.0  # the first write after it
    assert seen["output_on"] and seen["pinged"] == 0 and seen["reserve_gone"]
    # The unsolicited emission during the fault reached the live state with its record's name.
    held = seen["held"]["unsolicited_emission"]
    assert held.run == journal.db.execute("SELECT max(id) FROM runs").fetchone()[0]
    assert seen["held"][JOURNAL_FAULT].number > FAULT_NUMBER_BASE
    # Afterwards everything made meanwhile is in the journal, in order, numbered without a gap.
    assert seen["writes"] and seen["fault_after"] is None and seen["reserve_after"]
    mine, theirs = records(journal), records(reference)
    assert [r["seq"] for r in mine] == list(range(1, len(mine) + 1))
    faults = [r for r in mine if r.get("kind") == JOURNAL_FAULT]
    assert [f["event"] for f in faults] == ["raised", "cleared"]
    assert "held" in faults[1]["detail"] and "0 reading(s) and" in faults[1]["detail"]

    def evidence(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["kind"] if "kind" in r and r.get("number") is None else "reading",
                 r.get("event"), r.get("number"), r.get("start"), r.get("end"), r.get("at"),
                 r.get("counts")) for r in rows if r.get("kind") != JOURNAL_FAULT]
    # The same records as a run whose journal never failed (the virtual clock is the same).
    assert sorted(evidence(mine), key=repr) == sorted(evidence(theirs), key=repr)
    unsolicited = [r for r in mine if r.get("kind") == "unsolicited_emission"]
    assert [u["number"] for u in unsolicited] == [held.number] * 2
    assert unsolicited[0]["at"] == held.at


def test_a_start_on_a_full_disk_runs_degraded_and_catches_up(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "journal.db"
    first = Journal(path)
    first.start_run(clock.wall())
    first.close()
    journal = FlakyJournal(path)  # opens: a journal of this schema opens without writing
    journal.fail = True
    factory = MockFactory()
    agent = Agent(config(tmp_path), clock, pin_factory=factory, journal=journal)
    try:
        assert agent.writer.hold.fault is not None and agent.health() is not None
        assert agent.alarm_output is not None and agent.alarm_output.is_on
        # Unwritten, run 2 would be chosen again by a restart on the same full disk (its
        # alarms would share (run, number) with this one's): the start's second is taken.
        run = int(clock.wall())
        assert agent.journal.run == run and agent.live_state()["held_alarms"][0]["run"] == run
        clock.advance(5.0)
        agent.step()
        assert agent.writer.hold.fault is not None  # still failing: still held
        journal.fail = False
        clock.advance(1.0)
        agent.step()
        assert agent.writer.hold.fault is None and agent.health() is None
        assert not agent.alarm_output.is_on
        assert journal.db.execute("SELECT id FROM runs ORDER BY id").fetchall() == [(1,),
                                                                                  (run,)]
        written = records(journal)
        kinds = [(r["kind"], r["event"], r["run"]) for r in written if r["kind"] != "changes"]
        assert kinds == [(JOURNAL_FAULT, "raised", run), (JOURNAL_FAULT, "cleared", run)]
        # The inputs found at the start (a new journal: every one) were held and written too.
        found = [(r["signal"], r["origin"], r["run"]) for r in written if r["kind"] == "changes"]
        assert found == [(signal, "start", run) for signal in agent.inputs.values()]
    finally:
        agent.close()


def test_the_held_queue_drops_readings_first_and_counts_them() -> None:
    hold = JournalHold(max_held=3)
    hold.begin(0.0, "disk full")
    reading = Reading(0.0, 10.0, 5, 10.0, 30.0, 0.01, 0.1, 0.01, 0.2, 0.02, False, "x", 10, 0)
    exposure = ExposureRecord(1, 1.0, requested=True, procedure=1)
    alarm = AlarmRecord(1, "unsolicited_emission", None, 2.0, 2.0)
    for item in (ReadingReady(reading), ExposureOpened(exposure), AlarmRaised(alarm),
                 ReadingReady(reading), AlarmRaised(alarm)):
        hold.hold(item, 0.0, True)
    assert [type(h.output).__name__ for h in hold.items] == [
        "ExposureOpened", "AlarmRaised", "AlarmRaised"]
    assert hold.dropped == 2 and hold.held_total == 5
    exposure.end = 9.0  # the held copy is the record as it was
    assert hold.items[0].output.exposure.end is None  # type: ignore[union-attr]
    assert "2 reading(s) and 0 input change record(s) dropped" in hold.end(
        5.0, lambda t: t).detail
    assert MAX_HELD * 10.0 > 86400.0  # more than a day of 10-s readings


def test_once_no_reading_is_held_the_oldest_change_record_goes() -> None:
    hold = JournalHold(max_held=2)
    hold.begin(0.0, "disk full")
    alarm = AlarmRecord(1, "unsolicited_emission", None, 2.0, 2.0)
    door = [ChangeRecord("door.corridor", k % 2 == 0, float(k), float(k), 1) for k in range(3)]
    for item in (door[0], AlarmRaised(alarm), door[1], door[2]):
        hold.hold(item, 0.0, True)
    assert [h.output for h in hold.items] == [AlarmRaised(alarm), door[2]]
    assert (hold.dropped, hold.dropped_changes) == (0, 2)


def _ago(base: float, t: float) -> float:
    return base + t


def _reading(start: float) -> Reading:
    return Reading(start, start + 10.0, 5, 10.0, 30.0, 0.01, 0.1, 0.01, 0.2, 0.02, False, "x",
                   10, 0)


def test_retention_prunes_only_acknowledged_old_records(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.start_run(0.0)
    day = 86400.0
    now = 1_000 * day
    for age_days in (900, 800, 700, 10):  # seq 1..4
        journal.reading(_reading(0.0), functools.partial(_ago, now - age_days * day))
    alarm = AlarmRecord(1, "unsolicited_emission", None, 0.0, 0.0)
    alarm.cleared = 1.0
    journal.alarm_raised(alarm, lambda t: now - 850 * day + t)  # seq 5
    journal.alarm_cleared(alarm, lambda t: now - 850 * day + t)  # seq 6
    outbox = Outbox(journal.path)
    upkeep = JournalUpkeep(journal, retention_days=400, reserve_mb=0, now=0.0)
    assert upkeep.prune(now) == 0  # nothing acknowledged yet, however old
    outbox.acknowledge(1)
    assert upkeep.prune(now) == 1  # the 900-day-old reading
    outbox.acknowledge(3)
    assert upkeep.prune(now) == 0  # the 850-day-old alarm still waits: nothing after it goes
    assert len(journal.alarms()) == 1
    outbox.acknowledge(6)
    assert upkeep.prune(now) == 3  # two readings and the alarm; never the 10-day-old one
    assert journal.readings_count() == 1 and journal.alarms() == []
    assert upkeep.checkpoint()
    outbox.close()
    journal.close()


def test_retention_reads_no_outbox_while_nothing_is_past_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulated day's outbox only grows (no hub): reading every waiting record at each
    prune cost the simulator a few % for nothing, since nothing was old enough to go."""
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.start_run(0.0)
    day = 86400.0
    now = 1_000 * day
    journal.reading(_reading(0.0), functools.partial(_ago, now - 10 * day))
    upkeep = JournalUpkeep(journal, retention_days=400, reserve_mb=0, now=0.0)
    read: list[int] = []
    real = JournalUpkeep._oldest_waiting
    monkeypatch.setattr(JournalUpkeep, "_oldest_waiting",
                        staticmethod(lambda conn: read.append(1) or real(conn)))
    assert upkeep.prune(now) == 0 and read == []
    journal.reading(_reading(0.0), functools.partial(_ago, now - 500 * day))
    assert upkeep.prune(now) == 0 and read == [1]  # old enough, but still waiting
    journal.close()


def test_the_reserve_is_released_and_made_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", durable=False)
    upkeep = JournalUpkeep(journal, retention_days=400, reserve_mb=0.25, now=0.0)
    reserve = Path(journal.path + ".reserve")
    assert not upkeep.reserve_held and upkeep.ensure_reserve()
    assert reserve.stat().st_size == 256 * 1024 and upkeep.reserve_held
    assert upkeep.release_reserve() and not reserve.exists() and not upkeep.reserve_held
    assert not upkeep.release_reserve()  # nothing left to give
    assert upkeep.ensure_reserve() and reserve.exists()
    journal.close()


def test_a_record_the_contract_refuses_is_reported_never_held(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused record fails the same way on every retry: holding it would block every
    record after it. It is logged as a software fault and the journal goes on."""
    journal = Journal(tmp_path / "journal.db")
    agent = Agent(config(tmp_path), clock, pin_factory=MockFactory(), journal=journal)
    try:
        bad = Reading(1.0, 0.5, 5, 10.0, 30.0, 0.01, 0.1, 0.01, 0.2, 0.02, False, "x", 10, 0)
        good = _reading(2.0)
        with caplog.at_level("ERROR"):
            agent._handle([ReadingReady(bad), ReadingReady(good)])
        hold = agent.writer.hold
        assert hold.fault is None and not hold.items and agent.health() is None
        assert "journal_record_refused" in caplog.text
        outbox = Outbox(journal.path)
        try:
            (only,) = outbox.pending(1, 20, kinds=("readings",))
        finally:
            outbox.close()
        assert json.loads(only.item)["start"] == iso_utc(clock.wall() - clock.monotonic() + 2.0)
    finally:
        agent.close()


def test_a_failed_write_leaves_nothing_behind_and_the_same_record_goes_in_after(
    tmp_path: Path,
) -> None:
    """All or nothing: sqlite-utils commits each statement unless a transaction is open, so
    a write whose COMMIT fails must have opened one, or its record row would stay without
    its outbox row and every retry would fail on the row left behind."""
    path = tmp_path / "journal.db"
    journal = FlakyJournal(path)
    journal.start_run(1000.0)
    exposure = ExposureRecord(number=1, start=5.0, requested=True, procedure=1)
    alarm = AlarmRecord(1, "unsolicited_emission", None, 5.0, 5.0)

    def wall(t: float) -> float:
        return 1_767_596_400.0 + t

    journal.fail = True
    with pytest.raises(JournalError):
        journal.exposure_opened(exposure, wall, "cal")
    with pytest.raises(JournalError):
        journal.alarm_raised(alarm, wall)
    with pytest.raises(JournalError):
        journal.start_run(1001.0)
    assert journal.db.execute("SELECT count(*) FROM exposures").fetchone()[0] == 0
    assert journal.db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 0
    assert journal.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    journal.fail = False
    journal.exposure_opened(exposure, wall, "cal")
    journal.alarm_raised(alarm, wall)
    outbox = Outbox(path)
    try:
        assert [(p.seq, p.kind) for p in outbox.pending(1, 10)] == [(1, "exposures"),
                                                                    (2, "alarms")]
    finally:
        outbox.close()
    journal.close()
