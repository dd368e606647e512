"""Every scenario of the library through a real Mosquitto and the real hub, as a room would send it.

One broker (the generated ACL, one device account per scenario) and one
``voyant-hub run`` serve the whole module; each scenario is a ``voyant-sim
room`` process (the real agent, journal and publisher) with its own device
and journal, played as fast as the simulator goes (``--fast``: the probe's
frames in process; tests/test_sim_modes.py holds the pty path to the same
reports; ``--no-fsync``: the journal's commits do not wait for the disk, which
a test of the wire does not need), :data:`PARALLEL` at once.
At the end of each: the room's closing line says every record was
acknowledged, its outbox is empty, the hub refused nothing (no quarantine,
no rejected message from that room), and the hub holds exactly the journal's
records, field by field. The library is read at collection time, so a new
scenario is played here as soon as its file exists.

Each room also writes its run's report, checked against the scenario's
``[expect]``: the long scenarios are played only here (tests/test_scenarios_play.py
plays the short ones on their own), so one play serves both the scenario and the
wire.

Scenarios longer than :data:`LONG_S` of virtual time (a working day, the
hour-long fluoroscopy cases) are a separate test, ``test_long_scenario_…``,
so that their cost shows on its own (``pytest --durations``; ``-s`` prints
each room's time).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub.broker.files import DeviceAccount
from sim.broker import Mosquitto, MosquittoMissing
from sim.scenario import load_scenario
from tests.mqtt_fixtures import HUB
from tests.scenario_files import FILES, LIBRARY, duration_s
from tests.test_scenarios_play import LONG_S
from tests.wire_rig import (
    Proc,
    Rig,
    assert_hub_equals_journal,
    closing_line,
    last_seq,
    outbox_seqs,
    rows,
    wait_until,
)

#: Rooms played at once (each is one busy process; the hub and the broker need a share).
PARALLEL = max(1, min(3, (os.cpu_count() or 1)))
#: Real seconds a room may take to play and drain (the working day takes about a minute).
ROOM_DEADLINE_S = 600.0


SHORT = [p for p in FILES if duration_s(p) <= LONG_S]
LONG = [p for p in FILES if duration_s(p) > LONG_S]


def account(path: Path) -> DeviceAccount:
    """The scenario's own device: site ``lib``, room named after the file."""
    return DeviceAccount(f"lib.{path.stem}", f"{path.stem}-secret", "lib", path.stem)


@dataclass
class Played:
    path: Path
    device: DeviceAccount
    proc: Proc | None = None
    started: float = 0.0
    took_s: float | None = None


@dataclass
class Library:
    """The rooms of the selected scenarios, started :data:`PARALLEL` at a time, the longest
    first (the shortest total time; a test waits for its own room)."""

    rig: Rig
    hub: Proc
    queue: list[str]
    played: dict[str, Played] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)

    def result(self, path: Path) -> Played:
        """Wait (starting the next rooms as slots free) until ``path``'s room has ended."""
        played = self.played.setdefault(path.stem, Played(path, account(path)))
        if path.stem not in self.queue and played.proc is None:
            self.queue.insert(0, path.stem)
        wait_until(lambda: self._advance(path.stem), f"the room playing {path.name}",
                   ROOM_DEADLINE_S)
        return played

    def _advance(self, stem: str) -> bool:
        running = 0
        for played in self.played.values():
            if played.proc is not None and played.took_s is None:
                assert played.proc.popen is not None
                if played.proc.popen.poll() is None:
                    running += 1
                else:
                    played.took_s = time.monotonic() - played.started
        while running < PARALLEL and self.queue:
            self._start(self.queue.pop(0))
            running += 1
        return self.played[stem].took_s is not None

    def _start(self, stem: str) -> None:
        played = self.played.setdefault(stem, Played(LIBRARY / f"{stem}.toml",
                                                     account(LIBRARY / f"{stem}.toml")))
        played.started = time.monotonic()
        played.proc = self.rig.room_file(played.device, played.path, linger=60.0,
                                         report=self.report_path(stem), fast=True,
                                         durable=False)

    def report_path(self, stem: str) -> Path:
        return self.rig.directory / f"{stem}.report.json"


@pytest.fixture(scope="module")
def library(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Library]:
    """One broker and one hub for every scenario the session selected from this module."""
    selected = [item.callspec.params["path"].stem for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")
                and "path" in item.callspec.params]
    selected.sort(key=lambda stem: -duration_s(LIBRARY / f"{stem}.toml"))  # longest first
    directory = tmp_path_factory.mktemp("library")
    broker = Mosquitto(directory / "mosquitto", HUB, [account(p) for p in FILES])
    try:
        broker.start()
    except MosquittoMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    rig = Rig(directory, broker)
    hub = rig.hub()
    lib = Library(rig, hub, selected)
    try:
        hub.wait_log("mqtt_connected")
        yield lib
    finally:
        for played in lib.played.values():
            if played.proc is not None:
                played.proc.close()
        hub.close()
        broker.stop()
        took = {stem: p.took_s for stem, p in lib.played.items() if p.took_s is not None}
        print(f"\nlibrary through the hub: {len(took)} rooms, {PARALLEL} at once,"
              f" {time.monotonic() - lib.began:.1f} s in all; per room (s): "
              + ", ".join(f"{stem} {t:.1f}" for stem, t in took.items()))


def check(library: Library, path: Path) -> None:
    played = library.result(path)
    assert played.proc is not None
    rig, device = library.rig, played.device
    text = played.proc.text()
    journal = rig.journal(device)
    last, acked = closing_line(text)
    print(f"\n{path.stem}: {played.took_s:.1f} s, last seq {last}, acknowledged {acked}")
    assert (last, acked) == (last_seq(journal), last), text[-2000:]
    assert last > 0
    assert played.proc.popen is not None and played.proc.popen.returncode == 0, text[-2000:]
    assert outbox_seqs(journal) == []
    refused = rows(rig.hub_db, "SELECT topic, reason FROM rejected WHERE topic LIKE ?",
                   [f"voyant/v1/{device.site}/{device.room}/%"])
    assert refused == [], f"the hub rejected: {refused[:3]}"
    assert_hub_equals_journal(rig.hub_db, device.username, journal)
    # The same play is the scenario's own test (tests/test_scenarios_play.py plays only the
    # short ones again): exactly the alarms it expects, a reading every interval.
    scenario = load_scenario(path)
    assert scenario.expect is not None
    report = json.loads(library.report_path(path.stem).read_text(encoding="utf-8"))
    assert scenario.expect.mismatches(report) == [], json.dumps(report["alarms"], indent=1)
    assert report["readings"]["count"] == int(
        scenario.duration_s // scenario.rules.reading_interval_s)


@pytest.mark.parametrize("path", SHORT, ids=lambda p: p.stem)
def test_scenario_through_the_hub(library: Library, path: Path) -> None:
    check(library, path)


@pytest.mark.parametrize("path", LONG, ids=lambda p: p.stem)
def test_long_scenario_through_the_hub(library: Library, path: Path) -> None:
    check(library, path)
