"""The simulator's ways of playing a scenario record the same thing, and the monitor's memory
of its last judgement changes no decision.

- Default: the firmware's frames through a pty, in bursts between the agent's deadlines
  (:mod:`sim.batching`); ``--fast``: the same frame bytes through an in-process port
  (:mod:`sim.fast_probe`). Every serial scenario of the library gives the same ``--json``
  report both ways (GPIO scenarios have no byte path: the two ways are one); the working
  day over its first :data:`WORKING_DAY_S` (its first procedures, idle time between them:
  the whole day is event after event of the same kinds, and would cost the suite a
  minute). The short ones are also played frame by frame (no bursts): the reference the
  bursts must equal.
- The monitor judges its rule table again only when something a rule reads has changed or a
  grace may run out (:mod:`edge_agent.monitor.monitor`): hypothesis writes streams (those of
  tests/test_record_properties.py) played on the monitor and on one that forgets what it
  judged before every judgement, and every output and deadline must be the same; and each
  time the monitor keeps its judgement because it saw nothing change (nothing settled, the
  probe watch's version unmoved), the room must be the one it judged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from edge_agent.monitor.monitor import DoseSetup, Monitor
from edge_agent.monitor.records import Output
from edge_agent.probe.sample import ProbeSample
from sim.batching import MAX_BURST, BurstGuard
from sim.inject import RoomControl
from sim.room import scratch_dir
from sim.runner import PACED_BURST_S, Simulation, run_scenario
from sim.scenario import Scenario, load_scenario
from tests.scenario_files import LIBRARY, by_probe
from tests.test_record_properties import (
    DOORS,
    EPOCH,
    FRAME_S,
    MAX_WAKES,
    Burst,
    Inputs,
    Setup,
    Silence,
    Step,
    WallStep,
    setups,
    steps,
)

#: Scenarios up to this long (virtual seconds) are also played frame by frame.
SHORT_S = 720.0
#: How much of the working day is played both ways (two procedures and the gap between).
WORKING_DAY_S = 5400.0


SERIAL = by_probe("serial")
GPIO = by_probe("gpio")


def play(scenario: Scenario, *, fast: bool, bursts: bool = True) -> dict[str, object]:
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp), fast=fast, bursts=bursts)
        try:
            return dict(sim.run())
        finally:
            sim.close()


@pytest.mark.parametrize("path", SERIAL, ids=lambda p: p.stem)
def test_a_serial_scenario_gives_the_same_report_through_the_pty_and_in_process(
        path: Path) -> None:
    scenario = load_scenario(path)
    if path.stem == "working_day":
        scenario = dataclasses.replace(scenario, duration_s=WORKING_DAY_S)
    through_pty = run_scenario(scenario)
    assert run_scenario(scenario, fast=True) == through_pty
    if scenario.duration_s <= SHORT_S:
        assert play(scenario, fast=True, bursts=False) == through_pty


def test_gpio_scenarios_have_no_byte_path() -> None:
    assert GPIO, "the library plays the GPIO probe too"
    scenario = load_scenario(GPIO[0])
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp), fast=True)
        try:
            assert (sim.probe.pty, sim.probe.link, sim.guard) == (None, None, None)
        finally:
            sim.close()


def test_a_paced_room_goes_in_bursts_of_its_real_time_and_records_the_same() -> None:
    """Paced (the fault tests' rooms), a burst spans at most PACED_BURST_S of real time: none
    at real time (one frame), up to MAX_BURST fast; a controlled room (the demo's, faults
    injected between steps) has none. What it records is the unpaced play's."""
    scenario = load_scenario(LIBRARY / "door_open_during_fluoroscopy.toml")
    expected = {None: MAX_BURST, 1.0: 1, 200.0: round(200.0 * PACED_BURST_S / FRAME_S),
                1e6: MAX_BURST}
    for speed, most in expected.items():
        with scratch_dir() as tmp:
            sim = Simulation(scenario, Path(tmp), fast=True, speed=speed)
            sim.close()
        assert (sim.max_burst, sim.guard is not None) == (most, True), speed
    with scratch_dir() as tmp:
        controlled = Simulation(scenario, Path(tmp), fast=True, control=RoomControl())
        controlled.close()
    assert controlled.guard is None
    paced = load_scenario(LIBRARY / "radiation_without_emission.toml")  # quiet, then an alarm
    with scratch_dir() as tmp:
        sim = Simulation(paced, Path(tmp), fast=True, speed=2400.0)  # 0.1 s of real time
        steps: list[None] = []
        step = sim.agent.step
        sim.agent.step = lambda: (steps.append(None), step())[1]  # type: ignore[method-assign]
        try:
            report = dict(sim.run())
        finally:
            sim.close()
    assert len(steps) < paced.duration_s / FRAME_S / 4  # in bursts: far fewer steps than frames
    assert report == play(paced, fast=True, bursts=False)


def test_bursts_are_cut_where_a_detector_could_raise() -> None:
    """Counts far above background end a burst at once; quiet frames go on."""
    scenario = load_scenario(LIBRARY / "radiation_without_emission.toml")
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp), fast=True)
        try:
            guard = sim.guard
            assert isinstance(guard, BurstGuard) and guard.possible()
            guard.start()
            assert all(guard.admits(0) for _ in range(100))
            assert guard.admits(1)
            assert not guard.admits(40)
        finally:
            sim.close()


def test_where_the_guard_stops_bursts_at_once_few_frames_are_drawn_ahead() -> None:
    """Through an exposure the guard ends each burst at its first frame: the next burst draws
    ahead what the last one took, not a hundred frames to give all but one back (issue 18:
    most of a fluoroscopy's play); quiet again, the bursts grow back. Reports unchanged
    (the tests above)."""
    scenario = dataclasses.replace(load_scenario(LIBRARY / "fluoroscopy_time_exceeded.toml"),
                                   duration_s=600.0)
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp), fast=True)
        drawn: list[int] = []
        draw = sim.radiation.draw_ahead

        def counted(times: list[float]) -> list[int]:
            drawn.append(len(times))
            return draw(times)

        sim.radiation.draw_ahead = counted  # type: ignore[method-assign]
        try:
            sim.run()
        finally:
            sim.close()
    frames = scenario.duration_s / FRAME_S
    assert sum(drawn) < 2 * frames, (sum(drawn), frames)  # a hundred ahead each time: 36 times
    assert max(drawn) > 10  # between the exposures, long bursts again (cut by the chores)


# -- the monitor's memory ----------------------------------------------------------------------


class Amnesic(Monitor):
    """The monitor judging its whole table every time (its memory wiped before each use)."""

    def _judge(self, out: list[Output], asof: float) -> None:
        self._judged = None
        super()._judge(out, asof)

    def _kept(self, asof: float) -> bool:
        return False  # judged again at every step, changed or not

    def _rule_deadlines(self) -> list[float | None]:
        self._deadlines = None
        return super()._rule_deadlines()


class Checked(Monitor):
    """The monitor, checking each time it keeps its last judgement on the word of its own
    change tracking (nothing settled, the probe's version unmoved) that the room and the
    alarm book are indeed the ones it last judged."""

    def _kept(self, asof: float) -> bool:
        kept = super()._kept(asof)
        if kept:
            assert self._judged is not None
            assert self._judged[0] == (self.room.key(), self.alarms.version), "a change unseen"
        return kept


def _drive(monitor: Monitor, clock: ManualClock, stream: list[Step]) -> list[str]:
    """The stream fed as the agent feeds it; every output (as made) and every deadline."""
    seen = [repr(monitor.start_outputs())]

    def advance(to: float) -> None:
        for _ in range(MAX_WAKES):
            deadline = monitor.next_deadline()
            seen.append(repr(deadline))
            if deadline is None or deadline > to or deadline <= clock.monotonic():
                break
            clock.advance_to(deadline)
            seen.append(repr(monitor.tick(deadline)))
        clock.advance_to(max(to, clock.monotonic()))
        seen.append(repr(monitor.tick(clock.monotonic())))

    for step in stream:
        if isinstance(step, WallStep):
            continue
        advance(clock.monotonic() + step.dt)
        if isinstance(step, Inputs):
            seen.append(repr(monitor.on_inputs(clock.monotonic(), step.changes)))
        elif isinstance(step, Burst):
            for gap, duration, n, hv_ok, fault, lost in step.samples:
                if gap:
                    advance(clock.monotonic() + gap)
                sample = ProbeSample(clock.monotonic(), duration, n, hv_ok, fault, lost)
                seen.append(repr(monitor.on_sample(sample)))
    advance(clock.monotonic() + monitor.rules.reading_interval_s)
    return seen


def _played(kind: type[Monitor], setup: Setup, stream: list[Step]) -> list[str]:
    clock = ManualClock(wall_start=EPOCH, mono_start=0.0)
    dose = DoseSetup(setup.calibration, setup.background_usv_h, setup.position, FRAME_S)
    monitor = kind(setup.rules, DOORS, clock, dose=dose, patient_input=setup.patient)
    return _drive(monitor, clock, stream)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(setup=setups, stream=st.lists(steps, min_size=5, max_size=60))
def test_the_monitor_remembering_its_judgement_decides_the_same(
        setup: Setup, stream: list[Step]) -> None:
    stream = [s for s in stream if setup.patient
              or not (isinstance(s, Inputs) and "patient" in s.changes)]
    assert _played(Checked, setup, stream) == _played(Amnesic, setup, stream)


def test_the_check_sees_a_change_the_tracking_missed() -> None:
    """A probe cause set behind the watch's back (its version unmoved) is caught."""
    clock = ManualClock(wall_start=EPOCH, mono_start=0.0)
    dose = DoseSetup(default_calibration(BUILTIN_TUBES["sbm20"]), 0.1, "inside", FRAME_S)
    monitor = Checked(Rules(), DOORS, clock, dose=dose)
    assert monitor.probe is not None
    monitor.tick(0.05)
    monitor.probe.causes["hv"] = 0.05
    with pytest.raises(AssertionError, match="a change unseen"):
        monitor.tick(0.06)


def test_the_comparison_sees_a_forgotten_change() -> None:
    """A monitor whose memory took every room for the one it last judged would miss the
    unsolicited emission: the drive shows the difference."""

    class Blind(Monitor):
        def _judge(self, out: list[Output], asof: float) -> None:
            if self._judged is not None:
                self._judged = ((self.room.key(), self.alarms.version), self._judged[1])
            super()._judge(out, asof)

    setup = Setup(Rules(), default_calibration(BUILTIN_TUBES["sbm20"]), "inside", 0.1, False,
                  True)
    stream: list[Step] = [Silence(1.0), Inputs(0.5, {"emission": True}), Silence(2.0)]
    assert "unsolicited_emission" in "".join(_played(Monitor, setup, stream))
    assert "unsolicited_emission" not in "".join(_played(Blind, setup, stream))
