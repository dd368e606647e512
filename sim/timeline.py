"""A scenario as a list of instants: what changes, when, in the order the spec sets.

The simulator plays instants one by one, applying all the changes of one
instant together before the agent evaluates its rules (spec/scenarios.md), so
an order within one instant never creates an alarm by itself. Changes come
from ``[[exposure]]`` entries first, then ``[[event]]`` entries in file
order, and the latest change of a signal wins: each instant holds the net
change of every signal that really changes (a release by an exposure and a
press by an event at the same instant leave the request held, and nothing is
sent).

Signals are those of ``[[event]]``, except that the radiation field has two
channels that the simulator adds to the background: ``field.exposure`` (the
running exposure's dose rate, 0 when none) and ``field.event`` (the last
``dose_rate_usv_h`` event). Times are rounded to the microsecond, so that
instants computed two ways (a pulse from its index, an event from the file)
compare equal; pulse times are computed from their index (``t0 + k/hz``),
never by adding periods, so that no error accumulates over a long run.

    >>> from sim.scenario import parse_scenario
    >>> text = '''name = "x"
    ... duration_s = 10.0
    ... seed = 1
    ... [room]
    ... doors = ["corridor"]
    ... background_usv_h = 0.1
    ... probe = "serial"
    ... probe_position = "inside"
    ... [[exposure]]
    ... at = 1.0
    ... duration_s = 2.0
    ... dose_rate_usv_h = 40.0
    ... '''
    >>> [i.t for i in build_timeline(parse_scenario(text))]
    [1.0, 1.3, 3.3]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sim.scenario import ExposureSpec, Room, Scenario

#: Instants are rounded to this many decimals (the microsecond).
DECIMALS = 6
FIELD_EXPOSURE = "field.exposure"
FIELD_EVENT = "field.event"
#: The ``[[event]]`` signal that sets the ``field.event`` channel.
EVENT_FIELD_SIGNAL = "dose_rate_usv_h"


@dataclass(frozen=True, slots=True)
class Change:
    """One signal taking a new value (bool for the pins and the link, µSv/h for fields)."""

    signal: str
    value: bool | float


@dataclass(frozen=True, slots=True)
class Instant:
    """Every change at virtual time ``t``, to be applied together."""

    t: float
    changes: tuple[Change, ...]


#: A change before netting: its instant, its place in the spec's order there (unique, so that
#: sorting never compares two changes), the change. A plain tuple: the working day has 170,000.
_Raw = tuple[float, int, Change]
#: A place is (exposures first, then events; the entry's index; the change's rank in it) as
#: one integer, these bits each: plain tuples of a float and an int sort with no key.
_INDEX_BITS = _RANK_BITS = 30


def at(t: float) -> float:
    """A time as an instant: rounded to the microsecond."""
    return round(t, DECIMALS)


def starting_state(room: Room) -> dict[str, bool | float]:
    """Every timeline signal with its value before the first instant."""
    state = room.signals()
    state.pop(EVENT_FIELD_SIGNAL)
    state[FIELD_EXPOSURE] = 0.0
    state[FIELD_EVENT] = 0.0
    return state


def build_timeline(scenario: Scenario) -> list[Instant]:
    """Every instant in [0, duration_s] at which something changes, in time order."""
    last = at(scenario.duration_s)
    raw: list[_Raw] = [
        (t, _place(0, index, rank), change)
        for index, exposure in enumerate(scenario.exposures)
        for rank, (t, change) in enumerate(exposure_changes(exposure))
        if t <= last
    ]
    for index, event in enumerate(scenario.events):
        signal = FIELD_EVENT if event.signal == EVENT_FIELD_SIGNAL else event.signal
        value = float(event.value) if signal == FIELD_EVENT else event.value
        if at(event.at) <= last:
            raw.append((at(event.at), _place(1, index, 0), Change(signal, value)))
    raw.sort()  # by instant, then place: unique, so two changes are never compared
    return _net(raw, starting_state(scenario.room))


def _place(kind: int, index: int, rank: int) -> int:
    """(kind, index, rank) as one integer that sorts as the tuple does."""
    if index >> _INDEX_BITS or rank >> _RANK_BITS:
        raise ValueError(f"a scenario entry too large to order: #{index}, change {rank}")
    return (((kind << _INDEX_BITS) | index) << _RANK_BITS) | rank


def exposure_changes(exposure: ExposureSpec) -> Iterator[tuple[float, Change]]:
    """What one well-behaved exposure does, in order: request, lamp, emission pulses, release."""
    start, end = at(exposure.emission_start), at(exposure.end)
    yield at(exposure.at), Change("request", True)
    yield start, Change("light.emission", True)
    # Changes are frozen: a pulse train's four are made once and shared by its pulses.
    rises, field_on = Change("emission", True), Change(FIELD_EXPOSURE, exposure.dose_rate_usv_h)
    falls, field_off = Change("emission", False), Change(FIELD_EXPOSURE, 0.0)
    for on, off in emission_periods(exposure):
        yield on, rises
        yield on, field_on
        yield off, falls
        yield off, field_off
    yield end, Change("light.emission", False)
    yield end, Change("request", False)


def emission_periods(exposure: ExposureSpec) -> list[tuple[float, float]]:
    """When the emission signal (and the field) is on: the whole exposure, or each pulse.

    Pulses of ``pulse_width_s`` start every ``1/pulse_hz`` from emission start;
    the last one is cut at the exposure's end.
    """
    start, end = at(exposure.emission_start), at(exposure.end)
    if exposure.pulse_hz is None or exposure.pulse_width_s is None:
        return [(start, end)]
    periods = []
    for k in itertools.count():
        on = at(exposure.emission_start + k / exposure.pulse_hz)
        if on >= end:
            break
        periods.append((on, min(at(on + exposure.pulse_width_s), end)))
    return periods


def _net(raw: Sequence[_Raw], state: dict[str, bool | float]) -> list[Instant]:
    """Group by instant; keep each signal's last change there, if it differs from before."""
    instants = []
    i, n = 0, len(raw)
    while i < n:
        t = raw[i][0]
        latest: dict[str, Change] = {}
        while i < n and raw[i][0] == t:
            change = raw[i][2]
            latest.pop(change.signal, None)
            latest[change.signal] = change
            i += 1
        changes = tuple(c for s, c in latest.items() if state[s] != c.value)
        for s, c in latest.items():
            state[s] = c.value
        if changes:
            instants.append(Instant(t, changes))
    return instants
