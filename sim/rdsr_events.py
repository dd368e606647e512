"""What an imaging system records of a played scenario: its studies' irradiation events.

The generator's emission signal as the simulator plays it (:func:`sim.timeline.build_timeline`)
is cut into *runs* the way the agent cuts exposures (spec/scenarios.md): every pulse under
one continuous request is one run (one pedal press), pulses without a request less than
:data:`UNREQUESTED_MERGE_S` apart too. Each study of the ``[rdsr]`` table
(:mod:`sim.rdsr_scenario`) takes the runs that start within its span: a pulsed run is a
fluoroscopy event (a Siemens Artis writes one per press), a continuous one an acquisition;
fluoroscopy presses closer than the study's ``fluoro_group_gap_s`` are grouped into one
event (Philips groups so), whose duration is its presses' spans added (its on-time), not
the span from the first press to the last. The figures follow from the emission: Ka,r from the X-ray
on time, DAP from Ka,r and the field, kept to six significant digits so that the file
written and the figures read back are the same numbers. Times stay scenario seconds here;
:mod:`sim.rdsr_writer` puts them on the device's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sim.rdsr_scenario import ImagingSystem, StudySpec
from sim.scenario import Scenario
from sim.timeline import build_timeline

#: Pulses without a request less than this apart are one run (the agent's default
#: ``unrequested_merge_gap_s``): a C-arm's train on its own is one emission.
UNREQUESTED_MERGE_S: Final = 2.0
#: Technique written for each kind of event (what a real file carries; nothing reads it).
KVP: Final = {"fluoroscopy": 77.0, "stationary_acquisition": 80.0}
TUBE_MA: Final = {"fluoroscopy": 95.0, "stationary_acquisition": 400.0}
PROTOCOL: Final = {"fluoroscopy": "FL - Sim", "stationary_acquisition": "ACQ - Sim"}

EventType = Literal["fluoroscopy", "stationary_acquisition"]


def sig(value: float, digits: int = 6) -> float:
    """``value`` to ``digits`` significant digits: the number the file's text will hold."""
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True, slots=True)
class Run:
    """One press (or one train on its own): emission periods in scenario seconds."""

    periods: tuple[tuple[float, float], ...]
    requested: bool

    @property
    def start(self) -> float:
        return self.periods[0][0]

    @property
    def end(self) -> float:
        return self.periods[-1][1]

    @property
    def xray_on_s(self) -> float:
        return sum(off - on for on, off in self.periods)


def runs(scenario: Scenario) -> list[Run]:
    """Every run of the emission signal played, in time order (one still emitting at the
    end is cut at ``duration_s``)."""
    out: list[Run] = []
    periods: list[tuple[float, float]] = []
    requested = held = released = False
    on: float | None = None
    for instant in build_timeline(scenario):
        values = {c.signal: c.value for c in instant.changes}
        if "request" in values:
            held = bool(values["request"])
            released = released or not held
        if values.get("emission") is True:
            joins = bool(periods) and (
                (requested and held and not released)
                or (not requested and not held
                    and instant.t - periods[-1][1] < UNREQUESTED_MERGE_S))
            if not joins and periods:
                out.append(Run(tuple(periods), requested))
                periods = []
            if not periods:
                requested, released = held, False
            on = instant.t
        elif values.get("emission") is False and on is not None:
            periods.append((on, instant.t))
            on = None
    if on is not None:
        periods.append((on, scenario.duration_s))
    if periods:
        out.append(Run(tuple(periods), requested))
    return out


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One irradiation event as the file will say it (scenario seconds, true time)."""

    index: int
    type: EventType
    start_s: float
    duration_s: float
    xray_on_s: float
    pulses: int | None
    pulse_rate_hz: float | None
    pulse_width_ms: float | None
    kar_gy: float
    dap_gym2: float
    runs: tuple[Run, ...]

    @property
    def kvp(self) -> float:
        return KVP[self.type]

    @property
    def ma(self) -> float:
        return TUBE_MA[self.type]

    @property
    def protocol(self) -> str:
        return PROTOCOL[self.type]


@dataclass(frozen=True, slots=True)
class PlannedStudy:
    """One study's events and accumulated figures (single plane)."""

    index: int
    spec: StudySpec
    device: ImagingSystem
    events: tuple[PlannedEvent, ...]
    fluoro_time_s: float
    acquisition_time_s: float
    fluoro_dap_gym2: float
    fluoro_kar_gy: float
    acquisition_dap_gym2: float
    acquisition_kar_gy: float

    @property
    def dap_gym2(self) -> float:
        return sig(self.fluoro_dap_gym2 + self.acquisition_dap_gym2)

    @property
    def kar_gy(self) -> float:
        return sig(self.fluoro_kar_gy + self.acquisition_kar_gy)


def _kind(run: Run) -> EventType:
    return "fluoroscopy" if len(run.periods) > 1 else "stationary_acquisition"


def _groups(taken: Sequence[Run], gap_s: float) -> list[list[Run]]:
    """Consecutive fluoroscopy presses less than ``gap_s`` apart share an event; an
    acquisition is always its own."""
    groups: list[list[Run]] = []
    for run in taken:
        last = groups[-1] if groups else None
        if (last is not None and _kind(run) == _kind(last[-1]) == "fluoroscopy"
                and run.start - last[-1].end < gap_s):
            last.append(run)
        else:
            groups.append([run])
    return groups


def _event(index: int, group: Sequence[Run], spec: StudySpec) -> PlannedEvent:
    kind = _kind(group[0])
    periods = [p for run in group for p in run.periods]
    xray_on = sum(off - on for on, off in periods)
    rate = width = None
    if kind == "fluoroscopy":
        spans = sum(run.periods[-1][0] - run.start for run in group)
        rate = sig((len(periods) - len(group)) / spans, 4) if spans > 0 else None
        width = sig(xray_on / len(periods) * 1000, 4)
    per_s = spec.fluoro_kar_mgy_per_s if kind == "fluoroscopy" else spec.acquisition_kar_mgy_per_s
    kar = sig(xray_on * per_s / 1000)
    return PlannedEvent(
        index=index, type=kind, start_s=group[0].start,
        # each press's span added, the gaps between presses left out: the pulses over the
        # pulse rate, as a Philips writes a grouped event (its presses then reach beyond
        # start + duration: the reconciliation must cover them all the same)
        duration_s=sig(sum(run.end - run.start for run in group)), xray_on_s=sig(xray_on),
        pulses=len(periods) if kind == "fluoroscopy" else None, pulse_rate_hz=rate,
        pulse_width_ms=width, kar_gy=kar,
        dap_gym2=sig(kar * spec.field_cm2 / 10_000), runs=tuple(group))


def plan_studies(scenario: Scenario) -> list[PlannedStudy]:
    """The studies of the scenario's ``[rdsr]`` table with their events (none without)."""
    if scenario.rdsr is None:
        return []
    played = runs(scenario)
    out = []
    for number, spec in enumerate(scenario.rdsr.studies, 1):
        taken = [run for run in played if spec.from_s <= run.start <= spec.to_s]
        events = tuple(_event(i, group, spec)
                       for i, group in enumerate(_groups(taken, spec.fluoro_group_gap_s), 1))
        fluoro = [e for e in events if e.type == "fluoroscopy"]
        acquisitions = [e for e in events if e.type != "fluoroscopy"]
        out.append(PlannedStudy(
            index=number, spec=spec, device=scenario.rdsr.device(spec.device), events=events,
            # the generator's count: each press's span, the gaps between presses left out
            fluoro_time_s=sig(sum(r.end - r.start for e in fluoro for r in e.runs)),
            acquisition_time_s=sig(sum(e.duration_s for e in acquisitions)),
            fluoro_dap_gym2=sig(sum(e.dap_gym2 for e in fluoro)),
            fluoro_kar_gy=sig(sum(e.kar_gy for e in fluoro)),
            acquisition_dap_gym2=sig(sum(e.dap_gym2 for e in acquisitions)),
            acquisition_kar_gy=sig(sum(e.kar_gy for e in acquisitions))))
    return out
