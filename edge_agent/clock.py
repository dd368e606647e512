"""Clocks handed to every part of the agent that needs the time.

Monotonic seconds measure durations (immune to clock steps); UTC wall seconds
(POSIX) stamp records. The simulator and the tests hand in a
:class:`ManualClock` so that every time-out runs on virtual time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the agent asks of a clock."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back."""
        ...

    def wall(self) -> float:
        """UTC wall time, POSIX seconds."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: virtual time for tests and the simulator.

    >>> clock = ManualClock(wall_start=0.0)
    >>> clock.advance_to(2.5); clock.monotonic()
    2.5
    """

    def __init__(self, wall_start: float = 1_767_600_000.0, mono_start: float = 0.0) -> None:
        self._mono = mono_start
        self._offset = wall_start - mono_start

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._mono + self._offset

    def advance_to(self, mono: float) -> None:
        """Move to monotonic time ``mono``; refuses to go back."""
        if mono < self._mono:
            raise ValueError(f"clock cannot go back from {self._mono} to {mono}")
        self._mono = mono

    def advance(self, seconds: float) -> None:
        self.advance_to(self._mono + seconds)

    def wall_to_mono(self, wall: float) -> float:
        return wall - self._offset


def iso_utc(wall: float) -> str:
    """POSIX seconds as an ISO 8601 UTC string with microseconds."""
    return datetime.fromtimestamp(wall, tz=UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z"
    )


def parse_iso_utc(text: str) -> float:
    """The inverse of :func:`iso_utc`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
