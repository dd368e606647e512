"""The room's digital inputs: gpiozero devices, debounced, in physical order.

Each input of the ``[pins]`` table becomes a gpiozero device (a :class:`Door`,
a :class:`Lamp`, or a plain :class:`SignalInput`), built on the pin factory
handed in: the real one on a Pi, gpiozero's ``MockFactory`` in tests and the
simulator. Edges are stamped with the agent's monotonic clock as they arrive
(on a Pi, in the GPIO backend's thread; with mock pins, in the thread that
drives the pin), debounced on that clock, and released to the monitor in the
order they physically happened: a change is held back while another input
that changed at the same time or earlier is still settling, so debounce never
reorders a request and an emission.

Wiring (see hardware/): 24 V generator and lamp signals through opto-couplers
whose transistor pulls the GPIO to ground (``active = "low"``, ``pull = "up"``);
door contacts are dry contacts to ground, closed when the door is closed
(``active = "high"`` means *open* with the pull-up: the contact opens, the pin
rises). The optional ``patient`` input (a "next patient" button to ground, or
the generator's study-reset output through an opto-coupler) is a plain
:class:`SignalInput`; the monitor ends a procedure when it becomes active.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from gpiozero import DigitalInputDevice

from edge_agent.clock import Clock
from edge_agent.config import InputPin
from edge_agent.debounce import Change, Debouncer

#: Longest a chattering input may hold the others back, in debounce periods.
MAX_SETTLE_FACTOR = 5.0


class SignalInput(DigitalInputDevice):  # type: ignore[misc]
    """A digital input configured from one ``[pins]`` entry (any pull, any active level)."""

    def __init__(self, spec: InputPin, *, pin_factory: Any = None) -> None:
        super().__init__(
            spec.pin, pull_up=None, active_state=spec.active == "high", pin_factory=pin_factory
        )
        if spec.pull != "none":
            self.pin.pull = spec.pull


class Door(SignalInput):
    """A door contact: active when the door is open."""

    @property
    def is_open(self) -> bool:
        return bool(self.is_active)


class Lamp(SignalInput):
    """Feedback of a warning lamp (current sensing): active when lit."""

    @property
    def is_lit(self) -> bool:
        return bool(self.is_active)


def _device_class(signal: str) -> type[SignalInput]:
    if signal.startswith("door."):
        return Door
    if signal.startswith("light."):
        return Lamp
    return SignalInput


class InputBank:
    """Every input of the room, debounced on the agent clock and released in order."""

    def __init__(
        self,
        specs: Mapping[str, InputPin],
        clock: Clock,
        *,
        pin_factory: Any = None,
        simultaneity_s: float = 0.0,
        on_edge: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.simultaneity_s = simultaneity_s
        self._on_edge = on_edge
        self._lock = threading.Lock()
        self._ready: list[Change] = []
        self.devices: dict[str, SignalInput] = {}
        self._debouncers: dict[str, Debouncer] = {}
        for signal, spec in specs.items():
            device = _device_class(signal)(spec, pin_factory=pin_factory)
            self.devices[signal] = device
            self._debouncers[signal] = Debouncer(
                signal, spec.debounce_ms / 1000.0, bool(device.is_active),
                MAX_SETTLE_FACTOR * spec.debounce_ms / 1000.0,
            )
            device.when_activated = self._callback(signal, True)
            device.when_deactivated = self._callback(signal, False)

    def _callback(self, signal: str, value: bool) -> Callable[[], None]:
        def changed() -> None:
            self.edge(signal, value)

        return changed

    def edge(self, signal: str, value: bool, at: float | None = None) -> None:
        """A raw edge of ``signal`` (called by the pin callbacks; tests may call it)."""
        with self._lock:
            self._debouncers[signal].edge(value, self.clock.monotonic() if at is None else at)
        if self._on_edge is not None:
            self._on_edge()

    def resync(self) -> None:
        """Adopt the pins' present levels as the known state, with no change reported.

        The agent does this once at start, after whoever wires the pins (the
        simulator) has set them, so the monitor starts from what is, not from
        the pull resistors.
        """
        with self._lock:
            for signal, device in self.devices.items():
                debouncer = self._debouncers[signal]
                debouncer.value = debouncer.raw = bool(device.is_active)
                debouncer.burst_start = None
            self._ready.clear()

    def values(self) -> dict[str, bool]:
        """The debounced value of every input."""
        with self._lock:
            return {name: d.value for name, d in self._debouncers.items()}

    def collect(self, now: float) -> tuple[list[tuple[float, dict[str, bool]]], float]:
        """Settle what is due at ``now``; returns the releasable changes and the horizon.

        Changes come grouped by instant (within ``simultaneity_s``), in time
        order. The horizon is the time up to which every input is known: the
        monitor must not judge a later moment yet.
        """
        with self._lock:
            starts: list[float] = []
            for debouncer in self._debouncers.values():
                if debouncer.burst_start is None:
                    continue  # stable: nothing to settle (poll would say None)
                change = debouncer.poll(now)
                if change is not None:
                    self._ready.append(change)
                elif debouncer.burst_start is not None:
                    starts.append(debouncer.burst_start)
            if not self._ready:
                return [], min(starts) if starts else now
            horizon = min(starts) if starts else now
            self._ready.sort(key=lambda c: c.at)
            cut = 0
            while cut < len(self._ready) and (
                self._ready[cut].at < horizon or (not starts and self._ready[cut].at <= now)
            ):
                cut += 1
            released, self._ready = self._ready[:cut], self._ready[cut:]
        return self._group(released), horizon

    def _group(self, changes: list[Change]) -> list[tuple[float, dict[str, bool]]]:
        groups: list[tuple[float, dict[str, bool]]] = []
        for change in changes:
            if groups and change.at - groups[-1][0] <= self.simultaneity_s:
                groups[-1][1][change.signal] = change.value
            else:
                groups.append((change.at, {change.signal: change.value}))
        return groups

    def next_deadline(self) -> float | None:
        """The earliest debounce deadline (asked several times per step: no list made)."""
        best: float | None = None
        with self._lock:
            for debouncer in self._debouncers.values():
                if debouncer.burst_start is None:
                    continue  # a stable input has none
                t = debouncer.deadline()
                if t is not None and (best is None or t < best):
                    best = t
        return best

    def fault(self) -> str | None:
        """None if every input's pin answers a read; else which one fails and why."""
        for signal, device in self.devices.items():
            try:
                device.pin.state  # noqa: B018 (reads the pin through the backend)
            except Exception as exc:  # gpiozero raises its own errors, lgpio OSError
                return f"input {signal}: {exc!r}"
        return None

    def close(self) -> None:
        for device in self.devices.values():
            device.close()
