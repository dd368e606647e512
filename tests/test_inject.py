"""Faults injected into a playing room (sim/inject.py): the demo's control and the browser tests'.

The simulation runs at full speed here; the injection arrives from ``on_step``
(as it would from another thread) at a chosen virtual time, and the agent
must record exactly the alarm the fault makes, when the fault says.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.demo_files import ROOMS, library_path
from sim.inject import Fault, RoomControl, parse_fault
from sim.report import Report
from sim.runner import Simulation
from sim.scenario import load_scenario, parse_scenario

QUIET = """name = "quiet room"
duration_s = 60.0
seed = 3
[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "serial"
probe_position = "inside"
[[exposure]]
at = 10.0
duration_s = 8.0
dose_rate_usv_h = 300.0
"""


def play(tmp_path: Path, control: RoomControl, hook: Callable[[float], None]) -> Report:
    sim = Simulation(parse_scenario(QUIET), tmp_path, control=control)
    sim.on_step = lambda agent: hook(sim.clock.monotonic())
    try:
        return sim.run()
    finally:
        sim.close()


def inject_at(control: RoomControl, at_s: float, fault: Fault) -> Callable[[float], None]:
    done: list[bool] = []

    def hook(now: float) -> None:
        if now >= at_s and not done:
            done.append(True)
            control.inject(fault)

    return hook


def test_an_unsolicited_emission_injected_in_a_quiet_room_raises_its_alarm_now(
    tmp_path: Path,
) -> None:
    control = RoomControl()
    report = play(tmp_path, control, inject_at(control, 30.0, Fault("unsolicited", 4.0)))
    alarms = [(a["kind"], a["at_s"], a["cleared_s"]) for a in report["alarms"]]
    assert len(alarms) == 1
    kind, at_s, cleared_s = alarms[0]
    assert kind == "unsolicited_emission"
    assert 30.0 <= at_s <= 30.2 and cleared_s == pytest.approx(at_s + 4.0, abs=0.15)
    assert [e["requested"] for e in report["exposures"]] == [True, False]
    assert control.injected == 1


def test_a_fault_waits_for_the_running_exposure_to_end(tmp_path: Path) -> None:
    control = RoomControl()  # injected at 12 s, during the exposure of 10 s to 18.3 s
    report = play(tmp_path, control, inject_at(control, 12.0, Fault("unsolicited", 2.0)))
    [alarm] = report["alarms"]
    assert alarm["kind"] == "unsolicited_emission"
    assert 20.3 <= alarm["at_s"] <= 20.5  # 2 s quiet after the exposure


def test_stop_ends_the_play_early(tmp_path: Path) -> None:
    control = RoomControl()

    def hook(now: float) -> None:
        if now >= 5.0:
            control.stop()

    report = play(tmp_path, control, hook)
    assert report["readings"]["count"] == 0  # stopped before the first 10 s reading
    assert report["exposures"] == []


def test_faults_are_checked_by_name() -> None:
    assert parse_fault("unsolicited", 3.0) == Fault("unsolicited", 3.0)
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault("meltdown")
    with pytest.raises(ValueError, match="duration_s"):
        parse_fault("radiation", 0.0)


def test_the_demo_rooms_play_library_scenarios() -> None:
    for room in ROOMS:
        assert load_scenario(library_path(room.scenario)).expect is not None


def test_inject_without_a_running_demo_names_the_problem(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sim.cli", "demo", "--dir", str(tmp_path), "--inject",
         "unsolicited", "--room", "bloc-3"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no demo running" in result.stderr
