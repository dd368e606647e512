"""The book of alarms that hold: one alarm per (kind, subject) while its condition holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from edge_agent.monitor.records import AlarmCleared, AlarmRaised, AlarmRecord, Output
from wire.kinds import AlarmKind


class AlarmBook:
    """Raises and clears alarms, never twice for the same condition.

    ``now`` is the injected clock's reading: an alarm's ``at`` is when the
    agent raised it, while ``since`` is when its condition began. ``version`` counts
    raises and clears (the monitor's memory of its last judgement).
    """

    def __init__(self, now: Callable[[], float], first_number: int = 1) -> None:
        self._now = now
        self._next = first_number
        self._active: dict[tuple[AlarmKind, str | None], AlarmRecord] = {}
        self.version = 0

    def is_active(self, kind: AlarmKind, subject: str | None = None) -> bool:
        return (kind, subject) in self._active

    def get(self, kind: AlarmKind, subject: str | None = None) -> AlarmRecord | None:
        return self._active.get((kind, subject))

    def raise_(
        self,
        out: list[Output],
        kind: AlarmKind,
        since: float,
        subject: str | None = None,
        detail: str = "",
        exposure: int | None = None,
    ) -> AlarmRecord | None:
        """Raise unless already holding; returns the new record, or None."""
        key = (kind, subject)
        if key in self._active:
            return None
        alarm = AlarmRecord(self._next, kind, subject, self._now(), since, detail, exposure)
        self._next += 1
        self._active[key] = alarm
        self.version += 1
        out.append(AlarmRaised(alarm))
        return alarm

    def clear(
        self, out: list[Output], kind: AlarmKind, cleared: float, subject: str | None = None
    ) -> None:
        alarm = self._active.pop((kind, subject), None)
        if alarm is not None:
            self.version += 1
            alarm.cleared = max(cleared, alarm.since)
            out.append(AlarmCleared(alarm))

    def active(self) -> Iterator[AlarmRecord]:
        return iter(list(self._active.values()))

    def subjects(self, kind: AlarmKind) -> list[str | None]:
        if not self._active:
            return []
        return [subject for (k, subject) in self._active if k == kind]
