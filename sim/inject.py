"""Faults injected into a room while it plays in real time (the demo's control, the browser tests).

A :class:`RoomControl` is handed to a :class:`~sim.runner.Simulation`; any
thread may call :meth:`RoomControl.inject` (thread-safe queue) or
:meth:`RoomControl.stop`. At its next step the simulation takes the queued
faults and turns each into timeline instants starting *now* on its virtual
clock: an unsolicited emission is the emission signal and the emission lamp
on, with a dose-rate field at the probe, all off again ``duration_s`` later.

A fault waits while the room is busy (the exposure request held or an
emission on) and for :data:`QUIET_S` after: an emission during a requested
exposure would be a normal one, and one just after it would be an
``emission_after_release``; so the fault is applied once the room is quiet.

    >>> control = RoomControl()
    >>> control.inject(Fault("unsolicited", duration_s=5.0))
    >>> control.take(98.0, {"request": True})  # busy: the fault waits
    []
    >>> control.take(100.0, {})  # quiet since 100 s: not long enough
    []
    >>> [(i.t, [c.value for c in i.changes]) for i in control.take(102.0, {})]
    [(102.0, [True, True, 30.0]), (107.0, [False, False, 0.0])]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from sim.timeline import FIELD_EVENT, Change, Instant, at

FaultKind = Literal["unsolicited", "radiation"]
#: The faults a running room accepts, with what each one does.
FAULTS: Final[dict[str, str]] = {
    "unsolicited": "emission and emission lamp on with a dose-rate field, nobody pressing",
    "radiation": "a dose-rate field with no emission signal (radiation_without_emission)",
}
#: Signals that, while on, mean the room is busy: a fault waits for them to go off.
BUSY_SIGNALS: Final = ("request", "emission")
#: Seconds of virtual time the room must have been quiet before a fault starts.
QUIET_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject: ``kind`` (see :data:`FAULTS`), how long, and the field it makes."""

    kind: FaultKind
    duration_s: float = 5.0
    dose_rate_usv_h: float | None = None

    def changes(self, on: bool) -> tuple[Change, ...]:
        """The changes that start (``on``) or end the fault."""
        if self.kind == "unsolicited":
            rate = 30.0 if self.dose_rate_usv_h is None else self.dose_rate_usv_h
            return (Change("emission", on), Change("light.emission", on),
                    Change(FIELD_EVENT, rate if on else 0.0))
        rate = 50.0 if self.dose_rate_usv_h is None else self.dose_rate_usv_h
        return (Change(FIELD_EVENT, rate if on else 0.0),)


def parse_fault(kind: str, duration_s: float = 5.0) -> Fault:
    """A :class:`Fault` from a command line or a control request; ValueError names the kinds."""
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULTS)}")
    if not 0.0 < duration_s <= 3600.0:
        raise ValueError("duration_s: expected a number of seconds in (0, 3600]")
    return Fault(kind, duration_s)  # type: ignore[arg-type]  # checked against FAULTS above


class RoomControl:
    """The thread-safe handle on a running room: inject faults, ask it to stop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Fault] = queue.SimpleQueue()
        self._waiting: list[Fault] = []
        self._stop = threading.Event()
        self._quiet_since: float | None = None
        self.injected = 0  # faults applied so far (read by the demo's status)

    def inject(self, fault: Fault) -> None:
        """Queue ``fault``; the room applies it at its next step (any thread)."""
        self._queue.put(fault)

    def stop(self) -> None:
        """Ask the room to stop at its next step (any thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if :meth:`stop` is called meanwhile."""
        self._stop.wait(seconds)

    def take(self, now: float, state: Mapping[str, bool | float]) -> list[Instant]:
        """The instants of every queued fault that may start at virtual time ``now``.

        ``state`` is the room's current signal values; while one of
        :data:`BUSY_SIGNALS` is on, and for :data:`QUIET_S` after, faults keep waiting.
        """
        while True:
            try:
                self._waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if any(state.get(signal) for signal in BUSY_SIGNALS):
            self._quiet_since = None
        elif self._quiet_since is None or now < self._quiet_since:  # a new play restarts at 0
            self._quiet_since = now - QUIET_S if now < QUIET_S else now
        if not self._waiting or self._quiet_since is None or now - self._quiet_since < QUIET_S:
            return []
        instants = []
        start = at(now)
        for fault in self._waiting:
            instants.append(Instant(start, fault.changes(True)))
            start = at(start + fault.duration_s)
            instants.append(Instant(start, fault.changes(False)))
        self.injected += len(self._waiting)
        self._waiting.clear()
        return instants
