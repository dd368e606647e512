"""A room's emissions matched to its imaging devices' irradiation events, by time (issue 17,
item 4); pure: plain data in (UTC seconds), plain data out, no store.

Voyant knows when the tube emitted, the RDSR for which study. An emission and an event
match when their intervals overlap, the event moved back by its device's clock offset
(:mod:`hub.rdsr.clock`: device minus Voyant) and both widened by a small tolerance (the
RDSR's times to the second, the offset's own noise). Coverage rather than one to one:
vendors group fluoroscopy differently (a Siemens event is a run of pulses of a few
seconds, a Philips fluoroscopy event covers several pedal presses, a GE C-arm writes an
event per press), so one event may cover several emissions and one emission several
events.

The interval an event covers (corrected, then widened by the tolerance):

- ``[start, start + duration]``, the duration the RDSR's (Irradiation Duration, else
  pulses / pulse rate, else the X-ray-on time): the *on-time*, not the time from its first
  press to its last;
- for a fluoroscopy event whose presses spread beyond it (Philips groups the presses of a
  run of fluoroscopy into one event: 98 pulses at 7.5/s, 13.1 s of on-time, over presses
  that span a minute), the emissions that follow, in order, each starting before the
  device's next event and within ``group_max_s`` of the event's start, for as long as
  their durations added to those already covered fit in the event's on-time and a tenth
  (:func:`_grouped`). The on-time is the budget: once the study's own presses
  have used it, an emission minutes after the study's last event is left unmatched,
  critical or a warning as any other.

What is left over is judged only once the RDSR has had time to arrive (``wait_s``):

- an emission with no event is ``no_study`` (no study of the room's devices spans that
  time: unrecorded use, critical) or ``study_lacks_event`` (a study spans it but lacks the
  event: a warning); ``excluded`` when it lies wholly inside a recorded verification's or
  maintenance's hours (shown, never an event: a stuck emission that outlasts them stays
  one); a day's record without hours excludes
  nothing, it is only said (:attr:`EmissionResult.days`);
- an event with no emission is ``without_emission`` (wrong mapping or clock, or the box
  missed the signal: a wiring check);
- younger than the wait, either is ``pending``;
- an emission before the room's dose report feed started (``feed_start``: no imaging
  device of the room had sent anything yet) is not judged, only counted
  (:attr:`Result.before_feed`): a device mapped today must not turn weeks of work into
  events.

Per study, Voyant's emission time (the matched emissions' durations) beside the RDSR's
fluoroscopy plus acquisition time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, Literal

from hub.workdays import PARIS

Source = Literal["verification", "occasion"]
Verdict = Literal["matched", "pending", "excluded", "no_study", "study_lacks_event"]
EventVerdict = Literal["matched", "pending", "without_emission"]
#: The verdicts that open an ``emission_without_study`` event, with its severity.
SEVERITY: Final[Mapping[str, str]] = {"no_study": "critical", "study_lacks_event": "warning"}
#: A grouped event covers later emissions while their durations fit in its on-time times
#: this (the box's edges and the RDSR's rounding: a tenth; a whole tolerance would let a
#: 3 s emission minutes after a 4 s event in).
GROUP_SLACK: Final = 1.1
#: Key of an emission: the ``exposures`` table's (device, journal, run, number).
Key = tuple[str, str, int, int]


@dataclass(frozen=True, slots=True)
class Emission:
    device: str
    journal: str
    run: int
    number: int
    start: float
    end: float
    duration_s: float
    pulses: int | None = None

    @property
    def key(self) -> Key:
        return (self.device, self.journal, self.run, self.number)


@dataclass(frozen=True, slots=True)
class Irradiation:
    """An irradiation event as the RDSR dates it (the device's clock)."""

    uid: str
    study: str
    imaging: int
    start: float
    duration_s: float
    #: A fluoroscopy event: it may group presses beyond its on-time (:func:`_grouped`).
    fluoroscopy: bool = False


@dataclass(frozen=True, slots=True)
class Study:
    uid: str
    fluoro_time_s: float | None
    acquisition_time_s: float | None


@dataclass(frozen=True, slots=True)
class Window:
    """The hours of a recorded verification or maintenance (UTC seconds)."""

    start: float
    end: float
    source: Source
    ref: int
    label: str


@dataclass(frozen=True, slots=True)
class DayRecord:
    """A verification or maintenance recorded for a Paris day, without hours."""

    day: date
    source: Source
    ref: int
    label: str


@dataclass(frozen=True, slots=True)
class Inputs:
    """One room over ``[start, end)``: the emissions and events to judge are those that
    start there (the event's corrected start); the others given only help (a study's span,
    an event of the evening before covering a press after midnight)."""

    start: float
    end: float
    now: float
    wait_s: float
    tolerance_s: float
    emissions: Sequence[Emission]
    irradiations: Sequence[Irradiation]
    studies: Mapping[str, Study] = field(default_factory=dict)
    offsets: Mapping[int, float] = field(default_factory=dict)
    windows: Sequence[Window] = ()
    days: Sequence[DayRecord] = ()
    #: The longest span a grouped fluoroscopy event covers from its start (seconds).
    group_max_s: float = 600.0
    #: When the room's dose report feed started (UTC seconds): no emission before is judged.
    feed_start: float = -math.inf


@dataclass(frozen=True, slots=True)
class EmissionResult:
    emission: Emission
    verdict: Verdict
    events: tuple[str, ...] = ()
    studies: tuple[str, ...] = ()
    window: Window | None = None
    days: tuple[DayRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class EventResult:
    irradiation: Irradiation
    start: float
    end: float
    offset_s: float
    verdict: EventVerdict
    emissions: tuple[Key, ...] = ()


@dataclass(frozen=True, slots=True)
class StudyResult:
    uid: str
    imaging: int
    start: float
    end: float
    events: int
    voyant_s: float
    rdsr_s: float | None

    @property
    def difference_s(self) -> float | None:
        """Voyant's emission time minus the RDSR's (positive: Voyant saw more)."""
        return None if self.rdsr_s is None else self.voyant_s - self.rdsr_s


@dataclass(frozen=True, slots=True)
class Result:
    emissions: list[EmissionResult]
    events: list[EventResult]
    studies: list[StudyResult]
    #: The emissions of the range before the feed started: counted, never judged.
    before_feed: int = 0

    @property
    def pairs(self) -> list[tuple[Key, str]]:
        """(emission key, irradiation event UID) of every match of the emissions judged."""
        return [(r.emission.key, uid) for r in self.emissions for uid in r.events]


Span = tuple[float, float, Irradiation]


class _Intervals:
    """Intervals ``(lo, hi, ...)`` sorted by ``lo``, searched for those overlapping one."""

    def __init__(self, spans: Sequence[tuple[float, float, object]]) -> None:
        self.spans = spans
        self.starts = [c[0] for c in spans]
        self.longest = max((c[1] - c[0] for c in spans), default=0.0)

    def overlapping(self, lo: float, hi: float) -> list[int]:
        """Indexes of the intervals overlapping ``[lo, hi]``."""
        first = bisect.bisect_left(self.starts, lo - self.longest)
        last = bisect.bisect_right(self.starts, hi)
        return [i for i in range(first, last) if self.spans[i][1] >= lo]


def _spans(corrected: Sequence[Span], ends: Mapping[str, float]
           ) -> dict[str, tuple[float, float, int]]:
    """Each study's (first start, last end, imaging device), corrected; an event's end is
    the end of the interval it covers (``ends``: grouped presses included)."""
    out: dict[str, tuple[float, float, int]] = {}
    for start, end, item in corrected:
        end = max(end, ends.get(item.uid, end))
        first, last, imaging = out.get(item.study, (start, end, item.imaging))
        out[item.study] = (min(first, start), max(last, end), imaging)
    return out


def covered(emissions: Sequence[Emission], events: Sequence[Irradiation], offset_s: float,
            tolerance_s: float) -> int:
    """How many of ``events``, moved back by ``offset_s``, some emission overlaps (their
    on-time intervals: enough to judge a clock)."""
    spans = _Intervals(sorted((e.start - tolerance_s, e.end + tolerance_s, e.key)
                              for e in emissions))
    return sum(bool(spans.overlapping(lo, lo + max(item.duration_s, 0.0)))
               for item in events for lo in [item.start - offset_s])


def best_offset(emissions: Sequence[Emission], events: Sequence[Irradiation],
                estimate_s: float | None, tolerance_s: float) -> float:
    """The estimate, unless it covers fewer events than none at all (a median of two or
    three pairs, a pedal press paired with the wrong event, is no clock): then 0."""
    if estimate_s is None:
        return 0.0
    with_estimate = covered(emissions, events, estimate_s, tolerance_s)
    return estimate_s if with_estimate >= covered(emissions, events, 0.0, tolerance_s) else 0.0


def _grouped(inputs: Inputs, corrected: Sequence[Span], emissions: Sequence[Emission],
             by_event: dict[str, list[Emission]]) -> dict[str, float]:
    """Add to ``by_event`` the later presses of each grouped fluoroscopy event; each such
    event's covered end. After the event's on-time interval (widened by the tolerance),
    the emissions that follow are taken in order while each starts before the device's
    next event (less the tolerance) and within ``group_max_s`` of the event's start, and
    the durations covered, those of the on-time interval included, stay within the on-time
    and a tenth (:data:`GROUP_SLACK`); the first that does not stops it. An event no
    emission overlaps follows nothing."""
    tol = inputs.tolerance_s
    starts = [e.start for e in emissions]
    ends: dict[str, float] = {}
    by_device: dict[int, list[Span]] = {}
    for span in corrected:
        by_device.setdefault(span[2].imaging, []).append(span)
    for spans in by_device.values():
        for k, (start, end, item) in enumerate(spans):
            if not item.fluoroscopy:
                continue
            limit = start + inputs.group_max_s
            if k + 1 < len(spans):
                limit = min(limit, spans[k + 1][0] - tol)
            taken = by_event.get(item.uid)
            if not taken:
                continue  # its first press unseen: nothing to follow
            used = sum(e.duration_s for e in taken)
            for j in range(bisect.bisect_right(starts, end + tol), len(emissions)):
                nxt = emissions[j]
                if nxt.start >= limit or used + nxt.duration_s > item.duration_s * GROUP_SLACK:
                    break
                used += nxt.duration_s
                taken.append(nxt)
                ends[item.uid] = nxt.end
    return ends


def match(inputs: Inputs) -> Result:
    """Every emission and event of the range judged; every study with an event there."""
    tol = inputs.tolerance_s
    young = inputs.now - inputs.wait_s
    corrected: list[Span] = sorted(
        ((item.start - inputs.offsets.get(item.imaging, 0.0),
          item.start - inputs.offsets.get(item.imaging, 0.0) + max(item.duration_s, 0.0), item)
         for item in inputs.irradiations), key=lambda c: (c[0], c[2].uid))
    index = _Intervals(corrected)
    emissions = sorted(inputs.emissions, key=lambda e: (e.start, e.key))
    by_event: dict[str, list[Emission]] = {}
    for emission in emissions:
        for i in index.overlapping(emission.start - tol, emission.end + tol):
            by_event.setdefault(corrected[i][2].uid, []).append(emission)
    ends = _grouped(inputs, corrected, emissions, by_event)
    by_emission: dict[Key, list[str]] = {}
    for _start, _end, item in corrected:
        for emission in by_event.get(item.uid, ()):
            by_emission.setdefault(emission.key, []).append(item.uid)
    spans = _spans(corrected, ends)
    results: list[EmissionResult] = []
    before = 0
    for emission in emissions:
        if not inputs.start <= emission.start < inputs.end:
            continue
        uids = tuple(by_emission.get(emission.key, ()))
        if emission.start < inputs.feed_start and not uids:
            before += 1
            continue
        results.append(_judge(inputs, emission, uids, spans, young))
    events = []
    for start, end, item in corrected:
        if not inputs.start <= start < inputs.end:
            continue
        matched = tuple(e.key for e in by_event.get(item.uid, ()))
        verdict: EventVerdict = ("matched" if matched else "pending" if end > young
                                 else "without_emission")
        events.append(EventResult(item, start, max(end, ends.get(item.uid, end)),
                                  inputs.offsets.get(item.imaging, 0.0), verdict, matched))
    return Result(results, events, _studies(inputs, corrected, spans, by_event), before)


def _judge(inputs: Inputs, emission: Emission, uids: tuple[str, ...],
           spans: Mapping[str, tuple[float, float, int]], young: float) -> EmissionResult:
    tol = inputs.tolerance_s
    covering = tuple(sorted({uid for uid, (first, last, _i) in spans.items()
                             if first - tol <= emission.end and emission.start <= last + tol}))
    if uids:
        return EmissionResult(emission, "matched", uids, covering)
    if emission.end > young:
        return EmissionResult(emission, "pending", (), covering)
    window = next((w for w in inputs.windows
                   if w.start <= emission.start and emission.end <= w.end + tol), None)
    if window is not None:
        return EmissionResult(emission, "excluded", (), covering, window)
    day = datetime.fromtimestamp(emission.start, UTC).astimezone(PARIS).date()
    days = tuple(d for d in inputs.days if d.day == day)
    return EmissionResult(emission, "study_lacks_event" if covering else "no_study", (),
                          covering, None, days)


def _studies(inputs: Inputs, corrected: Sequence[Span],
             spans: Mapping[str, tuple[float, float, int]],
             by_event: Mapping[str, list[Emission]]) -> list[StudyResult]:
    """The studies with an event starting in the range, in order of their first event."""
    wanted = {c[2].study for c in corrected if inputs.start <= c[0] < inputs.end}
    matched: dict[str, dict[Key, Emission]] = {}
    counts: dict[str, int] = {}
    for _start, _end, item in corrected:
        counts[item.study] = counts.get(item.study, 0) + 1
        for emission in by_event.get(item.uid, ()):
            matched.setdefault(item.study, {})[emission.key] = emission
    out = []
    for uid in wanted:
        first, last, imaging = spans[uid]
        study = inputs.studies.get(uid)
        times = [] if study is None else [t for t in (study.fluoro_time_s,
                                                      study.acquisition_time_s) if t is not None]
        voyant = sum(e.duration_s for e in matched.get(uid, {}).values())
        out.append(StudyResult(uid, imaging, first, last, counts[uid], voyant,
                               sum(times) if times else None))
    return sorted(out, key=lambda s: (s.start, s.uid))
