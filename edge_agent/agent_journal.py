"""The agent's records on their way to the journal, and what it does while the journal cannot write.

:class:`JournalWriter` is held by :class:`edge_agent.agent.Agent`
(``agent.writer``), so that the loop (inputs, probe, monitor, outputs) and the
journal's side of it each read in one module and each keep their own state.
Every output, and every input change (:mod:`edge_agent.changes`), is journaled
before anything else is done with it; a journal that cannot write (a full
disk, an I/O error) raises ``journal_fault`` and holds the records (see
:mod:`edge_agent.journal_hold`) until it writes again, oldest first, each at
the moment it was made. What journaling tells (the last reading, the alarms
raised) is kept here too: a held reading is not yet known.
"""

from __future__ import annotations

import logging

from edge_agent.changes import ChangeRecord
from edge_agent.clock import Clock
from edge_agent.errors import JournalError
from edge_agent.evidence import InvalidRecord
from edge_agent.journal import Journal
from edge_agent.journal_hold import JOURNAL_FAULT, RETRY_S, Held, Journaled, JournalHold
from edge_agent.journal_upkeep import JournalUpkeep
from edge_agent.logs import log
from edge_agent.monitor.records import (
    AlarmCleared,
    AlarmRaised,
    ExposureClosed,
    ExposureOpened,
    ReadingReady,
)
from edge_agent.timesync import ClockSync


class JournalWriter:
    """Journal the agent's outputs; hold them while the journal cannot write."""

    def __init__(
        self, journal: Journal, upkeep: JournalUpkeep, clock: Clock,
        clock_sync: ClockSync | None, calibration: str | None,
    ) -> None:
        self.journal = journal
        self.upkeep = upkeep
        self.clock = clock
        #: Whether the system clock is synchronised, stamped on every record (None: unknown).
        self.clock_sync = clock_sync
        #: The calibration's name, stamped on every exposure.
        self.calibration = calibration
        #: Records the journal refused, held until it writes again, and ``journal_fault``.
        self.hold = JournalHold()
        # Read by the metrics thread: only ever rebound, never mutated in place.
        self.alarms_raised: dict[str, int] = {}
        #: The mean and the end (UTC wall) of the last reading journaled.
        self.dose_rate_usv_h: float | None = None
        self.last_reading_wall: float | None = None
        self._replaying: Held | None = None
        self._meta_pending: dict[str, str] = {}
        #: The start (UTC wall) of a run the journal could not start yet.
        self._run_pending: float | None = None

    def to_wall(self, mono: float) -> float:
        """Monotonic agent time to UTC wall time, at the present offset between them (or at
        the offset of the moment a held record was made, while it is written again)."""
        if self._replaying is not None:
            return mono + self._replaying.wall_offset
        return mono + (self.clock.wall() - self.clock.monotonic())

    def clock_synced(self) -> bool | None:
        if self._replaying is not None:
            return self._replaying.clock_synced
        return self.clock_sync.synced() if self.clock_sync is not None else None

    def journal_writes(self) -> bool:
        """Whether the journal writes now (False while records are held)."""
        return not (len(self.hold) or self._run_pending is not None or self._meta_pending)

    def start_failed(self, start_wall: float, exc: JournalError) -> None:
        """The journal could not start the run begun at ``start_wall``: the agent runs
        degraded, and the run is written first once the journal writes again."""
        self._run_pending = start_wall
        self.write_failed(exc)

    def _count_raised(self, kind: str) -> None:
        self.alarms_raised = {**self.alarms_raised, kind: self.alarms_raised.get(kind, 0) + 1}

    def record(self, item: Journaled) -> None:
        """Journal ``item``, or hold it (and every record after it) while the journal
        cannot write: the alarm output and the relay never wait on the journal. An alarm
        raised is counted either way."""
        if len(self.hold):
            self._hold(item)
        else:
            try:
                self._journal_or_refuse(item)
            except JournalError as exc:
                self._hold(item)
                self.write_failed(exc)
        if isinstance(item, AlarmRaised):
            self._count_raised(item.alarm.kind)

    def _journal_or_refuse(self, item: Journaled, held: Held | None = None) -> None:
        """Journal ``item`` (as made at ``held``'s moment); raise JournalError if the journal
        cannot write. A record refused as such (a bug) is logged, never held: it would block
        every record after it."""
        self._replaying = held
        try:
            self._journal(item)
        except InvalidRecord as exc:  # the same on every retry: never held
            log("journal_record_refused", logging.ERROR, record=type(item).__name__,
                error=str(exc))
        except JournalError:
            raise
        except Exception as exc:
            log("journal_record_refused", logging.ERROR, record=type(item).__name__,
                error=repr(exc))
        finally:
            self._replaying = None

    def _hold(self, item: Journaled) -> None:
        self.hold.hold(item, self.clock.wall() - self.clock.monotonic(), self.clock_synced())
        if isinstance(item, AlarmRaised | AlarmCleared):  # journaled (and logged) later
            log("alarm_held", logging.WARNING, kind=item.alarm.kind, number=item.alarm.number,
                state="raised" if isinstance(item, AlarmRaised) else "cleared")

    def write_failed(self, exc: JournalError) -> None:
        """A write failed: raise ``journal_fault`` (once), give back the reserve if the disk
        is full (then write again at once), else write again in :data:`RETRY_S`."""
        now = self.clock.monotonic()
        error = self.journal.error or str(exc)
        if self.hold.fault is None:
            fault = self.hold.begin(now, error)
            self._hold(AlarmRaised(fault))
            self._count_raised(JOURNAL_FAULT)
            log("journal_fault", logging.ERROR, error=error, full=self.journal.full,
                number=fault.number)
        self.hold.error = error
        self.hold.next_retry = now + RETRY_S
        if self.journal.full and self.upkeep.release_reserve():
            self.hold.next_retry = now

    def retry(self) -> None:
        """While ``journal_fault`` holds, write what is held, oldest first, once due; clear
        the fault once everything is in and the disk has room again (the reserve made again)."""
        if self.hold.fault is None:
            return
        now = self.clock.monotonic()
        if now < self.hold.next_retry:
            return
        self.hold.next_retry = now + RETRY_S
        dose_rate, last_reading = self.dose_rate_usv_h, self.last_reading_wall
        try:
            if self._run_pending is not None:
                self.journal.start_run(self._run_pending)
                self._run_pending = None
            while self._meta_pending:
                key, value = next(iter(self._meta_pending.items()))
                self.journal.set_meta(key, value)
                del self._meta_pending[key]
            while self.hold.items:
                self._journal_or_refuse(self.hold.items[0].output, self.hold.items[0])
                self.hold.items.popleft()
        except JournalError as exc:
            self.write_failed(exc)
            return
        finally:  # the present values, not those of the held readings
            self.dose_rate_usv_h, self.last_reading_wall = dose_rate, last_reading
        if self.hold.fault is not None and self.upkeep.ensure_reserve():
            self._clear_fault(now)

    def flush(self) -> None:
        """The agent is closing: a last chance for what is held, and a log of what is lost."""
        if self.hold.fault is not None:
            self.hold.next_retry = self.clock.monotonic()
            self.retry()
        if len(self.hold):
            log("journal_records_lost", logging.ERROR, records=len(self.hold),
                dropped=self.hold.dropped, error=self.hold.error)

    def _clear_fault(self, now: float) -> None:
        fault = self.hold.fault
        cleared = self.hold.end(now, self.to_wall)
        try:
            self._journal(AlarmCleared(cleared))
        except JournalError as exc:
            self.hold.fault = fault
            self.write_failed(exc)
            return
        log("journal_fault_cleared", detail=cleared.detail)

    def set_meta(self, key: str, value: str) -> None:
        """Set a journal meta value, or keep it for the retry while the journal cannot write."""
        try:
            self.journal.set_meta(key, value)
        except JournalError as exc:
            self._meta_pending[key] = value
            self.write_failed(exc)

    def _journal(self, item: Journaled) -> None:
        cal = self.calibration
        synced = self.clock_synced()
        if isinstance(item, ChangeRecord):
            self.journal.change(item, self.to_wall, clock_synced=synced)
        elif isinstance(item, ExposureOpened):
            self.journal.exposure_opened(item.exposure, self.to_wall, cal, clock_synced=synced)
            log("exposure_opened", number=item.exposure.number,
                requested=item.exposure.requested, resumed=item.exposure.resumed)
        elif isinstance(item, ExposureClosed):
            self.journal.exposure_closed(item.exposure, self.to_wall, clock_synced=synced,
                                         calibration=cal)
            e = item.exposure
            log("exposure_closed", start=round(e.start, 3), duration_s=round(e.duration or 0.0, 3),
                requested=e.requested, doors_open=",".join(sorted(e.doors_open)))
        elif isinstance(item, AlarmRaised):
            self.journal.alarm_raised(item.alarm, self.to_wall, clock_synced=synced)
            log("alarm_raised", logging.WARNING, kind=item.alarm.kind,
                subject=item.alarm.subject or "", detail=item.alarm.detail)
        elif isinstance(item, AlarmCleared):
            self.journal.alarm_cleared(item.alarm, self.to_wall, clock_synced=synced)
            log("alarm_cleared", kind=item.alarm.kind, subject=item.alarm.subject or "")
        elif isinstance(item, ReadingReady):
            self.dose_rate_usv_h = item.reading.mean_usv_h
            self.last_reading_wall = self.to_wall(item.reading.end)
            self.journal.reading(item.reading, self.to_wall, clock_synced=synced)
