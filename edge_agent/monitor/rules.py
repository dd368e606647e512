"""The signal rules of spec/scenarios.md, one small function per alarm kind.

Each rule looks at the room and says whether its condition holds and since
when (``None`` when it does not hold). ``armed`` says whether it may be
raised now: the emission-based rules are raised only while the emission
signal is on, so that the gaps of pulsed fluoroscopy neither raise them nor
clear them. The monitor raises a rule once the condition has lasted strictly
longer than its grace, and clears it as the table in the spec says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from edge_agent.config import Rules
from edge_agent.monitor.exposures import ExposureTracker
from edge_agent.monitor.kinds import AlarmKind
from edge_agent.monitor.signals import Signals


@dataclass(frozen=True, slots=True)
class Condition:
    since: float
    armed: bool = True


@dataclass(frozen=True, slots=True)
class GraceRule:
    kind: AlarmKind
    grace: Callable[[Rules], float]
    condition: Callable[[Signals, ExposureTracker], Condition | None]
    #: "exposure": clears when the exposure ends; "condition": when it stops holding.
    clears: Literal["exposure", "condition", "either"]


def emission_after_release(s: Signals, x: ExposureTracker) -> Condition | None:
    """Emission goes on after the request was released during this exposure."""
    if x.current is None or x.released_at is None or s["request"]:
        return None
    return Condition(x.released_at, armed=x.emission_on)


def emission_light_fault(s: Signals, x: ExposureTracker) -> Condition | None:
    """Emitting, but the emission lamp is dark."""
    if x.current is None or s["light.emission"]:
        return None
    return Condition(max(x.current.start, s.changed["light.emission"]), armed=x.emission_on)


def emission_light_stuck(s: Signals, x: ExposureTracker) -> Condition | None:
    """The emission lamp is lit with no emission, no request held and no exposure open.

    The lamp held through the gaps of pulsed fluoroscopy (the request held) or
    of a pulse train on its own (its exposure still open) is normal.
    """
    if not s["light.emission"] or s["request"] or x.current is not None:
        return None
    return Condition(max(s.changed["light.emission"], s.changed["request"], x.last_off))


def powered_light_fault(s: Signals, x: ExposureTracker) -> Condition | None:
    """The powered lamp disagrees with the generator's mains state."""
    if s["generator_powered"] == s["light.powered"]:
        return None
    return Condition(max(s.changed["generator_powered"], s.changed["light.powered"]))


def emission_while_unpowered(s: Signals, x: ExposureTracker) -> Condition | None:
    """Emission while the generator reads unpowered: a wiring or signal fault."""
    if x.current is None or s["generator_powered"]:
        return None
    return Condition(
        max(x.current.start, s.changed["generator_powered"]), armed=x.emission_on
    )


def request_stuck(s: Signals, x: ExposureTracker) -> Condition | None:
    """The exposure switch is held implausibly long (a stuck foot switch)."""
    if not s["request"]:
        return None
    return Condition(s.changed["request"])


def long_exposure(s: Signals, x: ExposureTracker) -> Condition | None:
    """One exposure lasts longer than ``max_exposure_s``."""
    if x.current is None:
        return None
    return Condition(x.current.start, armed=x.emission_on)


GRACE_RULES: tuple[GraceRule, ...] = (
    GraceRule(
        "emission_after_release", lambda r: r.release_grace_s, emission_after_release, "exposure"
    ),
    GraceRule("emission_light_fault", lambda r: r.light_grace_s, emission_light_fault, "exposure"),
    GraceRule(
        "emission_light_stuck", lambda r: r.light_grace_s, emission_light_stuck, "condition"
    ),
    GraceRule("powered_light_fault", lambda r: r.light_grace_s, powered_light_fault, "condition"),
    GraceRule(
        "emission_while_unpowered", lambda r: r.light_grace_s, emission_while_unpowered, "either"
    ),
    GraceRule("request_stuck", lambda r: r.max_request_s, request_stuck, "condition"),
    GraceRule("long_exposure", lambda r: r.max_exposure_s, long_exposure, "exposure"),
)


def doors_to_alarm(s: Signals, x: ExposureTracker) -> list[str]:
    """Doors open while the emission signal is on (door_open_during_emission)."""
    if x.current is None or not x.emission_on:
        return []
    return s.open_doors()
