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

Judging the table is most of the monitor's work, and most of the time (a
quiet room, ten probe samples a second) nothing a rule reads has changed: the
monitor remembers what it last judged (:meth:`~edge_agent.monitor.rules.Room.key`,
the alarm book's version) and until when no grace can run out, and judges
again only when one of them has changed. The same table, the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edge_agent.clock import Clock
from edge_agent.config import Rules
from edge_agent.dose.tube import Calibration
from edge_agent.monitor.alarms import AlarmBook
from edge_agent.monitor.exposures import ExposureTracker
from edge_agent.monitor.probe_watch import EPS, ProbeWatch
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

#: The table is judged again, whatever was remembered, from this long before a grace runs out.
MARGIN = 2 * EPS
#: Most remembered window doses (forgotten all at once beyond).
WINDOW_CACHE = 4096
#: The room's key and the alarm book's version, as last judged.
_Judged = tuple[tuple[object, ...], int]


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
        #: What was last judged, and until when judging it again gives nothing new.
        self._judged: tuple[_Judged, float] | None = None
        #: For what was last asked: the rules' deadlines that do not move with time, and the
        #: conditions whose deadline does (computed again at each ask).
        self._deadlines: tuple[_Judged, list[float | None], list[tuple[Rule, Condition]]] | None
        self._deadlines = None
        #: A window's (saturated, dose in µSv) by (counts, duration): pure functions of the
        #: calibration, asked ten times a second with few distinct windows.
        self._window_dose: dict[tuple[int, float], tuple[bool, float]] = {}
        #: :meth:`next_deadline`'s answer, until the next entry (every entry begins with
        #: :meth:`_advance`, which forgets it).
        self._next: tuple[float | None] | None = None
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
        window = (sample.counts, sample.duration)
        known = self._window_dose.get(window)
        if known is None:
            cal = self.probe.cal
            measured = sample.counts / sample.duration
            if len(self._window_dose) >= WINDOW_CACHE:
                self._window_dose.clear()
            known = self._window_dose[window] = (
                cal.is_saturated(measured),
                cal.usv_h(cal.true_cps(measured)) * sample.duration / 3600,
            )
        saturated, dose = known
        probe, end = self.probe, sample.end
        before = probe.version
        probe.on_sample(sample, quiet, x.emission_on, saturated)
        one_s = self._one_s.add(sample)
        self.readings.add(sample, one_s, dose, saturated)
        exposure = x.current
        if exposure is not None and end > exposure.start and (
            x.emission_on or end - sample.duration < x.last_off
        ):
            exposure.dose_usv += dose
            exposure.max_dose_rate_usv_h = max(exposure.max_dose_rate_usv_h, one_s[0])
            exposure.saturated |= saturated
        if probe.version != before or not self._kept(end):
            self._judge(out, end)
        self._emit_readings(out, end)
        return out

    def tick(self, asof: float) -> list[Output]:
        """Let time pass up to ``asof`` with no input change."""
        return self._advance(asof)

    def next_deadline(self) -> float | None:
        """The earliest time at which the monitor would act without any new input.

        A function of the monitor's state alone (not of the clock), which only its entries
        change, each beginning with :meth:`_advance`: the answer is kept until then (the
        agent asks it again between steps, the simulator between instants it skips)."""
        kept = self._next
        if kept is None:
            kept = self._next = (self._next_deadline(),)
        return kept[0]

    def _next_deadline(self) -> float | None:
        best: float | None = None
        for t in (self.exposures.close_deadline(), self.exposures.procedure_end(),
                  *self._rule_deadlines()):
            if t is not None and (best is None or t < best):
                best = t
        if self.probe is not None and self.readings is not None:
            for t in (self.probe.next_deadline(), self.readings.next_end):
                if t is not None and (best is None or t < best):
                    best = t
        return None if best is None else max(best, self.asof)

    def _rule_deadlines(self) -> list[float | None]:
        """When each armed condition not yet raised would be, if nothing changes (the
        conditions kept while the room and the book are as they were; a grace that moves
        with time is asked again)."""
        judged = (self.room.key(), self.alarms.version)
        kept = self._deadlines
        if kept is None or kept[0] != judged:
            fixed: list[float | None] = []
            moving: list[tuple[Rule, Condition]] = []
            for rule in RULES:
                for subject, cond in _by_subject(rule.condition(self.room)).items():
                    if cond is not None and cond.armed and not self.alarms.is_active(
                        rule.kind, subject
                    ):
                        if rule.grace.moves:
                            moving.append((rule, cond))
                        else:
                            fixed.append(rule.grace.deadline(self.room, cond, self.asof))
            kept = self._deadlines = (judged, fixed, moving)
        return kept[1] + [rule.grace.deadline(self.room, cond, self.asof)
                          for rule, cond in kept[2]]

    def active_alarms(self) -> list[AlarmRecord]:
        return list(self.alarms.active())

    # -- time passing --------------------------------------------------------------

    def _advance(self, asof: float, readings: bool = True) -> list[Output]:
        if asof < self.asof - 1e-9:
            raise ValueError(f"monitor fed out of order: {asof} after {self.asof}")
        self._next = None
        if asof > self.asof:
            self.asof = asof
        out: list[Output] = []
        probe = self.probe
        before = 0 if probe is None else probe.version
        settled = self._settle(out, asof)
        if probe is not None:
            probe.tick(asof)
        if settled or (probe is not None and probe.version != before) or not self._kept(asof):
            self._judge(out, asof)
        if readings:
            self._emit_readings(out, asof)
        return out

    def _settle(self, out: list[Output], asof: float) -> bool:
        """Close the exposure whose merge gap has passed, and the procedure that has ended;
        whether it did either."""
        x = self.exposures
        if x.current is None and x.procedure is None:
            return False  # nothing to close (every step asks: the usual case)
        settled = False
        if self.exposures.close_due(asof):
            self._close_exposure(out)
            settled = True
        end = self.exposures.procedure_end()
        if end is not None and asof >= end:
            self.exposures.end_procedure()
            self._clear_all(out, lambda clears: clears.procedure_end, end)
            settled = True
        return settled

    def _kept(self, asof: float) -> bool:
        """Whether the last judgement still holds at ``asof`` for a room that has not changed
        since: every entry ends by judging, so the room is as last judged unless the caller
        saw it change (settled, a probe version moved); and no grace runs out before."""
        last = self._judged
        return last is not None and asof < last[1]

    def _emit_readings(self, out: list[Output], asof: float) -> None:
        """Readings whose interval has ended (a sample ending on the boundary belongs in it)."""
        while self.readings is not None and self.readings.due(asof):
            out.append(ReadingReady(self.readings.emit()))

    def _judge(self, out: list[Output], asof: float) -> None:
        """Judge the rule table in order: clear what no longer holds, raise what is due.

        Not again while the room and the book are as last judged and ``asof`` is more
        than :data:`MARGIN` before the first grace that could run out: it would give
        nothing (see the module docstring)."""
        key = self.room.key()
        last = self._judged
        if last is not None and asof < last[1] and last[0] == (key, self.alarms.version):
            return
        until = float("inf")
        fixed: list[float | None] = []
        moving: list[tuple[Rule, Condition]] = []
        room, alarms = self.room, self.alarms
        for rule in RULES:
            found = rule.condition(room)
            if rule.clears.condition_end:
                for subject in alarms.subjects(rule.kind):
                    if _answer(found, subject) is None:
                        alarms.clear(out, rule.kind, rule.clears.ended(room, asof), subject)
            if found is None:
                continue  # it holds for no subject: the usual case, judged at every edge
            for subject, cond in ((None, found),) if isinstance(found, Condition) else (
                    found.items()):
                if cond is None or not cond.armed or alarms.is_active(rule.kind, subject):
                    continue
                grace = rule.grace
                since = grace.due(room, cond, asof)
                if since is not None:
                    self._raise(out, rule, since, subject, cond.detail)
                    continue
                deadline = grace.deadline(room, cond, asof)
                if deadline is None:
                    until = float("-inf")
                elif deadline - MARGIN < until:
                    until = deadline - MARGIN
                if grace.moves:
                    moving.append((rule, cond))
                else:
                    fixed.append(deadline)
        judged = (key, alarms.version)
        self._judged = (judged, until)
        self._deadlines = (judged, fixed, moving)  # what _rule_deadlines would find now

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
    """A condition's answer per subject (``None``: the kind has no subject; an answer of
    ``None``: it holds for no subject, the usual case)."""
    if found is None:
        return _NO_SUBJECT
    if isinstance(found, Condition):
        return {None: found}
    return found


_NO_SUBJECT: Mapping[str | None, Condition | None] = {}


def _answer(found: Found, subject: str | None) -> Condition | None:
    """A condition's answer for one subject (``_by_subject(found).get(subject)``, made
    without a mapping: the judgement asks it for every alarm that holds)."""
    if found is None:
        return None
    if isinstance(found, Condition):
        return found if subject is None else None
    return found.get(subject)
