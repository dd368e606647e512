"""Plays a scenario against the real agent, in lockstep on virtual time.

The agent is the real :class:`~edge_agent.agent.Agent` with gpiozero's mock
pins, its real probe link reading a pseudo-terminal fed by the real firmware
code (or its GPIO pulse counter fed through the counting seam), and a real
journal. Virtual time jumps from one instant to the next: a scenario change,
a probe frame, or the next deadline the agent asks for (a debounce settling,
a grace time running out, a reading due). At each instant the changes are
applied together, the probe delivers, and time moves on only after the agent
has consumed everything delivered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edge_agent.agent import Agent
from edge_agent.clock import ManualClock
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.journal import Journal
from edge_agent.probe.gpio_counter import GpioPulseProbe
from edge_agent.probe.serial_link import SerialProbeLink
from edge_agent.timesync import ClockSync
from sim.inject import RoomControl
from sim.physics import Radiation
from sim.probe_pty import PtyProbe
from sim.report import Report, build_report
from sim.room import FRAME_S, GPIO_PROBE_PIN, MockRoom, agent_config, scratch_dir
from sim.scenario import Scenario
from sim.timeline import Instant, build_timeline, starting_state
from wire.errors import SimError

#: Virtual wall-clock time of every scenario's start (2026-01-05T07:00:00Z, a Monday).
EPOCH = 1_767_596_400.0
#: Real seconds the simulator waits for the agent to read what it was sent.
LOCKSTEP_TIMEOUT_S = 5.0

RESTING = {"generator_powered": True, "light.powered": True}


class LockstepError(SimError, RuntimeError):
    """The agent did not consume what the simulator delivered."""


@dataclass
class _Probe:
    """The simulated probe, whichever driver the agent uses."""

    pty: PtyProbe | None
    link: SerialProbeLink | None
    gpio: GpioPulseProbe | None
    connected: bool = True


class Simulation:
    """One scenario played once (see the module docstring)."""

    def __init__(
        self, scenario: Scenario, workdir: Path, *, wall_start: float = EPOCH,
        journal_path: Path | None = None, durable: bool = False, speed: float | None = None,
        on_step: Callable[[Agent], None] | None = None, control: RoomControl | None = None,
        **config_overrides: Any,
    ) -> None:
        """``speed`` paces virtual time at that many times real time (None: as fast as it goes);
        ``on_step`` runs after every step of the agent (the MQTT publisher's hook);
        ``control`` injects faults while it plays and stops it early (:mod:`sim.inject`)."""
        self.scenario = scenario
        self.wall_start = wall_start
        self.clock = ManualClock(wall_start=wall_start, mono_start=0.0)
        self.factory = MockFactory()
        self.config = agent_config(
            scenario, journal_path or workdir / "journal.db", **config_overrides
        )
        self.speed = speed
        self.on_step = on_step
        self.control = control
        self._state: dict[str, bool | float] = starting_state(scenario.room)
        self._injected: list[Instant] = []
        self._real_start = time.monotonic()
        self.room = MockRoom(self.config, self.factory)
        calibration = calibration_from_config(self.config)
        self.radiation = Radiation(calibration, scenario.room.background_usv_h, scenario.seed)
        self.probe = self._make_probe()
        driver = self.probe.link or self.probe.gpio
        self.journal = Journal(self.config.journal.path, durable=durable)
        self.agent = Agent(
            self.config, self.clock, pin_factory=self.factory, probe=driver,
            journal=self.journal, on_pins_ready=self._rest,
            clock_sync=ClockSync.fixed(True),  # virtual time is synchronised by definition
        )

    def _make_probe(self) -> _Probe:
        if self.scenario.room.probe == "gpio":
            gpio = GpioPulseProbe(
                GPIO_PROBE_PIN, self.clock, pin_factory=self.factory, frame_s=FRAME_S
            )
            return _Probe(None, None, gpio)
        pty = PtyProbe()
        link = SerialProbeLink(pty.port_path, self.clock, frame_s=FRAME_S)
        return _Probe(pty, link, None)

    def _rest(self) -> None:
        for signal in self.config.pins.inputs():
            self.room.set(signal, RESTING.get(signal, False))

    # -- playing -------------------------------------------------------------------

    def run(self) -> Report:
        timeline = build_timeline(self.scenario)
        duration = self.scenario.duration_s
        frames = 1
        index = 0
        self._step()
        last_t, stalls = -1.0, 0
        while True:
            if self.control is not None:
                if self.control.stopping:
                    break
                self._take_injected()
            next_change = timeline[index].t if index < len(timeline) else float("inf")
            next_inject = self._injected[0].t if self._injected else float("inf")
            next_frame = round(frames * FRAME_S, 6)
            wake = self.agent.next_wakeup()
            t = min(next_change, next_inject, next_frame,
                    wake if wake is not None else float("inf"))
            if t > duration and not self._injected:  # an injected fault always ends
                break
            stalls = stalls + 1 if t <= last_t else 0
            if stalls > 1000:
                raise LockstepError(f"virtual time does not advance past {t} s")
            last_t = t
            self._pace(t)
            self.radiation.advance(t)
            self.clock.advance_to(max(t, self.clock.monotonic()))
            if next_change == t:
                self._apply(timeline[index])
                index += 1
            if next_inject == t:
                self._apply(self._injected.pop(0))
            if next_frame == t:
                self._deliver_frame(t)
                frames += 1
            self._step()
        return build_report(self.scenario, self.journal, self.wall_start, self.agent)

    def _take_injected(self) -> None:
        """Add the faults injected since the last step to the instants still to play."""
        assert self.control is not None
        new = self.control.take(self.clock.monotonic(), self._state)
        if new:
            self._injected = sorted(self._injected + new, key=lambda instant: instant.t)

    def _step(self) -> None:
        self.agent.step()
        if self.on_step is not None:
            self.on_step(self.agent)

    def _pace(self, t: float) -> None:
        """Hold virtual time ``t`` back until its real time comes, when paced."""
        if self.speed is None:
            return
        delay = self._real_start + t / self.speed - time.monotonic()
        if delay > 0 and self.control is not None:
            self.control.sleep(delay)  # returns early when the room is asked to stop
        elif delay > 0:
            time.sleep(delay)  # pacing a real-time demo, not waiting for a result

    def _apply(self, instant: Instant) -> None:
        for change in instant.changes:
            self._state[change.signal] = change.value
            if change.signal.startswith("field."):
                self.radiation.set_field(change.signal, float(change.value))
            elif change.signal == "probe.connected":
                self._connect(bool(change.value), instant.t)
            else:
                self.room.set(change.signal, bool(change.value))

    def _connect(self, connected: bool, t: float) -> None:
        self.probe.connected = connected
        if self.probe.pty is not None:
            self.probe.pty.set_connected(connected, round(t * 1000))

    def _deliver_frame(self, t: float) -> None:
        counts = self.radiation.take()
        if not self.probe.connected:
            return
        if self.probe.gpio is not None:
            self.probe.gpio.add_pulses(counts)
            return
        assert self.probe.pty is not None and self.probe.link is not None
        target = self.probe.link.bytes_read + self.probe.pty.deliver(counts, round(t * 1000))
        self._wait_consumed(target)

    def _wait_consumed(self, target: int) -> None:
        """Lockstep: step the agent until it has read every byte of this frame."""
        assert self.probe.link is not None
        link = self.probe.link
        deadline = time.monotonic() + LOCKSTEP_TIMEOUT_S
        while link.bytes_read < target:
            if time.monotonic() > deadline:
                raise LockstepError(f"agent read {link.bytes_read} of {target} probe bytes")
            link.wait_readable(0.05)
            self._step()

    def close(self) -> None:
        self.agent.close()
        if self.probe.pty is not None:
            self.probe.pty.close()
        self.factory.reset()


def run_scenario(scenario: Scenario) -> Report:
    """Play ``scenario`` once in a scratch directory and return its report."""
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp))
        try:
            return sim.run()
        finally:
            sim.close()
