"""Every debounced input change as a record, pulse trains compacted: pure, on injected times.

An input change is evidence (who opened a door, when the emission began), so
each is journaled; but a pulsed emission flips its input 30 times a second
for minutes, and a chattering contact as fast. So :class:`ChangeTracker`
turns the debounced changes the agent hands to the monitor into
:class:`ChangeRecord` s by one rule, per input:

- a change more than :data:`TRAIN_GAP_S` after the input's previous one (or
  its first) is a record of its own, made at once: an isolated change is
  journaled as soon as it is known, and so is the first edge of a train;
- the changes that follow within :data:`TRAIN_GAP_S` of each other are a run,
  accumulated into one record (its first and last edge, how many, the value
  after the last) made when the input has been stable :data:`TRAIN_GAP_S`,
  when the record spans :data:`TRAIN_SPAN_S` (the next edges start a new
  record), or when the agent closes (:meth:`ChangeTracker.close`).

So an agent killed in the middle of a train loses at most the last
:data:`TRAIN_SPAN_S` of its edges, never a record it made. Times are the
agent's monotonic seconds; nothing here reads a clock or writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

#: Changes of one input closer than this (s) are a run.
TRAIN_GAP_S: Final = 1.0
#: Longest span (s) of one run record: a longer train is journaled in several.
TRAIN_SPAN_S: Final = 1.0
#: The box's own signals beside the inputs: the interlock relay and a reset asked for.
INTERLOCK_OPEN: Final = "interlock_open"
RESET: Final = "reset"


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change of ``signal`` (``count`` 1, ``first`` = ``last``) or a run of them
    (agent monotonic times); ``origin`` ``start``: the value found at the agent's start."""

    signal: str
    value: bool
    first: float
    last: float
    count: int
    origin: Literal["edge", "start"] = "edge"
    by: str | None = None


@dataclass(slots=True)
class _Run:
    """The run record being accumulated for one input."""

    first: float
    last: float
    count: int
    value: bool

    def record(self, signal: str) -> ChangeRecord:
        return ChangeRecord(signal, self.value, self.first, self.last, self.count)


class ChangeTracker:
    """Debounced input changes in, change records out (see the module docstring)."""

    def __init__(self, gap_s: float = TRAIN_GAP_S, span_s: float = TRAIN_SPAN_S) -> None:
        self.gap_s = gap_s
        self.span_s = span_s
        self._last_edge: dict[str, float] = {}
        self._runs: dict[str, _Run] = {}

    def on_inputs(self, at: float, changes: Mapping[str, bool]) -> list[ChangeRecord]:
        """The inputs of ``changes`` changed at ``at``: the records due now, in order."""
        out: list[ChangeRecord] = []
        for signal, value in changes.items():
            previous = self._last_edge.get(signal)
            self._last_edge[signal] = at
            run = self._runs.get(signal)
            if previous is None or at - previous > self.gap_s:  # a new change, alone so far
                if run is not None:
                    out.append(self._runs.pop(signal).record(signal))
                out.append(ChangeRecord(signal, value, at, at, 1))
            elif run is None:
                self._runs[signal] = _Run(at, at, 1, value)
            elif at - run.first >= self.span_s:  # the record is full: the next one begins
                out.append(run.record(signal))
                self._runs[signal] = _Run(at, at, 1, value)
            else:
                run.last, run.count, run.value = at, run.count + 1, value
        return out

    def due(self, now: float) -> list[ChangeRecord]:
        """The run records to journal at ``now`` (every input known up to it): stable for
        the gap, or spanning the longest span."""
        out: list[ChangeRecord] = []
        gap, span = self.gap_s, self.span_s
        if all(now < min(r.last + gap, r.first + span) for r in self._runs.values()):
            return out  # none due (or none open): most steps of a pulse train, nothing sorted
        for signal in sorted(self._runs, key=lambda s: self._runs[s].first):
            run = self._runs[signal]
            if now >= min(run.last + self.gap_s, run.first + self.span_s):
                out.append(self._runs.pop(signal).record(signal))
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has a record to give, or None with no run open."""
        gap, span = self.gap_s, self.span_s
        best: float | None = None
        for r in self._runs.values():
            t = min(r.last + gap, r.first + span)
            if best is None or t < best:
                best = t
        return best

    def close(self) -> list[ChangeRecord]:
        """Every open run, as it stands (the agent is closing)."""
        out = [run.record(signal) for signal, run in
               sorted(self._runs.items(), key=lambda item: item[1].first)]
        self._runs.clear()
        return out


def start_records(
    present: Mapping[str, bool], journaled: Mapping[str, bool], at: float,
) -> list[ChangeRecord]:
    """At an agent's start: one ``start`` record per input whose present value is not the last
    one journaled (every input, for a journal with none): it changed while no agent watched."""
    return [ChangeRecord(signal, value, at, at, 0, origin="start")
            for signal, value in present.items() if journaled.get(signal) != value]
