"""The monitor: a pure state machine from timestamped inputs to exposures and alarms.

It is fed, in time order, debounced input changes (all changes of one instant
together), probe samples and clock ticks, and returns what happened. It does
no I/O: the clock is injected (alarms are stamped with the time the agent
raised them) and every threshold comes from :class:`~edge_agent.config.Rules`.
It keeps the room's state (signals, exposures, the probe's detectors) and
judges the rule table of :mod:`edge_agent.monitor.rules` after each step: the
table, not this module, says when each kind is raised and cleared.
Conditions are measured from the physical change (the edge time); a condition
must last strictly longer than its grace, and :meth:`Monitor.next_deadline`
tells the caller when to come back so that no grace is overshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edge_agent.clock import Clock
from edge_agent.config import Rules
from edge_agent.dose.tube import Calibration
from edge_agent.monitor.alarms import AlarmBook
from edge_agent.monitor.exposures import ExposureTracker
from edge_agent.monitor.probe_watch import ProbeWatch
from edge_agent.monitor.readings import OneSecondMean, ReadingAccumulator
from edge_agent.monitor.records import (
    AlarmRecord,
    ExposureClosed,
    ExposureOpened,
    ExposureRecord,
    Output,
    ReadingReady,
)
from edge_agent.monitor.rules import RULES, Clears, Condition, Found, Room, Rule
from edge_agent.monitor.signals import PATIENT, Signals
from edge_agent.probe.sample import ProbeSample


@dataclass(frozen=True, slots=True)
class DoseSetup:
    """What the monitor needs to know of the probe."""

    calibration: Calibration
    background_usv_h: float
    position: str
    frame_s: float = 0.1


class Monitor:
    """The room's rules, fed in time order. See the module docstring."""

    def __init__(
        self,
        rules: Rules,
        doors: Sequence[str],
        clock: Clock,
        *,
        dose: DoseSetup | None = None,
        initial: Mapping[str, bool] | None = None,
        first_alarm_number: int = 1,
        patient_input: bool = False,
    ) -> None:
        """``patient_input``: the ``patient`` input is wired, and its rising edge (not a
        gap of ``procedure_gap_s``) ends a procedure."""
        start = clock.monotonic()
        self.rules = rules
        self.clock = clock
        self.asof = start
        self.signals = Signals(doors, initial or {}, start, patient=patient_input)
        self.exposures = ExposureTracker(rules, patient_input)
        self.exposures.request_held = self.signals["request"]
        self.alarms = AlarmBook(clock.monotonic, first_alarm_number)
        self.probe: ProbeWatch | None = None
        self.readings: ReadingAccumulator | None = None
        if dose is not None:
            self.probe = ProbeWatch(
                rules, dose.calibration, dose.background_usv_h, dose.position, dose.frame_s, start
            )
            self.readings = ReadingAccumulator(
                dose.calibration, rules.reading_interval_s, start, dose.frame_s
            )
            self._one_s = OneSecondMean(dose.calibration)
        self.room = Room(self.signals, self.exposures, rules, self.probe)
        self._startup: list[Output] = []
        if self.signals["emission"]:
            self._emission_rises(self._startup, start, resumed=True)
        self._judge(self._startup, start)

    # -- feeding -----------------------------------------------------------------

    def start_outputs(self) -> list[Output]:
        """What the start itself produced (an emission already on: a resumed exposure)."""
        out, self._startup = self._startup, []
        return out

    def on_inputs(self, at: float, changes: Mapping[str, bool]) -> list[Output]:
        """Apply every change of one instant together, then evaluate the rules."""
        out = self._advance(at)
        changed = {
            name: value for name, value in changes.items() if self.signals.set(name, value, at)
        }
        if "request" in changed:
            self.exposures.request(at, changed["request"])
        if changed.get(PATIENT) is True:  # before a rise at the same instant: the next patient's
            self.exposures.patient_done(at)
            self._settle(out, at)
        if changed.get("emission") is True:
            self._emission_rises(out, at)
        elif changed.get("emission") is False:
            self.exposures.fall(at)
        self._settle(out, at)  # a release may close an exposure whose gap has passed
        self._judge(out, at)
        return out

    def on_sample(self, sample: ProbeSample) -> list[Output]:
        """Take one probe sample (counts over ``[end - duration, end]``)."""
        out = self._advance(sample.end, readings=False)
        if self.probe is None or self.readings is None:
            return out
        x = self.exposures
        quiet = (
            not x.emission_on
            and sample.end - sample.duration >= x.last_off + self.rules.emission_holdoff_s
        )
        self.probe.on_sample(sample, quiet, x.emission_on)
        one_s = self._one_s.add(sample)
        cal = self.probe.cal
        dose = cal.usv_h(cal.true_cps(sample.counts / sample.duration)) * sample.duration / 3600
        self.readings.add(sample, one_s, dose)
        exposure = x.current
        if exposure is not None and sample.end > exposure.start and (
            x.emission_on or sample.end - sample.duration < x.last_off
        ):
            exposure.dose_usv += dose
            exposure.max_dose_rate_usv_h = max(exposure.max_dose_rate_usv_h, one_s[0])
            exposure.saturated |= cal.is_saturated(sample.counts / sample.duration)
        self._judge(out, sample.end)
        self._emit_readings(out, sample.end)
        return out

    def tick(self, asof: float) -> list[Output]:
        """Let time pass up to ``asof`` with no input change."""
        return self._advance(asof)

    def next_deadline(self) -> float | None:
        """The earliest time at which the monitor would act without any new input."""
        candidates = [self.exposures.close_deadline(), self.exposures.procedure_end()]
        for rule in RULES:
            for subject, cond in _by_subject(rule.condition(self.room)).items():
                if cond is not None and cond.armed and not self.alarms.is_active(
                    rule.kind, subject
                ):
                    candidates.append(rule.grace.deadline(self.room, cond, self.asof))
        if self.probe is not None and self.readings is not None:
            candidates += [self.probe.next_deadline(), self.readings.next_end]
        times = [t for t in candidates if t is not None]
        return max(min(times), self.asof) if times else None

    def active_alarms(self) -> list[AlarmRecord]:
        return list(self.alarms.active())

    # -- time passing --------------------------------------------------------------

    def _advance(self, asof: float, readings: bool = True) -> list[Output]:
        if asof < self.asof - 1e-9:
            raise ValueError(f"monitor fed out of order: {asof} after {self.asof}")
        self.asof = max(self.asof, asof)
        out: list[Output] = []
        self._settle(out, asof)
        if self.probe is not None:
            self.probe.tick(asof)
        self._judge(out, asof)
        if readings:
            self._emit_readings(out, asof)
        return out

    def _settle(self, out: list[Output], asof: float) -> None:
        """Close the exposure whose merge gap has passed, and the procedure that has ended."""
        if self.exposures.close_due(asof):
            self._close_exposure(out)
        end = self.exposures.procedure_end()
        if end is not None and asof >= end:
            self.exposures.end_procedure()
            self._clear_all(out, lambda clears: clears.procedure_end, end)

    def _emit_readings(self, out: list[Output], asof: float) -> None:
        """Readings whose interval has ended (a sample ending on the boundary belongs in it)."""
        while self.readings is not None and self.readings.due(asof):
            out.append(ReadingReady(self.readings.emit()))

    def _judge(self, out: list[Output], asof: float) -> None:
        """Judge the rule table in order: clear what no longer holds, raise what is due."""
        for rule in RULES:
            found = _by_subject(rule.condition(self.room))
            if rule.clears.condition_end:
                for subject in self.alarms.subjects(rule.kind):
                    if found.get(subject) is None:
                        ended = rule.clears.ended(self.room, asof)
                        self.alarms.clear(out, rule.kind, ended, subject)
            for subject, cond in found.items():
                if cond is None or not cond.armed or self.alarms.is_active(rule.kind, subject):
                    continue
                since = rule.grace.due(self.room, cond, asof)
                if since is not None:
                    self._raise(out, rule, since, subject, cond.detail)

    def _clear_all(self, out: list[Output], when: Callable[[Clears], bool], at: float) -> None:
        """Clear, as of ``at``, every alarm whose rule clears on this end."""
        for rule in RULES:
            if when(rule.clears):
                for subject in self.alarms.subjects(rule.kind):
                    self.alarms.clear(out, rule.kind, at, subject)

    # -- exposures -----------------------------------------------------------------

    def _emission_rises(self, out: list[Output], at: float, resumed: bool = False) -> None:
        requested = self.signals["request"]
        exposure = self.exposures.rise(at, requested, resumed)
        if exposure is None:
            return
        out.append(ExposureOpened(exposure))

    def _close_exposure(self, out: list[Output]) -> None:
        exposure = self.exposures.close()
        assert exposure.end is not None
        self._clear_all(out, lambda clears: clears.exposure_end, exposure.end)
        out.append(ExposureClosed(exposure))

    def _raise(
        self, out: list[Output], rule: Rule, since: float, subject: str | None, detail: str
    ) -> None:
        exposure: ExposureRecord | None = self.exposures.current if rule.on_exposure else None
        number = exposure.number if exposure is not None else None
        alarm = self.alarms.raise_(out, rule.kind, since, subject, detail, exposure=number)
        if alarm is not None and exposure is not None:
            exposure.alarms.add(alarm.kind)
            if rule.marks is not None:
                rule.marks(exposure, subject)


def _by_subject(found: Found) -> Mapping[str | None, Condition | None]:
    """A condition's answer per subject (``None``: the kind has no subject)."""
    if found is None or isinstance(found, Condition):
        return {None: found}
    return found
