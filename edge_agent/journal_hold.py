"""While the journal cannot write: the records held in memory and the ``journal_fault`` alarm.

A record the journal refuses (disk full, I/O error) is not dropped: it is held
here, with every record after it (order is what the outbox's sequence numbers
say), and written again, oldest first, once the journal writes. Meanwhile the
``journal_fault`` alarm holds (the local alarm output, the live state, the
metrics) and the alarms among the held records travel to the hub in the live
state (``held_alarms``), each under the ``(run, number)`` its record will
carry, so that the hub's event is the same one when the record arrives.

The queue is bounded (:data:`MAX_HELD`, more than a day of readings): past it,
the oldest *reading* is dropped and counted; once no reading is left, the oldest
input change record (the memory of a box is finite too); never an exposure or an
alarm.
``journal_fault`` is an agent alarm, not a monitor rule: its numbers start at
:data:`FAULT_NUMBER_BASE`, far above the monitor's (which count from 1 in each
run), so that ``(run, number)`` never names two alarms.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from edge_agent.changes import ChangeRecord
from edge_agent.clock import iso_utc
from edge_agent.monitor.records import AlarmCleared, AlarmRaised, AlarmRecord, Output, ReadingReady
from wire.kinds import AlarmKind

#: What the agent journals: the monitor's outputs and the input changes.
Journaled = Output | ChangeRecord

JOURNAL_FAULT: Final = "journal_fault"
#: The agent's own alarm kinds (the monitor's are :data:`wire.kinds.ALARM_KINDS`).
AGENT_ALARM_KINDS: Final = (JOURNAL_FAULT,)
#: ``journal_fault`` alarms are numbered from here in each run.
FAULT_NUMBER_BASE: Final = 1_000_000_000
#: Most records held in memory: 10-s readings for 27 hours, with room for what else happens.
MAX_HELD: Final = 10_000
#: Seconds between two attempts to write the held records.
RETRY_S: Final = 1.0
#: Most held alarms sent in the live state (the contract's bound).
MAX_LIVE_HELD: Final = 64


@dataclass(frozen=True, slots=True)
class Held:
    """One record the journal refused: a copy as it was made, its clock offset and sync."""

    output: Journaled
    wall_offset: float
    clock_synced: bool | None


class JournalHold:
    """The held records and the ``journal_fault`` alarm (see the module docstring)."""

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self.max_held = max_held
        self.items: deque[Held] = deque()
        #: The ``journal_fault`` alarm while it holds.
        self.fault: AlarmRecord | None = None
        self.error = ""
        self.dropped = 0
        self.dropped_changes = 0
        self.held_total = 0
        self.next_retry = 0.0
        self._faults = 0

    def __len__(self) -> int:
        return len(self.items)

    def begin(self, now: float, error: str) -> AlarmRecord:
        """Raise ``journal_fault`` at agent time ``now`` (monotonic)."""
        self._faults += 1
        self.fault = AlarmRecord(
            FAULT_NUMBER_BASE + self._faults, cast(AlarmKind, JOURNAL_FAULT), None, now, now,
            detail=f"journal cannot write: {error}"[:1000],
        )
        self.error, self.dropped, self.dropped_changes, self.held_total = error, 0, 0, 0
        return self.fault

    def hold(self, output: Journaled, wall_offset: float, clock_synced: bool | None) -> None:
        """Keep a copy of ``output`` as it is now (open records change later)."""
        self.items.append(Held(copy.deepcopy(output), wall_offset, clock_synced))
        self.held_total += 1
        if len(self.items) > self.max_held and not self._drop(ReadingReady):
            self._drop(ChangeRecord)

    def _drop(self, kind: type) -> bool:
        """Drop the oldest held record of ``kind``; False if none is held."""
        for i, held in enumerate(self.items):
            if isinstance(held.output, kind):
                del self.items[i]
                if kind is ReadingReady:
                    self.dropped += 1
                else:
                    self.dropped_changes += 1
                return True
        return False

    def end(self, now: float, wall: Callable[[float], float]) -> AlarmRecord:
        """Clear ``journal_fault``: the record to journal, its detail saying what happened."""
        fault = self.fault
        assert fault is not None
        cleared = copy.copy(fault)
        cleared.cleared = now
        took = wall(now) - wall(fault.at)
        cleared.detail = (f"journal cannot write: {self.error}; {self.held_total} record(s)"
                          f" held for {took:.0f} s, {self.dropped} reading(s) and"
                          f" {self.dropped_changes} input change record(s) dropped")[:1000]
        self.fault = None
        return cleared

    def held_alarms(self, run: int) -> list[dict[str, Any]]:
        """The alarms among the held records, as the live state's ``held_alarms``: the last
        state of each ``(run, number)``, ``journal_fault`` first."""
        latest: dict[int, dict[str, Any]] = {}
        for held in self.items:
            out = held.output
            if not isinstance(out, AlarmRaised | AlarmCleared):
                continue
            a, wall = out.alarm, held.wall_offset
            latest[a.number] = {
                "event": "raised" if isinstance(out, AlarmRaised) else "cleared",
                "run": run, "number": a.number, "kind": a.kind, "subject": a.subject,
                "at": iso_utc(a.at + wall), "since": iso_utc(a.since + wall),
                "cleared": None if a.cleared is None or isinstance(out, AlarmRaised)
                else iso_utc(a.cleared + wall),
                "detail": a.detail[:1000], "clock_synced": held.clock_synced,
            }
        ordered = sorted(latest.values(), key=lambda h: h["kind"] != JOURNAL_FAULT)
        return ordered[:MAX_LIVE_HELD]
