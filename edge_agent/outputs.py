"""The agent's outputs: the local alarm (buzzer or lamp) and the optional interlock relay.

The relay is wired in series with the generator's own interlock chain and is
*energised to allow* X-rays: it is energised only while no critical alarm
holds, so a crash, a restart or a power loss opens it (fail-safe). Once a
critical alarm has opened it, it stays open until someone resets it on the
box or the PCR does, and only once no critical alarm holds any more. Voyant
never replaces the room's interlocks; this relay only adds one.

Wiring: the relay module's coil driver on the configured GPIO (active high by
default), its normally-open contact in series with the interlock loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpiozero import DigitalOutputDevice

from edge_agent.config import InterlockRelay as RelaySpec
from edge_agent.config import OutputPin
from wire.kinds import AlarmKind


class AlarmOutput:
    """A buzzer or lamp that is on while any alarm holds."""

    def __init__(self, spec: OutputPin, *, pin_factory: Any = None) -> None:
        self.device = DigitalOutputDevice(
            spec.pin, active_high=spec.active_high, initial_value=False, pin_factory=pin_factory
        )

    def show(self, alarms_holding: bool) -> None:
        if bool(self.device.value) != alarms_holding:
            self.device.value = alarms_holding

    @property
    def is_on(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        self.device.close()


class Interlock:
    """The fail-safe interlock relay and its latch (see the module docstring)."""

    def __init__(self, spec: RelaySpec, *, latched: bool, pin_factory: Any = None) -> None:
        self.critical = frozenset(spec.critical_kinds)
        self.latched = latched
        self._holding: set[AlarmKind] = set()
        self.device = DigitalOutputDevice(
            spec.pin, active_high=spec.active_high, initial_value=False, pin_factory=pin_factory
        )
        self._apply()

    def update(self, holding: Iterable[AlarmKind]) -> bool:
        """Take the kinds that hold now; returns True when this call latched the relay open."""
        self._holding = {kind for kind in holding if kind in self.critical}
        newly = bool(self._holding) and not self.latched
        if self._holding:
            self.latched = True
        self._apply()
        return newly

    def reset(self) -> bool:
        """Close the relay again if no critical alarm holds; returns whether it did."""
        if self._holding:
            return False
        self.latched = False
        self._apply()
        return True

    @property
    def energised(self) -> bool:
        return bool(self.device.value)

    def _apply(self) -> None:
        allow = not self.latched and not self._holding
        if bool(self.device.value) != allow:
            self.device.value = allow

    def close(self) -> None:
        self.device.value = False
        self.device.close()
