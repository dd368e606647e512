"""One demo room's box over the history: the agent's own monitor, change tracker and journal.

The history cannot play the whole agent (gpiozero pins, the probe's pty, a
frame every 0.1 s) over months in seconds, so it runs the parts of the agent
that make records, on virtual time, as :class:`edge_agent.agent.Agent` wires
them: input changes go through :class:`~edge_agent.changes.ChangeTracker`
and the pure :class:`~edge_agent.monitor.monitor.Monitor` (which opens and
closes exposures and raises and clears alarms by its own rules), and every
record goes through :class:`~edge_agent.agent_journal.JournalWriter` into the
real journal (evidence builders, outbox, hash chain). What the probe would
measure is drawn here, a reading every ``period_s`` (the ``[rules]
reading_interval_s`` the box runs with during the history), from the field
of the timeline (background plus the running exposure) through the probe's
calibration, Poisson counts and dead time included.

A box run is one :class:`BoxRun`: a restart (a power cut) is a new run on the
same journal, as the real agent's restart is, so the chain and the sequence
go on and what the last run left open is closed as interrupted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from edge_agent.agent_journal import JournalWriter
from edge_agent.changes import ChangeTracker, start_records
from edge_agent.clock import ManualClock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.dose.tube import rate_with_uncertainty
from edge_agent.journal import Journal
from edge_agent.journal_upkeep import JournalUpkeep
from edge_agent.monitor.monitor import Monitor
from edge_agent.monitor.records import Output, Reading, ReadingReady
from edge_agent.timesync import ClockSync
from sim.room import FRAME_S, agent_config
from sim.runner import RESTING
from sim.scenario import Scenario
from sim.timeline import FIELD_EVENT, FIELD_EXPOSURE, Instant
from wire.records import MAX_CPM

#: The live rooms' reading interval: the history's last hours read as often (the
#: "last hour" chart of a room then has a line to show, not a dot every 15 minutes).
LIVE_READING_S: Final = 10.0


def box_config(scenario: Scenario, journal: Path, device: Mapping[str, Any],
               period_s: float) -> AgentConfig:
    """The configuration of the room's box: the live room's (same doors, rules, probe),
    with the history's reading interval."""
    rules = {**dict(scenario.agent), "reading_interval_s": period_s}
    return agent_config(scenario, journal, device=dict(device), rules=rules)


class BoxRun:
    """One run of the room's agent, from ``wall_start`` (a boot) to :meth:`stop` or a cut."""

    def __init__(self, config: AgentConfig, journal: Journal, wall_start: float,
                 background_usv_h: float, rng: np.random.Generator) -> None:
        self.config = config
        self.journal = journal
        self.clock = ManualClock(wall_start=wall_start, mono_start=0.0)
        self.rng = rng
        self.background_usv_h = background_usv_h
        self.cal = calibration_from_config(config)
        journal.start_run(wall_start)
        upkeep = JournalUpkeep(journal, config.journal.retention_days, 0.0, 0.0)
        self.writer = JournalWriter(journal, upkeep, self.clock, ClockSync.fixed(True),
                                    self.cal.name)
        self.signals: dict[str, bool] = {
            name: RESTING.get(name, False) for name in config.pins.inputs()}
        self.monitor = Monitor(config.rules, list(config.pins.door), self.clock,
                               initial=self.signals,
                               patient_input=config.pins.patient is not None)
        self.changes = ChangeTracker()
        for record in start_records(self.signals, journal.last_inputs(), 0.0):
            self.writer.record(record)
        self._handle(self.monitor.start_outputs())
        self.period_s = float(config.rules.reading_interval_s)
        #: From this wall time on, the box reads every :data:`LIVE_READING_S`.
        self.fine_from = math.inf
        self.field = {FIELD_EXPOSURE: 0.0, FIELD_EVENT: 0.0}
        self._reading_start = 0.0
        self._dose_s = 0.0  # ∫ field dt over the reading so far (µSv/h · s)
        self._max_usv_h = 0.0
        self._last_t = 0.0

    @property
    def mono(self) -> float:
        return self.clock.monotonic()

    def wall(self, mono: float) -> float:
        return mono + (self.clock.wall() - self.clock.monotonic())

    def to_mono(self, wall: float) -> float:
        return self.clock.wall_to_mono(wall)

    def live_state(self) -> dict[str, Any]:
        """What :meth:`edge_agent.agent.Agent.live_state` says of the room now."""
        return {
            "inputs": dict(self.signals),
            "alarms": [{"kind": a.kind, "subject": a.subject,
                        "since": iso_utc(self.wall(a.since))}
                       for a in self.monitor.active_alarms()],
            "exposure_open": self.monitor.exposures.current is not None,
            "calibration": self.cal.name, "interlock_open": None,
        }

    @property
    def dose_rate_usv_h(self) -> float | None:
        return self.writer.dose_rate_usv_h

    # -- time passing --------------------------------------------------------------

    def advance(self, t: float) -> None:
        """Let virtual time run to ``t`` (monotonic): readings due, the monitor's deadlines."""
        while True:
            deadline = self.monitor.next_deadline()
            reading_end = self._reading_start + self._period()
            runs = self.changes.next_deadline()
            step = min(x for x in (t, reading_end, deadline, runs) if x is not None)
            step = max(step, self.mono)
            self._integrate(step)
            self.clock.advance_to(step)
            self._handle(self.monitor.tick(step))
            for record in self.changes.due(step):
                self.writer.record(record)
            if step >= reading_end:
                self._reading(reading_end)
            if step >= t:
                return

    def apply(self, offset: float, instants: Sequence[Instant]) -> None:
        """Play a timeline's instants from monotonic ``offset`` (the scenario's t = 0)."""
        for instant in instants:
            t = offset + instant.t
            self.advance(t)
            pins: dict[str, bool] = {}
            for change in instant.changes:
                if change.signal.startswith("field."):
                    self.field[change.signal] = float(change.value)
                    self._max_usv_h = max(self._max_usv_h, self._rate())
                elif change.signal in self.signals and self.signals[change.signal] != bool(
                        change.value):
                    pins[change.signal] = bool(change.value)
            if pins:
                self.signals.update(pins)
                for record in self.changes.on_inputs(t, pins):
                    self.writer.record(record)
                self._handle(self.monitor.on_inputs(t, pins))

    def stop(self, clean: bool = True) -> float:
        """End the run at the present time: a clean stop (the agent's close) or a power cut
        (nothing more is written: the next run closes what is open as interrupted)."""
        if clean:
            for record in self.changes.close():
                self.writer.record(record)
            self.journal.alive(self.clock.wall())
            self.journal.stop_run(self.clock.wall())
        return self.clock.wall()

    # -- what the probe sees ---------------------------------------------------------

    def _period(self) -> float:
        """The reading interval now: the history's, or the live rooms' for its last hours."""
        recent = self.wall(self._reading_start) >= self.fine_from
        return LIVE_READING_S if recent else self.period_s

    def _rate(self) -> float:
        return self.background_usv_h + sum(self.field.values())

    def _integrate(self, t: float) -> None:
        if t > self._last_t:
            self._dose_s += self._rate() * (t - self._last_t)
            exposure = self.monitor.exposures.current
            if exposure is not None and self.monitor.exposures.emission_on:
                extra = self.field[FIELD_EXPOSURE] + self.field[FIELD_EVENT]
                exposure.dose_usv += extra * (t - self._last_t) / 3600.0
                exposure.max_dose_rate_usv_h = max(exposure.max_dose_rate_usv_h,
                                                   self._rate())
            self._last_t = t

    def _reading(self, end: float) -> None:
        """The reading since the last one, to ``end``, as the accumulator would make it."""
        seconds = end - self._reading_start
        mean_true = self._dose_s / seconds
        measured_cps = self.cal.measured_cps(self.cal.true_cps_for(mean_true))
        counts = int(self.rng.poisson(measured_cps * seconds))
        mean, sigma = rate_with_uncertainty(counts, seconds, self.cal)
        peak = max(self._max_usv_h, self._rate())
        peak_counts = int(self.rng.poisson(self.cal.measured_cps(self.cal.true_cps_for(peak))))
        max_rate, max_sigma = rate_with_uncertainty(peak_counts, 1.0, self.cal)
        if max_rate < mean:
            max_rate, max_sigma = mean, sigma
        frames = round(seconds / FRAME_S)
        reading = Reading(
            start=end - seconds, end=end, counts=counts, seconds_covered=seconds,
            cpm=min(counts * 60.0 / seconds, MAX_CPM), dose_usv=self._dose_s / 3600.0,
            mean_usv_h=mean, mean_sigma_usv_h=sigma, max_usv_h=max_rate,
            max_sigma_usv_h=max_sigma if math.isfinite(max_sigma) else sigma,
            saturated=False, calibration=self.cal.name, frames=frames, frames_lost=0)
        self.writer.record(ReadingReady(reading))
        self._reading_start = end
        self._dose_s = 0.0
        self._max_usv_h = self._rate()

    def _handle(self, outputs: list[Output]) -> None:
        for item in outputs:
            self.writer.record(item)


def open_journal(path: Path) -> Journal:
    """The room's journal, as the simulator opens one (not durable: a rebuildable demo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return Journal(path, durable=False)
