"""Debounce on the agent's own clock (gpiozero's mock pins do not debounce).

A change is reported once the raw level has been stable for ``debounce_s``,
stamped with the first edge of its burst: the physical change, so that grace
times are measured from it and debounce only delays *when* the agent knows.
A glitch shorter than ``debounce_s`` is never reported. A contact that never
stops chattering is settled by force after ``max_settle_s`` so that it cannot
hold the monitor's horizon back for ever.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    """A debounced change of one input: ``signal`` became ``value`` at ``at``."""

    signal: str
    value: bool
    at: float


class Debouncer:
    """Settle-type debounce of one input. Feed raw edges, poll for changes."""

    def __init__(self, signal: str, debounce_s: float, value: bool, max_settle_s: float) -> None:
        self.signal = signal
        self.debounce_s = debounce_s
        self.max_settle_s = max(max_settle_s, debounce_s)
        self.value = value
        self.raw = value
        self.burst_start: float | None = None
        self.last_edge = float("-inf")

    def edge(self, raw: bool, at: float) -> None:
        """The raw level became ``raw`` at ``at`` (repeated levels are ignored)."""
        if raw == self.raw:
            return
        self.raw = raw
        if self.burst_start is None:
            self.burst_start = at
        self.last_edge = at

    @property
    def settling(self) -> bool:
        return self.burst_start is not None

    def deadline(self) -> float | None:
        """When the current burst will be settled, or None when stable."""
        if self.burst_start is None:
            return None
        return min(self.last_edge + self.debounce_s, self.burst_start + self.max_settle_s)

    def poll(self, now: float) -> Change | None:
        """Settle the burst if its time has come; returns the change, if any."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        start = self.burst_start
        assert start is not None
        self.burst_start = None
        if self.raw == self.value:
            return None
        self.value = self.raw
        return Change(self.signal, self.value, start)
