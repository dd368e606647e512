"""The fixed alarm vocabulary of ``spec/scenarios.md``, and which kinds are about what."""

from __future__ import annotations

from typing import Final, Literal, get_args

AlarmKind = Literal[
    "unsolicited_emission",
    "emission_after_release",
    "radiation_without_emission",
    "door_open_during_emission",
    "emission_light_fault",
    "emission_light_stuck",
    "powered_light_fault",
    "long_exposure",
    "fluoroscopy_time_exceeded",
    "dose_rate_high",
    "probe_fault",
    "request_stuck",
    "emission_while_unpowered",
]

ALARM_KINDS: Final[tuple[AlarmKind, ...]] = get_args(AlarmKind)

#: Kinds that open the optional interlock relay unless the config says otherwise.
DEFAULT_CRITICAL_KINDS: Final[tuple[AlarmKind, ...]] = (
    "unsolicited_emission",
    "emission_after_release",
    "door_open_during_emission",
    "radiation_without_emission",
)

#: Kinds that clear when the emission (exposure) they are about ends.
EMISSION_KINDS: Final[frozenset[AlarmKind]] = frozenset(
    {
        "unsolicited_emission",
        "emission_after_release",
        "door_open_during_emission",
        "emission_light_fault",
        "long_exposure",
    }
)

#: Kinds decided by counting statistics rather than by a grace time.
STATISTICAL_KINDS: Final[frozenset[AlarmKind]] = frozenset(
    {"radiation_without_emission", "dose_rate_high"}
)
