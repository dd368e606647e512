"""Every debounced input change is a record; pulse trains are compacted (edge_agent.changes).

The tracker alone on virtual times, then the real agent on mock pins: what it
journals for a door, a pulse train, the interlock relay and its reset, and
what it finds at its start.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from edge_agent.changes import (
    TRAIN_SPAN_S,
    ChangeRecord,
    ChangeTracker,
    start_records,
)
from edge_agent.clock import ManualClock
from edge_agent.journal import Journal
from tests.test_agent import start
from wire.records import ChangeItem


def play(tracker: ChangeTracker, edges: list[tuple[float, dict[str, bool]]],
         end: float) -> list[tuple[float, ChangeRecord]]:
    """Feed ``edges`` as the agent does, waking at each deadline the tracker asks for; every
    record with the time it was given out."""
    out: list[tuple[float, ChangeRecord]] = []
    for at, changes in [*edges, (end, {})]:
        while (due := tracker.next_deadline()) is not None and due <= at:
            out += [(due, r) for r in tracker.due(due)]
        out += [(at, r) for r in tracker.on_inputs(at, changes)]
    return out


def pulses(signal: str, start: float, hz: float, seconds: float,
           width: float) -> list[tuple[float, dict[str, bool]]]:
    edges: list[tuple[float, dict[str, bool]]] = []
    for k in range(round(hz * seconds)):
        on = round(start + k / hz, 6)
        edges += [(on, {signal: True}), (round(on + width, 6), {signal: False})]
    return edges


def test_a_pulse_train_is_one_record_at_once_then_one_per_second() -> None:
    edges = pulses("emission", 5.0, 15.0, 10.0, 0.006)
    out = play(ChangeTracker(), edges, 20.0)
    records = [r for _, r in out]
    assert sum(r.count for r in records) == len(edges) == 300
    first, runs = records[0], records[1:]
    assert (first.first, first.last, first.count, first.value) == (5.0, 5.0, 1, True)
    assert out[0][0] == 5.0  # the first edge is journaled when it is known
    assert 9 <= len(runs) <= 11
    for made, run in out[1:]:
        assert run.last - run.first < TRAIN_SPAN_S and run.count > 1
        assert made - run.first <= TRAIN_SPAN_S + 0.1  # never held more than a span
    assert all(b.first > a.last for a, b in itertools.pairwise(records))
    assert records[-1].value is False and records[-1].last == edges[-1][0]
    assert out[-1][0] == records[-1].first + TRAIN_SPAN_S  # the last, at its span's end


def test_an_isolated_door_opening_and_closing_are_two_records_made_at_once() -> None:
    tracker = ChangeTracker()
    opened = tracker.on_inputs(3.0, {"door.corridor": True})
    assert tracker.next_deadline() is None  # nothing held back
    closed = tracker.on_inputs(60.0, {"door.corridor": False})
    assert opened == [ChangeRecord("door.corridor", True, 3.0, 3.0, 1)]
    assert closed == [ChangeRecord("door.corridor", False, 60.0, 60.0, 1)]
    assert tracker.due(1000.0) == [] and tracker.close() == []


def test_a_run_is_closed_at_its_span_or_once_stable_for_the_gap() -> None:
    tracker = ChangeTracker()
    assert len(tracker.on_inputs(1.0, {"door.corridor": True})) == 1
    assert tracker.on_inputs(1.3, {"door.corridor": False}) == []
    assert tracker.on_inputs(1.5, {"door.corridor": True}) == []
    assert tracker.next_deadline() == 1.3 + TRAIN_SPAN_S  # before stable for the gap (2.5)
    assert tracker.due(2.29) == []
    assert tracker.due(2.3) == [ChangeRecord("door.corridor", True, 1.3, 1.5, 2)]
    assert tracker.next_deadline() is None
    assert tracker.on_inputs(2.6, {"door.corridor": False}) == [
        ChangeRecord("door.corridor", False, 2.6, 2.6, 1)]  # later than the gap: alone again
    short = ChangeTracker(gap_s=0.5, span_s=1.0)  # a gap shorter than the span
    short.on_inputs(0.0, {"emission": True})
    short.on_inputs(0.2, {"emission": False})
    assert short.next_deadline() == 0.7 and short.due(0.7) == [
        ChangeRecord("emission", False, 0.2, 0.2, 1)]


def test_two_inputs_interleaved_keep_their_own_runs() -> None:
    emission = pulses("emission", 0.0, 7.5, 3.0, 0.008)
    door = [(round(0.05 + 0.4 * k, 6), {"door.corridor": k % 2 == 0}) for k in range(6)]
    edges = sorted(emission + door, key=lambda e: e[0])
    records = [r for _, r in play(ChangeTracker(), edges, 10.0)]
    by_signal: dict[str, list[ChangeRecord]] = {}
    for r in records:
        by_signal.setdefault(r.signal, []).append(r)
    assert sum(r.count for r in by_signal["emission"]) == len(emission)
    assert sum(r.count for r in by_signal["door.corridor"]) == len(door) == 6
    assert by_signal["door.corridor"][0].count == 1  # its first edge, at once
    assert by_signal["door.corridor"][-1].value is False
    assert by_signal["emission"][0] == ChangeRecord("emission", True, 0.0, 0.0, 1)


def test_closing_gives_the_open_runs_as_they_stand() -> None:
    tracker = ChangeTracker()
    tracker.on_inputs(0.0, {"emission": True})
    tracker.on_inputs(0.1, {"emission": False})
    tracker.on_inputs(0.2, {"emission": True})
    assert tracker.close() == [ChangeRecord("emission", True, 0.1, 0.2, 2)]
    assert tracker.next_deadline() is None


def test_start_records_are_made_only_for_inputs_that_changed_unseen() -> None:
    present = {"emission": False, "door.corridor": True, "request": False}
    found = start_records(present, {"emission": False, "door.corridor": False}, 7.0)
    assert found == [ChangeRecord("door.corridor", True, 7.0, 7.0, 0, origin="start"),
                     ChangeRecord("request", False, 7.0, 7.0, 0, origin="start")]
    assert len(start_records(present, {}, 7.0)) == 3  # a new journal: every input


# -- the real agent -----------------------------------------------------------------------

def changes(journal: Journal) -> list[ChangeItem]:
    rows = journal.db.execute(
        "SELECT item FROM outbox WHERE kind = 'changes' ORDER BY seq").fetchall()
    return [ChangeItem.model_validate(json.loads(item)) for (item,) in rows]


def test_the_agent_journals_each_change_and_a_train_compactly(
    tmp_path: Path, clock: ManualClock,
) -> None:
    room = start(tmp_path, clock)
    agent = room.agent
    assert agent is not None
    at_start = changes(agent.journal)
    assert {c.signal for c in at_start} == set(agent.inputs.values())  # a new journal
    assert all(c.origin == "start" and c.count == 0 for c in at_start)
    room.run_to(1.0)
    room.set(door_corridor=True)
    room.run_to(1.1)  # the debounce (20 ms) has settled: journaled, no waiting for a run
    assert [(c.signal, c.value, c.count) for c in changes(agent.journal)[len(at_start):]] == [
        ("door.corridor", True, 1)]
    room.set(request=True)
    for k in range(45):  # 15 pulses/s for 3 s
        room.run_to(2.0 + k / 15)
        room.set(emission=True)
        room.run_to(2.0 + k / 15 + 0.01)
        room.set(emission=False)
    room.run_to(8.0)
    emission = [c for c in changes(agent.journal) if c.signal == "emission" and c.origin == "edge"]
    assert sum(c.count for c in emission) == 90 and emission[0].count == 1
    assert 3 <= len(emission) <= 5 and emission[-1].value is False
    agent.close()


def test_the_interlock_and_its_reset_are_journaled(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock, relay=True)
    agent = room.agent
    assert agent is not None
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)  # nobody asked: the relay opens
    room.run_to(2.0)
    assert agent.reset_interlock("test") is False  # asked for, refused: still journaled
    room.set(emission=False, light_emission=False)
    room.run_to(4.0)
    assert agent.reset_interlock("pcr") is True
    box = [(c.signal, c.value, c.by) for c in changes(agent.journal)
           if c.signal in ("interlock_open", "reset")]
    assert box == [("interlock_open", True, None), ("reset", True, "test"),
                   ("reset", True, "pcr"), ("interlock_open", False, None)]
    agent.close()


def test_a_restart_records_only_what_changed_while_no_agent_watched(
    tmp_path: Path, clock: ManualClock,
) -> None:
    room = start(tmp_path, clock)
    assert room.agent is not None
    room.agent.close()
    clock.advance(60.0)
    again = start(tmp_path, clock, door_corridor=True)  # opened while the agent was down
    assert again.agent is not None
    found = [c for c in changes(again.agent.journal) if c.run == again.agent.journal.run]
    assert [(c.signal, c.value, c.origin, c.count) for c in found] == [
        ("door.corridor", True, "start", 0)]
    again.agent.close()


def test_a_journal_whose_changes_cannot_be_read_gives_every_start_record(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.db.execute("DROP TABLE changes")  # as unreadable as a damaged page there
    assert journal.last_inputs() == {}
    journal.close()
