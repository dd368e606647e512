"""Plays a scenario against the real agent, in lockstep on virtual time.

The agent is the real :class:`~edge_agent.agent.Agent` with gpiozero's mock
pins, its real probe link reading a pseudo-terminal fed by the real firmware
code (or its GPIO pulse counter fed through the counting seam), and a real
journal. Virtual time jumps from one instant to the next: a scenario change,
a probe frame, or the next deadline the agent asks for (a debounce settling,
a grace time running out, a reading due). At each instant the changes are
applied together, the probe delivers, and time moves on only after the agent
has consumed everything delivered.

Between the agent's deadlines, serial probe frames go in bursts
(:mod:`sim.batching`): the firmware makes each at its own millisecond, the
agent reads them together at the last one's instant, and records exactly
what it records with a step per frame. ``fast`` plays the same frame bytes
through an in-process port instead of the pty (:mod:`sim.fast_probe`).
Where frames may go in bursts, an instant that only moves pins or the field
gets no step of its own when the agent says it would do nothing there
(:meth:`~edge_agent.agent.Agent.idle_at`: the edges wait in their debounce);
the step at the debounce's end does the work, as it would anyway.
"""

from __future__ import annotations

import fcntl
import struct
import termios
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
from sim.batching import MAX_BURST, BurstGuard
from sim.fast_probe import MemoryProbe
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
#: Real seconds the simulator asks the pty for a burst's bytes before it sleeps on them.
SPIN_S = 0.0005
#: Paced, a burst spans at most this much real time (at 200 times real time, the fault
#: tests' pace, 40 frames; at real time, the demo's, one frame: no bursts).
PACED_BURST_S = 0.02

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
        fast: bool = False, bursts: bool | None = None, skip_idle: bool = True,
        **config_overrides: Any,
    ) -> None:
        """``speed`` paces virtual time at that many times real time (None: as fast as it goes);
        ``on_step`` runs after every step of the agent (the MQTT publisher's hook);
        ``control`` injects faults while it plays and stops it early (:mod:`sim.inject`);
        ``fast``: the probe's bytes in process, not through a pty; ``bursts``: frames in
        bursts where that records the same (never while controlled, at most
        :data:`PACED_BURST_S` of real time while paced; None: unless an
        ``on_step`` hook is set, since a hook may act on the agent between two frames);
        ``skip_idle``: where frames may go in bursts, or the probe is counted on a pin, no
        step at an instant that only moves pins or the field when the agent says that step
        would do nothing (:meth:`_idle`); ``on_step`` runs after the steps taken only: a
        step skipped leaves the agent as it was, and a hook that acts at a virtual time
        acts at the next step taken."""
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
        self.fast = fast
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
        self.bursts = bursts
        self.guard = (BurstGuard(self.agent, FRAME_S)
                      if bursts is not False and control is None and self.probe.link is not None
                      else None)
        #: Most frames in one burst: a paced burst waits for its last frame's real time.
        self.max_burst = MAX_BURST if speed is None else max(
            1, min(MAX_BURST, int(speed * PACED_BURST_S / FRAME_S)))
        #: Frames the next burst draws ahead: the frames the last one took when the guard cut
        #: it, twice as many (up to :attr:`max_burst`) after one it let through whole.
        self.lookahead = self.max_burst
        self.skip_idle = skip_idle and (
            self.guard is not None or self.probe.gpio is not None)
        self.steps_skipped = 0

    def _make_probe(self) -> _Probe:
        if self.scenario.room.probe == "gpio":
            gpio = GpioPulseProbe(
                GPIO_PROBE_PIN, self.clock, pin_factory=self.factory, frame_s=FRAME_S
            )
            return _Probe(None, None, gpio)
        if self.fast:
            memory = MemoryProbe()
            return _Probe(memory, memory.link(self.clock, FRAME_S), None)
        pty = PtyProbe()
        link = SerialProbeLink(pty.port_path, self.clock, frame_s=FRAME_S)
        return _Probe(pty, link, None)

    def _rest(self) -> None:
        for signal in self.config.pins.inputs():
            self.room.set(signal, RESTING.get(signal, False))

    # -- playing -------------------------------------------------------------------

    def run(self) -> Report:
        timeline = build_timeline(self.scenario)
        times = [instant.t for instant in timeline]
        duration = self.scenario.duration_s
        frames = 1
        index, count = 0, len(timeline)
        self._step()
        last_t, stalls = -1.0, 0
        inf = float("inf")
        made, next_frame = 0, 0.0  # the frame whose time next_frame is
        agent, clock, radiation, injected = self.agent, self.clock, self.radiation, self._injected
        while True:
            if self.control is not None:
                if self.control.stopping:
                    break
                self._take_injected()
                injected = self._injected
            next_change = times[index] if index < count else inf
            next_inject = injected[0].t if injected else inf
            if frames != made:
                made, next_frame = frames, round(frames * FRAME_S, 6)
            wake = agent.next_wakeup()
            t = min(next_change, next_inject, next_frame, inf if wake is None else wake)
            if t > duration and not injected:  # an injected fault always ends
                break
            stalls = stalls + 1 if t <= last_t else 0
            if stalls > 1000:
                raise LockstepError(f"virtual time does not advance past {t} s")
            last_t = t
            if next_frame == t:
                before = min(next_change, next_inject)
                if t < before and self._may_burst():
                    frames, t = self._burst(frames, before, wake, duration)
                    continue
            if self.speed is not None:
                self._pace(t)
            radiation.advance(t)
            now = clock.monotonic()
            clock.advance_to(t if t > now else now)
            idle = False
            if next_change == t:
                instant = timeline[index]
                self._apply(instant)
                idle = next_frame != t and next_inject != t and self._idle(instant, t)
                index += 1
            if next_inject == t:
                self._apply(self._injected.pop(0))
            stepped = False
            if next_frame == t:
                stepped = self._deliver_frame(t)
                frames += 1
            if not stepped and not idle:  # a step after the frame's would find nothing
                self._step()
        return build_report(self.scenario, self.journal, self.wall_start, self.agent)

    def _idle(self, instant: Instant, t: float) -> bool:
        """A change instant applied alone at ``t`` (no frame, no fault): whether the agent's
        step there may be skipped: skipping allowed, only pins and fields moved, every probe
        byte delivered already read (lockstep; a pulse-counting probe's pulses wait in their
        window, whose end is the agent's probe deadline), and the agent says the step would
        do nothing (:meth:`~edge_agent.agent.Agent.idle_at`: the edges wait in their
        debounce; the next step, at the first deadline, does what this one would have).
        Skipped or not, the journal is the same, record for record
        (tests/test_sim_speed_idle.py)."""
        if not self.skip_idle or any(c.signal == "probe.connected" for c in instant.changes):
            return False
        pty, link = self.probe.pty, self.probe.link
        if self.probe.gpio is None and (
                pty is None or link is None or pty.bytes_written != link.bytes_read):
            return False
        idle = self.agent.idle_at(t)
        self.steps_skipped += idle
        return idle

    def _may_burst(self) -> bool:
        link = self.probe.link
        return (self.guard is not None and (self.bursts or self.on_step is None)
                and self.probe.connected and link is not None and link.fileno() is not None
                and self.guard.possible())

    def _burst(self, first: int, before: float, wake: float | None,
               duration: float) -> tuple[int, float]:
        """Frames ``first``, ``first + 1``... in one burst (:mod:`sim.batching`): while the
        next one comes before ``before`` (a change), at or before ``wake`` and ``duration``,
        and the guard and the agent's chores allow. Returns the next frame and the last time."""
        assert self.guard is not None and self.probe.pty is not None
        assert self.probe.link is not None
        pty, guard = self.probe.pty, self.guard
        last_wake = float("inf") if wake is None else wake
        chore = self.agent.next_chore()
        times: list[float] = []  # the frames no count can cut short: the burst at most
        frame = first
        following = round(frame * FRAME_S, 6)
        while True:
            t = following
            times.append(t)
            frame += 1
            following = round(frame * FRAME_S, 6)
            if (t >= chore or frame - first >= self.lookahead or following >= before
                    or following > last_wake or following > duration):
                break
        if self.speed is not None:
            self._pace(t)  # paced: the burst goes when its last frame's real time comes
        radiation = self.radiation
        if len(times) == 1:
            radiation.advance(t)
            drawn = [radiation.take()]
        else:  # drawn together, those after a frame the guard stops at given back
            drawn = radiation.draw_ahead(times)
        pty.hold()
        delivered, taken, last = 0, 0, len(times) - 1
        for t, counts in zip(times, drawn, strict=True):
            delivered += pty.deliver(counts, round(t * 1000))
            taken += 1
            if taken > last:
                break  # whatever the guard would say (a burst of one frame asks it nothing)
            if taken == 1:
                guard.start()  # the detectors as before the burst: the agent has not stepped
            if not guard.admits(counts):
                break
        if len(times) > 1:
            radiation.keep(taken)
        # While the detectors are near a threshold (an exposure), the guard stops each
        # burst at its first frames: drawing the counts of a hundred frames ahead, then
        # giving back all but one, was most of a busy day's play.
        self.lookahead = (max(1, taken) if taken < len(times)
                          else min(self.max_burst, 2 * self.lookahead))
        frame = first + taken
        self.clock.advance_to(max(t, self.clock.monotonic()))
        target = self.probe.link.bytes_read + delivered + pty.flush()
        if not self._wait_consumed(target):
            self._step()
        return frame, t

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

    def _deliver_frame(self, t: float) -> bool:
        """Deliver the frame ending at ``t``; whether the agent has stepped since."""
        counts = self.radiation.take()
        if not self.probe.connected:
            return False
        if self.probe.gpio is not None:
            self.probe.gpio.add_pulses(counts)
            return False
        assert self.probe.pty is not None and self.probe.link is not None
        target = self.probe.link.bytes_read + self.probe.pty.deliver(counts, round(t * 1000))
        return self._wait_consumed(target)

    def _wait_consumed(self, target: int) -> bool:
        """Lockstep: step the agent until it has read every byte of this frame (whether it
        stepped at all)."""
        assert self.probe.link is not None
        link = self.probe.link
        deadline = time.monotonic() + LOCKSTEP_TIMEOUT_S
        stepped = False
        while link.bytes_read < target:
            if time.monotonic() > deadline or (self.fast and stepped):
                raise LockstepError(f"agent read {link.bytes_read} of {target} probe bytes")
            if not self.fast:
                wait_all_readable(link, target - link.bytes_read, deadline)
            self._step()
            stepped = True
        return stepped

    def close(self) -> None:
        self.agent.close()
        if self.probe.pty is not None:
            self.probe.pty.close()
        self.factory.reset()


def wait_all_readable(link: SerialProbeLink, pending: int, deadline: float) -> None:
    """Wait (real time, up to ``deadline``) until the pty has passed ``pending`` bytes to the
    link's side, so that the agent reads a burst in one read, as it was sent.

    The kernel passes a pty's bytes on from a worker thread, tens of microseconds after the
    write: asking how many are there, again and again for up to :data:`SPIN_S`, sees them
    sooner than sleeping in ``select`` until the worker wakes this process (issue 18: most
    of the pty's cost on a busy day, one frame per burst); then it sleeps as before."""
    fd = link.fileno()
    if fd is None:
        return
    spin_until = time.monotonic() + SPIN_S
    while True:
        try:
            waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return
        now = time.monotonic()
        if waiting >= pending or now >= deadline:
            return
        if now >= spin_until:
            link.wait_readable(0.05)


def run_scenario(scenario: Scenario, *, fast: bool = False) -> Report:
    """Play ``scenario`` once in a scratch directory and return its report (``fast``: the
    probe's bytes in process, :mod:`sim.fast_probe`)."""
    with scratch_dir() as tmp:
        sim = Simulation(scenario, Path(tmp), fast=fast)
        try:
            return sim.run()
        finally:
            sim.close()
