"""The RDSR scenarios end to end (#17 item 7): each played against the real agent, its
journal sent through the hub's own ingest, the RDSRs the simulator writes for it stored as
the storage service stores them, the imaging device mapped to its room as an admin maps
it, and the room reconciled (:func:`hub.rdsr.reconcile_store.reconcile_room`): the
verdicts are the ones each scenario's header tells.

Cheap by design: one in-process play each (GPIO probe, minutes of virtual time), one
store in a temporary folder, no broker and no process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge_agent.outbox import Outbox
from edge_agent.send_state import by_kind
from hub.db.store import Store
from hub.rdsr import devices
from hub.rdsr.reconcile_store import Reconciliation, reconcile_room
from hub.rdsr.store import store_bytes
from hub.timefmt import iso
from hub.web.auth import User
from sim.rdsr_writer import study_files
from sim.runner import EPOCH, Simulation
from sim.scenario import Scenario, load_scenario
from tests.hub_factory import core, status
from tests.scenario_files import LIBRARY
from wire import contract as wire

SITE, HERE = "sim", "salle-1"
ADMIN = User(1, "admin", "admin", "Admin")
#: The reconciliation's wait for the RDSR (hours): the tests judge a day later.
WAIT_H = 6.0


@dataclass
class Played:
    scenario: Scenario
    rooms: dict[str, Reconciliation]
    #: (kind, box, severity) of every reconciliation event opened, sorted.
    events: list[tuple[str, str, str]]

    @property
    def here(self) -> Reconciliation:
        return self.rooms[HERE]


def box(room: str) -> str:
    return f"{SITE}.{room}"


def _messages(journal: Path) -> list[tuple[str, bytes]]:
    """The journal's outbox as the room's publisher sends it."""
    outbox = Outbox(journal)
    try:
        return [(wire.topic(SITE, HERE, wire.RECORD_TOPIC[run[0].kind]), wire.batch_from_json(
            run[0].kind, box(HERE), SITE, HERE, outbox.journal_id, iso(EPOCH),
            [r.item for r in run], run[0].seq, run[-1].seq, outbox.oldest()))
            for run in by_kind(outbox.pending(1, 100_000))]
    finally:
        outbox.close()


def play(tmp_path: Path, name: str) -> Played:
    """Play ``name``, bring its records and RDSRs into a hub, map, reconcile every room."""
    scenario = load_scenario(LIBRARY / f"{name}.toml")
    assert scenario.rdsr is not None
    sim = Simulation(scenario, tmp_path)
    try:
        sim.run()
    finally:
        sim.close()
    end = EPOCH + scenario.duration_s
    others = sorted({d.room for d in scenario.rdsr.devices if d.room and d.room != HERE})
    store = Store.open(tmp_path / "hub.db")
    try:
        ingest = core(store, now=EPOCH)
        ingest.handle_batch(_messages(tmp_path / "journal.db"), end + 1)
        for n, room in enumerate(others, 1):  # the other rooms' boxes, heard from
            ingest.handle_batch([status("online", end, journal=f"{n:032x}", device=box(room),
                                        site=SITE, room=room)], end + 1)
        for _study, raw in study_files(scenario):
            assert store_bytes(store.conn, raw, "SIMRDSR@192.0.2.10").status == "stored"
        for imaging in devices.listing(store.conn):
            system = next(d for d in scenario.rdsr.devices
                          if d.observer_name == imaging.observer_name)
            assert devices.set_mapping(store.conn, str(imaging.id), box(system.room or HERE),
                                       ADMIN)
        start = datetime.fromtimestamp(EPOCH, UTC) - timedelta(hours=1)
        stop = datetime.fromtimestamp(end, UTC) + timedelta(hours=1)
        now = stop + timedelta(days=1)
        rooms = {room: reconcile_room(store.conn, SITE, room, start, stop, now, WAIT_H)
                 for room in (HERE, *others)}
        events = sorted((str(k), str(d), str(s)) for k, d, s in store.conn.execute(
            "SELECT kind, device, severity FROM events WHERE kind IN"
            " ('emission_without_study', 'study_without_emission')"))
    finally:
        store.close()
    return Played(scenario, rooms, events)


def verdicts(done: Reconciliation) -> list[str]:
    return [r.verdict for r in done.result.emissions]


def event_verdicts(done: Reconciliation) -> list[str]:
    return [e.verdict for e in done.result.events]


def test_a_normal_morning_reconciles_cleanly(tmp_path: Path) -> None:
    played = play(tmp_path, "rdsr_clean_day")
    done = played.here
    assert verdicts(done) == ["matched"] * 9
    assert event_verdicts(done) == ["matched"] * 7  # three presses grouped into one event
    assert played.events == []
    assert [(o.seconds, o.pairs) for o in done.offsets.values() if o is not None] == [(0.0, 7)]
    # Voyant's emission time is the RDSR's fluoroscopy plus acquisition time, per study.
    assert len(done.result.studies) == 2
    for study in done.result.studies:
        assert study.difference_s == pytest.approx(0.0, abs=0.01), study


def test_an_emission_with_no_study_open_is_critical(tmp_path: Path) -> None:
    played = play(tmp_path, "rdsr_unsolicited_no_study")
    done = played.here
    assert verdicts(done) == ["matched", "matched", "no_study"]
    alone = done.result.emissions[-1].emission
    assert (alone.start, alone.end) == (EPOCH + 170.0, EPOCH + 173.0)
    assert event_verdicts(done) == ["matched", "matched"]
    assert played.events == [("emission_without_study", box(HERE), "critical")]


def test_a_study_mapped_to_the_wrong_room_leaves_both_rooms_unmatched(tmp_path: Path) -> None:
    """The device mapped to the room next door: that room's events have no emission (the
    wiring check says it); this room has no dose report feed of its own, so its emissions
    are counted as before any feed, not judged (as the job, which skips it)."""
    played = play(tmp_path, "rdsr_wrong_room")
    assert verdicts(played.here) == [] and event_verdicts(played.here) == []
    assert played.here.result.before_feed == 3 and played.here.feed_start is None
    there = played.rooms["salle-voisine"]
    assert verdicts(there) == [] and event_verdicts(there) == ["without_emission"] * 3
    assert played.events == [("study_without_emission", box("salle-voisine"), "warning")] * 3


def test_a_clock_four_minutes_fast_is_estimated_and_then_reconciles(tmp_path: Path) -> None:
    played = play(tmp_path, "rdsr_clock_offset")
    done = played.here
    [offset] = done.offsets.values()
    assert offset is not None and offset.pairs == 3 and offset.drift
    assert offset.seconds == pytest.approx(240.0, abs=0.01)
    assert verdicts(done) == ["matched"] * 3 and event_verdicts(done) == ["matched"] * 3
    assert played.events == []
