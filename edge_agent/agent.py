"""The agent: inputs, probe, monitor, journal and outputs wired together.

Everything that touches the world (clock, pin factory, probe driver, journal)
is handed in, so that the simulator runs this very class on virtual time and
mock pins. :meth:`Agent.step` consumes what has arrived and does what is due
at the clock's present; :meth:`Agent.next_wakeup` says when it must be called
again if nothing arrives before. The journal is written before anything else
is done with a record, every input change included (:mod:`edge_agent.changes`:
the interlock relay and its resets too), with one exception: when the monitor
raises or clears an alarm, the alarm output and the relay are set first, then
the records journaled (the pins must not wait for fsyncs: issue 18, p99 < 5 ms);
nothing here waits for the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from edge_agent.agent_journal import JournalWriter
from edge_agent.changes import INTERLOCK_OPEN, RESET, ChangeRecord, ChangeTracker, start_records
from edge_agent.clock import Clock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.dose.tube import Calibration
from edge_agent.errors import JournalError
from edge_agent.inputs import InputBank
from edge_agent.journal import Journal, RunStart
from edge_agent.journal_hold import JOURNAL_FAULT
from edge_agent.journal_upkeep import JournalUpkeep
from edge_agent.logs import log
from edge_agent.monitor.monitor import MARGIN, DoseSetup, Monitor
from edge_agent.monitor.records import Output
from edge_agent.outputs import AlarmOutput, Interlock
from edge_agent.probe.sample import ProbeSample
from edge_agent.timesync import ClockSync
from wire.errors import ConfigError

ALIVE_EVERY_S = 10.0


class ProbeDriver(Protocol):
    """What the agent asks of a probe driver (serial link or GPIO counter)."""

    def poll(self) -> list[ProbeSample]: ...

    def next_deadline(self) -> float | None: ...

    def close(self) -> None: ...


class Agent:
    """One room's agent (see the module docstring; its journaling, ``writer``, in
    :mod:`edge_agent.agent_journal`)."""

    def __init__(
        self,
        config: AgentConfig,
        clock: Clock,
        *,
        pin_factory: Any = None,
        probe: ProbeDriver | None = None,
        journal: Journal | None = None,
        on_pins_ready: Callable[[], None] | None = None,
        on_edge: Callable[[], None] | None = None,
        clock_sync: ClockSync | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # Read by the metrics thread: only ever rebound, never mutated in place.
        self.active_alarm_kinds: tuple[str, ...] = ()
        self.journal = journal or Journal(config.journal.path)
        self.upkeep = JournalUpkeep(self.journal, config.journal.retention_days,
                                    config.journal.reserve_mb, clock.monotonic())
        self.upkeep.ensure_reserve()
        start_wall = clock.wall()
        start_error: JournalError | None = None
        try:
            run = self.journal.start_run(start_wall)
        except JournalError as exc:  # a full disk: start degraded, write the run later
            start_error = exc
            run = RunStart(self.journal.run, 0, 0,
                           self.journal.get_meta("interlock_latched") == "1")
        log("agent_started", run=run.run, interrupted_exposures=run.interrupted_exposures,
            interrupted_alarms=run.interrupted_alarms, device=config.device.device_id)
        self.inputs = InputBank(
            config.pins.inputs(), clock, pin_factory=pin_factory,
            simultaneity_s=config.rules.simultaneity_s, on_edge=on_edge,
        )
        if on_pins_ready is not None:
            on_pins_ready()
        self.inputs.resync()
        self.probe = probe
        self.calibration: Calibration | None = None
        dose = None
        if probe is not None:
            self.calibration = calibration_from_config(config)
            dose = DoseSetup(
                self.calibration, config.probe.background_usv_h, config.probe.position,
                config.probe.frame_s,
            )
        try:
            self.monitor = Monitor(
                config.rules, list(config.pins.door), clock, dose=dose,
                initial=self.inputs.values(), patient_input=config.pins.patient is not None,
            )
        except ValueError as exc:  # a detector refused its threshold for this tube
            self.inputs.close()
            raise ConfigError(f"rules.dose_rate_alarm_usv_h / [probe]: {exc}") from exc
        pins = config.pins
        self.alarm_output = (
            AlarmOutput(pins.alarm, pin_factory=pin_factory) if pins.alarm is not None else None
        )
        self.interlock = (
            Interlock(pins.interlock_relay, latched=run.interlock_latched, pin_factory=pin_factory)
            if pins.interlock_relay.enabled
            else None
        )
        self._held: list[ProbeSample] = []
        self.writer = JournalWriter(
            self.journal, self.upkeep, clock, clock_sync,
            self.calibration.name if self.calibration is not None else None,
        )
        self._last_alive = clock.monotonic()
        if start_error is not None:
            self.writer.start_failed(start_wall, start_error)
        #: Every debounced input change becomes a record, pulse trains compacted.
        self.changes = ChangeTracker()
        for record in start_records(self.inputs.values(), self.journal.last_inputs(),
                                    clock.monotonic()):
            self.writer.record(record)
        self._handle(self.monitor.start_outputs())
        self._show_alarms()

    # -- the loop's two calls ----------------------------------------------------------

    def step(self) -> None:
        """Consume what has arrived and act on what is due now."""
        now = self.clock.monotonic()
        groups, horizon = self.inputs.collect(now)
        if self.probe is not None:
            self._held.extend(self.probe.poll())
        samples, self._held = self._split(horizon) if self._held else ([], self._held)
        for at, changes, sample in _merge(groups, samples):
            at = max(at, self.monitor.asof)
            if changes is not None:
                records = list(self.changes.on_inputs(at, changes))
                outputs = self.monitor.on_inputs(at, changes)  # pure: needs no journal
                latched = self._drive() if outputs else None  # the pins before any fsync
                for record in records:
                    self.writer.record(record)
                self._handle(outputs, latched)
            elif sample is not None:
                if sample.end < at:
                    sample = sample._replace(end=at)
                self._handle(self.monitor.on_sample(sample))
        self._handle(self.monitor.tick(max(horizon, self.monitor.asof)))
        for record in self.changes.due(horizon):
            self.writer.record(record)
        self.writer.retry()
        if self.writer.journal_writes() and now - self._last_alive >= ALIVE_EVERY_S:
            self._last_alive = now
            try:
                self.journal.alive(self.clock.wall())
            except JournalError as exc:
                self.writer.write_failed(exc)
        if self.writer.hold.fault is None:
            self.upkeep.step(now, self.clock.wall())
        self._show_alarms()

    def next_wakeup(self) -> float | None:
        """When :meth:`step` must run again if nothing arrives first."""
        now = self.clock.monotonic()
        # Due already: they wait for an input to settle (the horizon), whose deadline counts.
        best: float | None = None
        t = self.monitor.next_deadline()
        if t is not None and t > now:
            best = t
        t = self.changes.next_deadline()
        if t is not None and t > now and (best is None or t < best):
            best = t
        t = self.inputs.next_deadline()
        if t is not None and (best is None or t < best):
            best = t
        hold = self.writer.hold
        if hold.fault is not None:
            t = max(hold.next_retry, now)
            if best is None or t < best:
                best = t
        if self.probe is not None:
            t = self.probe.next_deadline()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def idle_at(self, now: float) -> bool:
        """Whether a :meth:`step` at ``now`` would do nothing, for a caller that knows that
        since the last step nothing arrived but raw input edges (at ``now``, or at instants it
        did not step at) and no probe byte: the simulator then skips it (:mod:`sim.runner`).

        Such a step releases no input (every debounce deadline is after ``now``: nothing
        settles, so the horizon and the changes waiting behind it are those of the last
        step) and no sample (none held back); the monitor's tick reaches no deadline of its
        own (more than its judging margin before the first: no grace, time-out, merge gap,
        procedure end or reading falls due) and only moves its clock, which the next step
        moves on from in the same way; no change record, retry, alive mark or upkeep is
        due (before :meth:`next_chore`); the pins are set to the same alarms."""
        if self.writer.hold.fault is not None or not self.writer.journal_writes():
            return False
        if self._held or now >= self.next_chore():
            return False
        settling = self.inputs.next_deadline()
        if settling is not None and settling <= now:
            return False
        runs = self.changes.next_deadline()
        if runs is not None and runs <= now:
            return False
        probe = self.probe.next_deadline() if self.probe is not None else None
        if probe is not None and probe <= now:
            return False
        monitor = self.monitor.next_deadline()
        return monitor is None or monitor > now + MARGIN

    def next_chore(self) -> float:
        """When the loop's own periodic work is next due (the journal's alive mark, its
        upkeep): done by the first :meth:`step` at or after it. A caller that hands over
        several probe frames in one step (the simulator's bursts) ends the burst there, so
        that the work is done at the same step as with a step per frame."""
        upkeep = self.upkeep  # its due times: the loop's work, read where the loop calls it
        alive = self._last_alive + ALIVE_EVERY_S - 1e-6  # never later than ``now - last >= 10``
        return min(alive, upkeep.next_due())

    # -- outputs ---------------------------------------------------------------------

    def _handle(self, outputs: list[Output], latched: bool | None = None) -> None:
        """The pins set to the monitor's outputs, then the outputs journaled, then the
        relay's latching; ``latched``: the pins already set by the caller (the input
        edge's :meth:`_drive`, before its change records), and whether the relay opened."""
        if not outputs:
            return
        if latched is None:
            latched = self._drive()
        for item in outputs:
            self.writer.record(item)
        self._show_alarms(latched)

    def _drive(self) -> bool:
        """The alarm output and the relay set to the kinds holding (``journal_fault``
        included): pins only, no journal write, so that an alarm reaches them without
        waiting for an fsync (issue 18: p99 < 5 ms from the edge). True when the relay has
        just latched open: :meth:`_show_alarms` journals it. Every step ends here: the
        outputs are asserted again each time, not only when the alarms change."""
        fault = self.writer.hold.fault
        holding = [a.kind for a in self.monitor.active_alarms()]
        kinds = [*holding, JOURNAL_FAULT] if fault is not None else holding
        self.active_alarm_kinds = tuple(kinds)
        if self.alarm_output is not None:
            self.alarm_output.show(bool(kinds))
        return self.interlock is not None and self.interlock.update(holding)

    def _show_alarms(self, latched: bool = False) -> None:
        """The pins again (a journal write that just failed adds ``journal_fault``), then
        the relay's latching journaled, after the records that made it."""
        if self._drive() or latched:
            holding = [a.kind for a in self.monitor.active_alarms()]
            self.writer.set_meta("interlock_latched", "1")
            self._box_change(INTERLOCK_OPEN, True)
            log("interlock_opened", logging.WARNING, kinds=",".join(sorted(set(holding))))

    def health(self) -> str | None:
        """None while the journal writes and every input answers; else what is wrong."""
        if not self.writer.journal_writes():
            return f"journal failed: {self.writer.hold.error}"
        return self.inputs.fault()

    def live_state(self) -> dict[str, Any]:
        """What the room looks like now, for the live page (no time: it changes only on events)."""
        to_iso, fault = self.writer.to_wall, self.writer.hold.fault
        alarms = [*self.monitor.active_alarms(), *([fault] if fault else [])]
        return {
            "inputs": self.inputs.values(),
            "alarms": [
                {"kind": a.kind, "subject": a.subject, "since": iso_utc(to_iso(a.since))}
                for a in alarms
            ],
            **self._held_alarms(),
            "exposure_open": self.monitor.exposures.current is not None,
            "calibration": self.calibration.name if self.calibration is not None else None,
            "interlock_open": self.interlock.latched if self.interlock is not None else None,
        }

    def _held_alarms(self) -> dict[str, Any]:
        held = self.writer.hold.held_alarms(self.journal.run) if self.journal.run else []
        return {"journal": self.journal.journal_id, "held_alarms": held} if held else {}

    def reset_interlock(self, by: str) -> bool:
        """Close the interlock relay again (on the box or by the PCR) if nothing critical holds."""
        if self.interlock is None:
            return False
        self._box_change(RESET, True, by)  # asked for: evidence whether it closes or not
        if not self.interlock.reset():
            return False
        self.writer.set_meta("interlock_latched", "0")
        self._box_change(INTERLOCK_OPEN, False)
        log("interlock_reset", by=by)
        return True

    def _box_change(self, signal: str, value: bool, by: str | None = None) -> None:
        """A change of the box's own signals (the relay, a reset), journaled at once."""
        now = self.clock.monotonic()
        self.writer.record(ChangeRecord(signal, value, now, now, 1,
                                        by=None if by is None else by[:200]))

    def _split(self, horizon: float) -> tuple[list[ProbeSample], list[ProbeSample]]:
        ready = [s for s in self._held if s.end <= horizon]
        if len(ready) == len(self._held):
            return ready, []
        return ready, [s for s in self._held if s.end > horizon]

    def close(self) -> None:
        for record in self.changes.close():
            self.writer.record(record)
        self.writer.flush()
        try:
            self.journal.stop_run(self.clock.wall())
        except JournalError as exc:  # the outputs must still be released
            log("journal_stop_failed", logging.ERROR, error=str(exc))
        self.inputs.close()
        if self.probe is not None:
            self.probe.close()
        if self.alarm_output is not None:
            self.alarm_output.close()
        if self.interlock is not None:
            self.interlock.close()
        self.journal.close()


def _merge(
    groups: list[tuple[float, dict[str, bool]]], samples: list[ProbeSample]
) -> list[tuple[float, dict[str, bool] | None, ProbeSample | None]]:
    """Input groups and samples in time order; at a tie, inputs first."""
    if not groups:  # a stable sort by end keeps a tie in arrival order, as below
        return [(s.end, None, s) for s in sorted(samples, key=_end)]
    if not samples:  # the groups come in time order (InputBank.collect), as sorted below
        return [(at, changes, None) for at, changes in groups]
    items: list[tuple[float, int, int, dict[str, bool] | None, ProbeSample | None]] = []
    items += [(at, 0, i, changes, None) for i, (at, changes) in enumerate(groups)]
    items += [(s.end, 1, i, None, s) for i, s in enumerate(samples)]
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(at, changes, sample) for at, _, _, changes, sample in items]


def _end(sample: ProbeSample) -> float:
    return sample.end
