"""The room's signals as the monitor last knew them, with when each last changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SIGNALS: tuple[str, ...] = (
    "generator_powered",
    "request",
    "emission",
    "light.powered",
    "light.emission",
)

#: The state of every signal before the agent has read any pin (spec/scenarios.md).
RESTING: Mapping[str, bool] = {
    "generator_powered": True,
    "request": False,
    "emission": False,
    "light.powered": True,
    "light.emission": False,
}


#: The optional input whose rising edge ends a procedure (a button, or a study-reset output).
PATIENT = "patient"


def signal_names(doors: Sequence[str], patient: bool = False) -> tuple[str, ...]:
    return SIGNALS + tuple(f"door.{name}" for name in doors) + ((PATIENT,) if patient else ())


class Signals:
    """Current values and change times; ``door.<name>`` is True when that door is open.

    :meth:`set` is the only change; it counts them in ``version``, so that the monitor can
    tell that nothing a rule reads has changed since it last judged."""

    def __init__(
        self, doors: Sequence[str], initial: Mapping[str, bool], at: float, patient: bool = False
    ) -> None:
        self.doors = tuple(doors)
        #: Each door with its signal's name (read at every judgement: made once).
        self.door_signals = tuple((door, f"door.{door}") for door in self.doors)
        names = signal_names(doors, patient)
        unknown = set(initial) - set(names)
        if unknown:
            raise ValueError(f"unknown signals: {sorted(unknown)}")
        self.value = {name: initial.get(name, RESTING.get(name, False)) for name in names}
        self.changed = dict.fromkeys(names, at)
        self.version = 0

    def set(self, name: str, value: bool, at: float) -> bool:
        """Record a change; returns False when the value did not change."""
        if name not in self.value:
            raise KeyError(f"unknown signal {name!r}")
        if self.value[name] == value:
            return False
        self.value[name] = value
        self.changed[name] = at
        self.version += 1
        return True

    def __getitem__(self, name: str) -> bool:
        return self.value[name]

    def open_doors(self) -> list[str]:
        value = self.value
        return [door for door, signal in self.door_signals if value[signal]]

    def last_door_closed(self) -> float:
        """When the last door closed (meaningful when every door is closed)."""
        changed = self.changed
        return max(changed[signal] for _, signal in self.door_signals)
