"""Scenario files (spec/scenarios.md), parsed and validated into frozen dataclasses.

A scenario file is a public interface that outside tools write, so every
mistake is refused before anything is played: an unknown key (a typo must not
pass silently), a wrong type (TOML booleans are not numbers), a negative time,
an entry after the end, a signal the room does not have, a value of the wrong
type for its signal, overlapping exposures, a bad ``[agent]`` override. Each
message names the file, the line where a plain search finds it, the key
(``exposure[3].duration_s``: entries are numbered from 1 in file order) and
what was expected.

Four extensions, documented in docs/scenarios.md: pulsed fluoroscopy
(``pulse_hz`` and ``pulse_width_s`` on ``[[exposure]]``), the ``patient``
signal, ``[expect]`` (:mod:`sim.expect`), what the agent must record,
checked by the tests against the simulator's report with
:meth:`Expectations.mismatches`, and ``[rdsr]`` (:mod:`sim.rdsr_scenario`), the
imaging systems whose dose reports the simulator writes (docs/simulator-rdsr.md).

    >>> scenario = load_scenario("sim/scenarios/unsolicited_emission.toml")
    >>> scenario.room.doors
    ('corridor',)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from edge_agent.config import Rules, validate_rule_overrides
from sim.expect import Expectations, parse_expect
from sim.expect import ExpectedAlarm as ExpectedAlarm  # re-exported: part of the file's API
from sim.rdsr_scenario import RdsrPlan, parse_rdsr
from sim.scenario_toml import (
    Doc,
    KeyPath,
    ScenarioError,
    Table,
    entries,
    fmt,
    is_number,
    show,
)
from wire.errors import ConfigError
from wire.settings import parse_toml, read_text

ProbeKind = Literal["serial", "gpio"]
ProbePosition = Literal["inside", "outside"]

#: Signals an ``[[event]]`` may set in every room, with the value they start with.
SIGNAL_START: Mapping[str, bool | float] = MappingProxyType(
    {
        "generator_powered": True,
        "request": False,
        "emission": False,
        "light.powered": True,
        "light.emission": False,
        "dose_rate_usv_h": 0.0,
        "probe.connected": True,
        "patient": False,
    }
)
#: The signal of the optional patient input: wired in the simulated room only when used.
PATIENT_SIGNAL = "patient"
#: The longest gap between pulses of one pulsed exposure: pulsed fluoroscopy runs at
#: 0.5 pulse/s and more.
MAX_PULSE_GAP_S = 2.0
DOOR_PREFIX = "door."

_TOP_KEYS = ("name", "duration_s", "seed", "room", "agent", "exposure", "event", "expect",
             "rdsr")
_ROOM_KEYS = ("doors", "background_usv_h", "probe", "probe_position")
_EXPOSURE_KEYS = ("at", "duration_s", "dose_rate_usv_h", "prep_s", "pulse_hz", "pulse_width_s")
_EVENT_KEYS = ("at", "signal", "value")


@dataclass(frozen=True, slots=True)
class Room:
    """The room's wiring as the scenario declares it."""

    doors: tuple[str, ...]
    background_usv_h: float
    probe: ProbeKind
    probe_position: ProbePosition

    def signals(self) -> dict[str, bool | float]:
        """Every signal an ``[[event]]`` may set here, with its starting value."""
        doors: dict[str, bool | float] = {f"{DOOR_PREFIX}{d}": False for d in self.doors}
        return {**SIGNAL_START, **doors}


@dataclass(frozen=True, slots=True)
class ExposureSpec:
    """One well-behaved exposure; pulsed when ``pulse_hz`` and ``pulse_width_s`` are set."""

    at: float
    duration_s: float
    dose_rate_usv_h: float
    prep_s: float = 0.3
    pulse_hz: float | None = None
    pulse_width_s: float | None = None

    @property
    def emission_start(self) -> float:
        return self.at + self.prep_s

    @property
    def end(self) -> float:
        """When emission, lamp and field end and the request is released."""
        return self.at + self.prep_s + self.duration_s


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A low-level change of one signal from ``at`` on (a fault, a door, a field)."""

    at: float
    signal: str
    value: bool | float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file. ``agent`` is the raw ``[agent]`` table, ``rules`` its effect."""

    name: str
    duration_s: float
    seed: int
    room: Room
    agent: Mapping[str, Any]
    exposures: tuple[ExposureSpec, ...]
    events: tuple[EventSpec, ...]
    expect: Expectations | None
    source: Path
    #: The agent's rules with the ``[agent]`` overrides applied.
    rules: Rules = field(default_factory=Rules)
    #: The imaging systems and their studies (``[rdsr]``), None without the table.
    rdsr: RdsrPlan | None = None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise :class:`ScenarioError` on any mistake."""
    path = Path(path)
    return parse_scenario(read_text(path, "scenario", ScenarioError), path)


def parse_scenario(text: str, source: str | Path = "<scenario>") -> Scenario:
    """Validate the text of a scenario file; ``source`` names it in error messages."""
    data = parse_toml(text, source, ScenarioError)
    return _scenario(Doc(text, str(source)), data, Path(source))


# -- the sections -------------------------------------------------------------------------


def _scenario(doc: Doc, data: dict[str, Any], source: Path) -> Scenario:
    top = Table(doc, data, (), _TOP_KEYS)
    name = top.text("name")
    duration = top.number("duration_s", "a duration in seconds", above=True)
    seed = top.integer("seed", "a seed for the counting statistics")
    room = _room(doc, top.raw("room"))
    agent, rules = _agent(doc, data.get("agent", {}))
    exposures = tuple(
        _exposure(doc, entry, ("exposure", i), duration)
        for i, entry in enumerate(entries(doc, data.get("exposure", []), ("exposure",)), 1)
    )
    _refuse_overlaps(doc, exposures)
    events = tuple(
        _event(doc, entry, ("event", i), duration, room)
        for i, entry in enumerate(entries(doc, data.get("event", []), ("event",)), 1)
    )
    expect = parse_expect(doc, data["expect"], duration, room.doors) if "expect" in data else None
    rdsr = parse_rdsr(doc, data["rdsr"], duration) if "rdsr" in data else None
    return Scenario(name, duration, seed, room, agent, exposures, events, expect, source, rules,
                    rdsr)


def _room(doc: Doc, data: object) -> Room:
    t = Table(doc, data, ("room",), _ROOM_KEYS)
    doors = t.raw("doors")
    if not isinstance(doors, list) or not doors:
        doc.fail(t.at("doors"), f"expected a list of at least one door name, got {show(doors)}")
    for name in doors:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in ". "):
            doc.fail(t.at("doors"), f"expected door names without dots or spaces, got {show(name)}")
    if len(set(doors)) != len(doors):
        doc.fail(t.at("doors"), f"expected each door once, got {doors}")
    background = t.number("background_usv_h", "a background dose rate in µSv/h", above=True)
    probe = cast(ProbeKind, t.text("probe", get_args(ProbeKind)))
    position = cast(ProbePosition, t.text("probe_position", get_args(ProbePosition)))
    return Room(tuple(doors), background, probe, position)


def _agent(doc: Doc, data: object) -> tuple[Mapping[str, Any], Rules]:
    """Overrides of the agent's ``[rules]``: numbers only (pydantic would take "5" or true)."""
    if not isinstance(data, dict):
        doc.fail(("agent",), f"expected a table of [rules] overrides, got {show(data)}")
    for key, value in data.items():
        if key in Rules.model_fields and not is_number(value):
            doc.fail(("agent", key), f"expected a number, got {show(value)}")
    try:
        rules = validate_rule_overrides(dict(data), "agent")
    except ConfigError as exc:
        raise ScenarioError(_agent_errors(doc, str(exc))) from None
    return MappingProxyType(dict(data)), rules


def _agent_errors(doc: Doc, message: str) -> str:
    """The config's ``agent: key: msg`` lines as ``file:line: agent.key: msg``."""
    out = []
    for line in message.splitlines():
        key, _, msg = line.removeprefix("agent: ").partition(": ")
        if msg == "unknown key":
            msg += f"; expected a key of the agent's [rules]: {', '.join(Rules.model_fields)}"
        out.append(f"{doc.where(('agent', key))}: agent.{key}: {msg}")
    return "\n".join(out)


def _exposure(doc: Doc, data: object, path: KeyPath, duration: float) -> ExposureSpec:
    t = Table(doc, data, path, _EXPOSURE_KEYS)
    at = t.time("at", duration)
    length = t.number("duration_s", "a duration in seconds", above=True)
    rate = t.number("dose_rate_usv_h", "a dose rate in µSv/h")
    prep = t.number_or("prep_s", "a time in seconds", 0.3)
    hz, width = _pulses(t)
    return ExposureSpec(at, length, rate, prep, hz, width)


def _pulses(t: Table) -> tuple[float | None, float | None]:
    """Pulsed fluoroscopy: both keys or neither, and gaps of at most 2 s (0.5 pulse/s).

    Under the exposure's continuous request every pulse is one exposure whatever
    the gap; a longer gap is no fluoroscopy any generator makes.
    """
    hz = t.optional_number("pulse_hz", "a pulse rate in pulses per second", above=True)
    width = t.optional_number("pulse_width_s", "a pulse width in seconds", above=True)
    if hz is None and width is None:
        return None, None
    if hz is None or width is None:
        keys = ("pulse_width_s", "pulse_hz") if width is None else ("pulse_hz", "pulse_width_s")
        t.doc.fail(t.at(keys[0]), f"required with {keys[1]}: a pulsed exposure needs both")
    period = 1.0 / hz
    if width >= period:
        t.doc.fail(
            t.at("pulse_width_s"),
            f"expected a pulse width shorter than the period 1/pulse_hz = {fmt(period)} s,"
            f" got {fmt(width)}",
        )
    if round(period - width, 6) > MAX_PULSE_GAP_S:
        t.doc.fail(
            t.at("pulse_hz"),
            f"the gap between pulses ({fmt(period - width)} s) must be at most"
            f" {fmt(MAX_PULSE_GAP_S)} s (pulsed fluoroscopy runs at 0.5 pulse/s and more);"
            " expected a higher pulse_hz or a wider pulse_width_s",
        )
    return hz, width


def _refuse_overlaps(doc: Doc, exposures: Sequence[ExposureSpec]) -> None:
    """Each exposure spans [at, at + prep_s + duration_s]; two may not share an instant."""
    order = sorted(range(len(exposures)), key=lambda i: (exposures[i].at, i))
    for first, second in itertools.pairwise(order):
        a, b = exposures[first], exposures[second]
        if round(b.at, 6) <= round(a.end, 6):
            doc.fail(
                ("exposure", second + 1, "at"),
                f"overlaps exposure[{first + 1}], which spans [{fmt(a.at)}, {fmt(a.end)}] s;"
                " expected exposures that do not overlap (each spans"
                " [at, at + prep_s + duration_s])",
            )


def _event(doc: Doc, data: object, path: KeyPath, duration: float, room: Room) -> EventSpec:
    t = Table(doc, data, path, _EVENT_KEYS)
    at = t.time("at", duration)
    signal = t.text("signal")
    signals = room.signals()
    if signal not in signals:
        doc.fail(t.at("signal"), _unknown_signal(signal, room, signals))
    if isinstance(signals[signal], float):
        return EventSpec(at, signal, t.number("value", f"a dose rate in µSv/h for {signal}"))
    value = t.raw("value")
    if not isinstance(value, bool):
        doc.fail(t.at("value"), f"expected true or false for {signal}, got {show(value)}")
    return EventSpec(at, signal, value)


def _unknown_signal(signal: str, room: Room, signals: Mapping[str, object]) -> str:
    if signal.startswith(DOOR_PREFIX):
        doors = ", ".join(f"{DOOR_PREFIX}{d}" for d in room.doors)
        return f'unknown door "{signal}"; expected one of the doors of [room] doors: {doors}'
    return f'unknown signal "{signal}"; expected one of {", ".join(signals)}'
