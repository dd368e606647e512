"""The rule table: every alarm kind of the monitor, each in one entry (spec/scenarios.md).

An entry says when its kind holds (``condition``, a function of the room as
the monitor knows it), how long it must hold before it is raised
(``grace``) and when a raised alarm clears (``clears``, the only place that
says so), and what it writes on the open exposure's record (``marks``). The
monitor (:mod:`edge_agent.monitor.monitor`) judges the whole table, in this
order, whenever time passes, inputs change or a probe sample arrives; it keeps
no rule of its own.

A condition says since when it holds (``None``: it does not). ``armed`` says
whether it may be raised now: the emission-based rules are raised only while
the emission signal is on, so that the gaps of pulsed fluoroscopy neither
raise them nor clear them. The door rule has one condition per door (its
subjects).

A new kind goes first into the vocabulary, :mod:`wire.kinds` (``AlarmKind``
and ``KINDS``: its severity, its names), then gets its one entry here, then its
row in docs/monitor.md; tests/test_kinds.py and tests/test_docs.py hold the
three together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from edge_agent.config import Rules
from edge_agent.monitor.exposures import ExposureTracker
from edge_agent.monitor.probe_watch import EPS, ProbeWatch
from edge_agent.monitor.records import ExposureRecord
from edge_agent.monitor.signals import Signals
from wire.kinds import AlarmKind


@dataclass(frozen=True, slots=True)
class Room:
    """What the conditions look at: the monitor's own (live) state, read only."""

    signals: Signals
    exposures: ExposureTracker
    rules: Rules
    probe: ProbeWatch | None

    def key(self) -> tuple[object, ...]:
        """Everything a condition below (and a grace) reads that can change, as values: equal
        keys, equal answers. A condition that reads something new adds it here
        (tests/test_sim_modes.py plays random rooms with and without this memory)."""
        x, p = self.exposures, self.probe
        current, procedure = x.current, x.procedure
        return (
            self.signals.version,
            None if current is None else current.number,
            x.emission_on, x.last_off, x.released_at,
            None if procedure is None else (procedure.number, procedure.closed_emission_s),
            None if p is None else (p.rise_since, p.high_since, tuple(p.causes.items())),
        )


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition that holds: since when, whether it may be raised now, the alarm's detail."""

    since: float
    armed: bool = True
    detail: str = ""


#: A condition's answer: one, or one per subject (the doors).
Found = Condition | None | Mapping[str | None, Condition | None]


# -- grace: how long a condition holds before it is raised ------------------------------


@dataclass(frozen=True, slots=True)
class AtOnce:
    """Raised as soon as it holds (its time-outs or statistics are in the condition)."""

    #: Whether :meth:`deadline` moves with ``asof`` for the same room (else it can be kept).
    moves: ClassVar[bool] = False

    def due(self, room: Room, cond: Condition, asof: float) -> float | None:
        """The alarm's ``since`` if it is to be raised at ``asof``, else None."""
        return cond.since

    def deadline(self, room: Room, cond: Condition, asof: float) -> float | None:
        """When it would be raised if nothing changes (None: nothing to wait for)."""
        return None


@dataclass(frozen=True, slots=True)
class After:
    """Raised once the condition has lasted strictly longer than ``rules.<key>``."""

    key: str
    moves: ClassVar[bool] = False

    def due(self, room: Room, cond: Condition, asof: float) -> float | None:
        return cond.since if asof - cond.since > self._seconds(room) else None

    def deadline(self, room: Room, cond: Condition, asof: float) -> float | None:
        return cond.since + self._seconds(room) + EPS

    def _seconds(self, room: Room) -> float:
        return float(getattr(room.rules, self.key))


@dataclass(frozen=True, slots=True)
class FluoroscopyTime:
    """Raised once the procedure's fluoroscopy time passes ``rules.<key>``: its exposures'
    spans add up (pulse gaps included), so this grace is what is left of the limit."""

    key: str
    moves: ClassVar[bool] = True

    def due(self, room: Room, cond: Condition, asof: float) -> float | None:
        excess = room.exposures.procedure_emission(asof) - float(getattr(room.rules, self.key))
        return asof - excess if excess > 0 else None

    def deadline(self, room: Room, cond: Condition, asof: float) -> float | None:
        limit = float(getattr(room.rules, self.key))
        return asof + max(limit - room.exposures.procedure_emission(asof), 0.0) + EPS


AT_ONCE: Final = AtOnce()
Grace = AtOnce | After | FluoroscopyTime


# -- clearing: when a raised alarm clears ------------------------------------------------


def _asof(room: Room, asof: float) -> float:
    return asof


def _last_door_closed(room: Room, asof: float) -> float:
    return room.signals.last_door_closed()


@dataclass(frozen=True, slots=True)
class Clears:
    """When a raised alarm clears: at the end of the exposure it is about
    (``exposure_end``), once its condition stops holding (``condition_end``, as of
    ``ended``) or when the procedure ends (``procedure_end``)."""

    exposure_end: bool = False
    condition_end: bool = False
    procedure_end: bool = False
    #: When a condition that no longer holds ended (by default: when the monitor saw it).
    ended: Callable[[Room, float], float] = _asof


EXPOSURE_END: Final = Clears(exposure_end=True)
CONDITION_END: Final = Clears(condition_end=True)
EITHER_END: Final = Clears(exposure_end=True, condition_end=True)
PROCEDURE_END: Final = Clears(procedure_end=True)


# -- conditions --------------------------------------------------------------------------


def unsolicited_emission(r: Room) -> Found:
    """The open exposure began while no request was held."""
    x = r.exposures
    if x.current is None or x.current.requested:
        return None
    return Condition(x.current.start)


def door_open_during_emission(r: Room) -> Found:
    """Per door: open while emission is on. A door alarm holds while any door is open
    (and through the gaps between pulses); it ends when every door is closed again."""
    s, x = r.signals, r.exposures
    open_doors = s.open_doors()
    if x.current is None or (not open_doors and x.emission_on):
        return None  # none holds: cleared as of the last door's closing
    found: dict[str | None, Condition | None] = {}
    changed, emitting = s.changed, x.emission_on
    emission_changed = changed["emission"]
    for door, signal in s.door_signals:
        since = max(changed[signal], emission_changed)
        found[door] = Condition(since, armed=emitting and door in open_doors)
    return found


def emission_after_release(r: Room) -> Found:
    """Emission goes on after the request was released during this exposure."""
    s, x = r.signals, r.exposures
    if x.current is None or x.released_at is None or s["request"]:
        return None
    return Condition(x.released_at, armed=x.emission_on)


def emission_light_fault(r: Room) -> Found:
    """Emitting, but the emission lamp is dark."""
    s, x = r.signals, r.exposures
    if x.current is None or s["light.emission"]:
        return None
    return Condition(max(x.current.start, s.changed["light.emission"]), armed=x.emission_on)


def emission_light_stuck(r: Room) -> Found:
    """The emission lamp is lit with no emission, no request held and no exposure open.

    The lamp held through the gaps of pulsed fluoroscopy (the request held) or
    of a pulse train on its own (its exposure still open) is normal.
    """
    s, x = r.signals, r.exposures
    if not s["light.emission"] or s["request"] or x.current is not None:
        return None
    return Condition(max(s.changed["light.emission"], s.changed["request"], x.last_off))


def powered_light_fault(r: Room) -> Found:
    """The powered lamp disagrees with the generator's mains state."""
    s = r.signals
    if s["generator_powered"] == s["light.powered"]:
        return None
    return Condition(max(s.changed["generator_powered"], s.changed["light.powered"]))


def emission_while_unpowered(r: Room) -> Found:
    """Emission while the generator reads unpowered: a wiring or signal fault."""
    s, x = r.signals, r.exposures
    if x.current is None or s["generator_powered"]:
        return None
    return Condition(max(x.current.start, s.changed["generator_powered"]), armed=x.emission_on)


def request_stuck(r: Room) -> Found:
    """The exposure switch is held implausibly long (a stuck foot switch)."""
    s = r.signals
    if not s["request"]:
        return None
    return Condition(s.changed["request"])


def long_exposure(r: Room) -> Found:
    """One exposure lasts longer than ``max_exposure_s``."""
    x = r.exposures
    if x.current is None:
        return None
    return Condition(x.current.start, armed=x.emission_on)


def fluoroscopy_time_exceeded(r: Room) -> Found:
    """Emission is on in a procedure (its grace: what is left of the fluoroscopy limit)."""
    x = r.exposures
    if x.current is None:
        return None
    return Condition(x.current.start, armed=x.emission_on)


def radiation_without_emission(r: Room) -> Found:
    """The rise detector, fed only windows wholly outside emission and its hold-off, says
    the probe sees more than background."""
    if r.probe is None or r.probe.rise_since is None:
        return None
    return Condition(r.probe.rise_since)


def dose_rate_high(r: Room) -> Found:
    """The high-rate detector says the dose rate is above ``dose_rate_alarm_usv_h``."""
    if r.probe is None or r.probe.high_since is None:
        return None
    return Condition(r.probe.high_since)


def probe_fault(r: Room) -> Found:
    """Any cause holds: no valid data, a fault the probe reports, lasting saturation with
    no emission, no pulse at all for too long (see :mod:`~edge_agent.monitor.probe_watch`)."""
    if r.probe is None or not r.probe.causes:
        return None
    causes = r.probe.causes
    return Condition(min(causes.values()), detail=",".join(sorted(causes)))


# -- what an alarm writes on its exposure's record -----------------------------------------


def lamp_was_dark(exposure: ExposureRecord, subject: str | None) -> None:
    """The exposure's record says its warning lamp failed."""
    exposure.emission_light_ok = False


def door_was_open(exposure: ExposureRecord, subject: str | None) -> None:
    """The exposure's record lists the door (the alarm's subject)."""
    if subject is not None:
        exposure.doors_open.add(subject)


# -- the table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    kind: AlarmKind
    condition: Callable[[Room], Found]
    grace: Grace
    clears: Clears
    #: The alarm names the exposure open when it is raised, and that exposure lists it.
    on_exposure: bool = True
    #: What else the raised alarm writes on that exposure's record.
    marks: Callable[[ExposureRecord, str | None], None] | None = None
    #: What the alarm's ``subject`` names (one alarm per such thing), if it has one.
    subject: str | None = None


RULES: Final[tuple[Rule, ...]] = (
    Rule("unsolicited_emission", unsolicited_emission, AT_ONCE, EXPOSURE_END),
    Rule("door_open_during_emission", door_open_during_emission, AT_ONCE,
         Clears(exposure_end=True, condition_end=True, ended=_last_door_closed),
         marks=door_was_open, subject="door"),
    Rule("emission_after_release", emission_after_release, After("release_grace_s"),
         EXPOSURE_END),
    Rule("emission_light_fault", emission_light_fault, After("light_grace_s"), EXPOSURE_END,
         marks=lamp_was_dark),
    Rule("emission_light_stuck", emission_light_stuck, After("light_grace_s"), CONDITION_END),
    Rule("powered_light_fault", powered_light_fault, After("light_grace_s"), CONDITION_END),
    Rule("emission_while_unpowered", emission_while_unpowered, After("light_grace_s"),
         EITHER_END),
    Rule("request_stuck", request_stuck, After("max_request_s"), CONDITION_END),
    Rule("long_exposure", long_exposure, After("max_exposure_s"), EXPOSURE_END),
    Rule("fluoroscopy_time_exceeded", fluoroscopy_time_exceeded,
         FluoroscopyTime("procedure_emission_limit_s"), PROCEDURE_END),
    Rule("radiation_without_emission", radiation_without_emission, AT_ONCE, CONDITION_END,
         on_exposure=False),
    Rule("dose_rate_high", dose_rate_high, AT_ONCE, CONDITION_END, on_exposure=False),
    Rule("probe_fault", probe_fault, AT_ONCE, CONDITION_END, on_exposure=False),
)

#: Each kind's entry.
RULE_OF: Final[Mapping[str, Rule]] = {rule.kind: rule for rule in RULES}
