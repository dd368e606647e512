"""What happened in each demo room over the history: working sessions and a few incidents.

Pure and deterministic (a seed per room): the same span gives the same plan.
A working day (French public holidays excepted) has a few sessions per room,
each the room's own demo scenario (``demo_*.toml``, the one the live room
plays) with nothing abnormal in it: bloc-3's C-arm does not emit on its own
there. Fluoroscopy is played as one continuous emission at the mean dose
rate of its pulses: the history has no use for the pulses one by one, and
playing them would take minutes. A few incidents are placed on fixed
working days of each quarter, each a library scenario played through the
same monitor (so the alarm is the monitor's own), or a fault of the box or
its link that the hub notices by itself: a power cut (``device_offline``)
and a network outage whose first batch is lost on the way back (``data_gap``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

import numpy as np

from hub.workdays import PARIS, is_working_day
from sim.demo_files import library_path
from sim.scenario import Scenario, load_scenario
from sim.timeline import EVENT_FIELD_SIGNAL, Instant, build_timeline

Kind = Literal["play", "cut", "outage"]

#: Session start times (Paris) on a working day, per room; each jittered by up to 20 min.
SESSIONS: Final = {
    "salle-1": ("08:40", "10:30", "14:15"),
    "salle-2": ("08:30", "10:30", "14:00", "16:00"),
    "bloc-3": ("08:45", "14:30"),
}
#: Incidents: (room, quarter: 0 the last full one, 1 the current one; working day of the
#: quarter; what). A play names a library scenario; a cut or an outage its length (s).
INCIDENTS: Final[tuple[tuple[str, int, int, Kind, str], ...]] = (
    ("salle-1", 0, 14, "play", "door_open_during_fluoroscopy"),
    ("salle-2", 0, 21, "play", "emission_light_fault"),
    ("bloc-3", 0, 33, "play", "demo_unsolicited"),
    ("salle-2", 0, 40, "cut", "10800"),
    ("salle-1", 0, 47, "play", "long_exposure"),
    ("bloc-3", 0, 55, "play", "emission_after_release"),
    ("salle-1", 1, 6, "outage", "3600"),
    ("salle-1", 1, 12, "play", "door_open_during_fluoroscopy"),
    ("salle-2", 1, 18, "play", "emission_light_fault"),
    ("bloc-3", 1, 24, "play", "demo_unsolicited"),
    ("salle-2", 1, 30, "play", "request_stuck"),
)
INCIDENT_AT: Final = time(10, 5)
#: Signals of the demo scenarios that make an incident: left out of the daily work.
_ABNORMAL: Final = frozenset({"emission", "light.emission", EVENT_FIELD_SIGNAL})


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the room's box goes through at wall time ``at`` (UTC seconds)."""

    at: float
    kind: Kind
    instants: tuple[Instant, ...] = ()
    seconds: float = 0.0
    name: str = ""

    @property
    def end(self) -> float:
        last = self.instants[-1].t if self.instants else 0.0
        return self.at + max(last, self.seconds)


def routine(scenario: Scenario) -> tuple[Instant, ...]:
    """The room's scenario as normal work: no abnormal event, fluoroscopy as one emission
    at its pulses' mean dose rate."""
    events = tuple(e for e in scenario.events if e.signal not in _ABNORMAL)
    return _continuous(dataclasses.replace(scenario, events=events))


def incident(name: str) -> tuple[Instant, ...]:
    """A library scenario as the incident's timeline (fluoroscopy as one emission)."""
    return _continuous(load_scenario(library_path(name)))


def _continuous(scenario: Scenario) -> tuple[Instant, ...]:
    exposures = tuple(
        dataclasses.replace(e, pulse_hz=None, pulse_width_s=None,
                            dose_rate_usv_h=e.dose_rate_usv_h * e.pulse_hz * e.pulse_width_s)
        if e.pulse_hz is not None and e.pulse_width_s is not None else e
        for e in scenario.exposures)
    return tuple(build_timeline(dataclasses.replace(scenario, exposures=exposures)))


def working_days(start: float, end: float) -> Iterator[date]:
    day = datetime.fromtimestamp(start, UTC).astimezone(PARIS).date()
    last = datetime.fromtimestamp(end, UTC).astimezone(PARIS).date()
    while day <= last:
        if is_working_day(day):
            yield day
        day += timedelta(days=1)


def _wall(day: date, at: time) -> float:
    return datetime.combine(day, at, PARIS).timestamp()


Incident = tuple[str, int, int, Kind, str]


def plan(room: str, scenario: Scenario, quarters: tuple[float, float], start: float,
         end: float, seed: int, incidents: Sequence[Incident] = ()) -> list[Step]:
    """The room's steps that begin in ``[start, end)`` and end before ``end``, in time
    order. ``quarters`` are the starts of the last full quarter and of the current one
    (the incidents' working days count from them: :data:`INCIDENTS`), ``start`` may be
    later (a top-up)."""
    rng = np.random.default_rng(seed)
    work = routine(scenario)
    taken: list[Step] = []
    placed = {}
    for where, quarter, nth, kind, what in incidents:
        if where != room:
            continue
        days = list(working_days(quarters[quarter], quarters[quarter] + 92 * 86_400.0))
        at = _wall(days[min(nth, len(days) - 1)], INCIDENT_AT)
        placed[datetime.fromtimestamp(at, UTC).astimezone(PARIS).date()] = (at, kind, what)
    for day in working_days(quarters[0], end):
        jitter = rng.integers(-20 * 60, 20 * 60, size=len(SESSIONS[room]))
        skip = rng.random(size=len(SESSIONS[room])) < 0.1
        for hhmm, shift, skipped in zip(SESSIONS[room], jitter, skip, strict=True):
            if skipped:
                continue
            hour, minute = (int(x) for x in hhmm.split(":"))
            at = _wall(day, time(hour, minute)) + float(shift)
            taken.append(Step(at, "play", work, name=scenario.name))
        if day in placed:
            at, kind, what = placed[day]
            if kind == "play":
                taken.append(Step(at, "play", incident(what), name=what))
            else:
                taken.append(Step(at, kind, seconds=float(what), name=kind))
    taken.sort(key=lambda s: s.at)
    kept: list[Step] = []
    busy_until = float("-inf")
    for step in taken:  # a session that would start during another, or a cut, waits;
        # the box works on through a network outage
        if step.kind != "outage" and step.at < busy_until + 60.0:
            step = dataclasses.replace(step, at=busy_until + 60.0)
        if step.kind != "outage":
            busy_until = step.end
        if start <= step.at and step.end < end:
            kept.append(step)
    kept.sort(key=lambda s: s.at)
    return kept
