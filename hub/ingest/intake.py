"""Record batches into the store, record by record: stored, quarantined, or declared lost.

The refusal model: each record of a batch is validated on its own
(:func:`wire.contract.decode_chain`). A valid one is stored once, keyed by
(device, journal, seq). An invalid one is *quarantined* whole, with its key
and reason, never truncated or pruned, and counts as received for the
acknowledgement only as the next sequence number (never past a jump): so a
record the hub cannot read never blocks the ones after it, and an upgrade
can replay it (``voyant-hub quarantine replay``). Quarantine raises one
``record_quarantined`` event per device and Paris day: a software fault to
look into, not a radiation alarm.

Every record is kept as received (``received.hash``, ``prev``, ``body``; a quarantined
one's ``quarantine.hash``) and the batch is checked against the journal's hash chain
(:mod:`hub.chain.arrival`): a copy of a stored record with other content is a conflict,
a ``prev`` that does not follow is a break. Input change records go to ``changes``;
a device that sends them is no longer sampled from its live state
(:meth:`hub.ingest.presence.Presence._signal_changes`).

What the agent says it no longer holds (``oldest``, in each batch and its
status) and the hub lacks is lost for good: declared once, with its exact
count, in a ``data_gap`` event, and the acknowledgement moves on.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.chain.arrival import Arrived, ConflictBudget, check
from hub.db import chain_store
from hub.events.workflow import alarm_detail, alarm_ref
from hub.ingest.predecode import arrivals
from hub.ingest.records import alarm_row, change_row, exposure_row, reading_row, record_times
from hub.ingest.registry import DeviceState
from hub.ingest.runs import Redo, Run, run_of
from hub.ingest.sequences import JournalSeqs
from hub.ingest.store_run import implausible_times, store_run
from hub.logs import log
from hub.timefmt import iso, parse
from hub.workdays import local_date
from wire.contract import (
    WINDOW,
    AlarmItem,
    ChangeItem,
    Envelope,
    ExposureItem,
    ReadingItem,
    Record,
    RefusedItem,
)
from wire.kinds import severity
from wire.logs import writable
from wire.records import instant_key

if TYPE_CHECKING:
    from hub.config import Ingest as IngestSettings
    from hub.db.store import Store
    from hub.ingest.core import IngestCore, Touch

Ident = tuple[str, str, str, str]  # device, site, room, journal
#: A batch's rows written in a few statements: readings (one after another in one list,
#: ``READING_WIDTH`` values each), changes.
Rows = tuple[list[Any], list[dict[str, Any]]]


class Intake:
    """Stores the records of one batch; writes go through the core's store, in its
    transaction (like :class:`hub.ingest.presence.Presence`)."""

    def __init__(self, core: IngestCore) -> None:
        self.core = core
        self.conflicts = ConflictBudget()
        self._window: tuple[float, tuple[str, str]] | None = None  # (now, its window)

    def batch(
        self, envelope: Envelope, records: list[Record | RefusedItem],
        raws: list[dict[str, Any]], now: float, at: str, touch: Touch,
        arrived_of: dict[int, Arrived] | None = None, run: Run | None = None,
        redo: Redo | None = None,
    ) -> None:
        """``arrived_of``: each record's arrival, made with the decode (a worker's). ``run``:
        the message's rows made already (:mod:`hub.ingest.runs`), stored at once when all its
        records are new; else ``redo`` gives its records, stored one by one."""
        core = self.core
        dev = core.registry.heard(envelope.device, envelope.site, envelope.room, now, at)
        core.presence.came_back(dev, at)
        seqs = core.journal(dev, envelope.journal, at)
        key = (envelope.device, envelope.journal)
        if envelope.oldest is not None:
            self.oldest(dev, envelope.journal, seqs, envelope.oldest, now, at)
        ident = (envelope.device, envelope.site, envelope.room, envelope.journal)
        limit = seqs.upto + WINDOW
        if run is None and records and seqs.top < records[0].seq and records[-1].seq <= limit:
            run = run_of(envelope, records, raws)
        if run is not None:
            if seqs.top < run.first and run.last <= limit:
                store_run(core, dev, ident, seqs, run, self.plausible(now), now, at)
                return
            if redo is None:  # a run made elsewhere comes with its records' decode
                raise TypeError("a run that does not fit came without its records")
            records, raws, arrived_of = redo()
        if records and records[-1].seq > limit:  # no resend: a jump (or a lie)
            records = self._beyond_window(dev, envelope, records, limit, now, at)
        seqs.last_records_at = now
        window = self.plausible(now)
        for record in records:  # an upgraded agent's valid copy of a waiting refused record
            if record.seq in seqs.quarantined and not isinstance(record, RefusedItem):
                seqs.quarantined.discard(record.seq)
                core.store.supersede_quarantined(envelope.device, envelope.journal, record.seq,
                                                 at)
        before = seqs.upto
        stored = quarantined = duplicates = over_budget = 0
        received: list[tuple[Any, ...]] = []  # written once, after the loop
        rows: Rows = ([], [])
        new: list[Arrived] = []
        copies: list[Arrived] = []
        if arrived_of is None:
            arrived_of = arrivals(envelope.kind, records, raws)
        for record in records:
            arrived = arrived_of[record.seq]
            if seqs.is_stored(record.seq) or record.seq in seqs.quarantined:
                duplicates += 1
                copies.append(arrived)
                continue
            if isinstance(record, RefusedItem):
                if not core.gate.may_quarantine(envelope.device, 1, now):
                    over_budget += 1  # neither kept nor acknowledged: the box floods
                    continue
                filled = seqs.quarantine(record.seq, now)
                self._quarantine(dev, ident, envelope.kind, record, arrived.hash, at,
                                 counted=seqs.is_stored(record.seq))
                quarantined += 1
            else:
                received.append((envelope.device, envelope.journal, record.seq, envelope.kind,
                                 at, arrived.hash, arrived.prev, arrived.body))
                self._store(ident, record, at, window, rows)
                filled = seqs.add(record.seq, now)
                stored += 1
            new.append(arrived)
            for gap in filled:
                core.watch.gap_filled(dev, envelope.journal, gap, at)
        chain_store.insert_received_batch(core.store.conn, received)
        core.store.insert_readings_values(rows[0])
        if rows[1]:
            chain_store.insert_changes(core.store.conn, rows[1])
            dev.sends_changes = True
        conflicts, broken = check(core.store, ident, new, copies, at,
                                  lambda: self.conflicts.may_keep(envelope.device, now))
        core.counters["record_conflicts"] += conflicts
        core.counters["chain_breaks"] += broken
        for seq in seqs.take_newly_counted():
            core.store.count_quarantined(envelope.device, envelope.journal, seq)
        if seqs.upto == before and any(r.seq > seqs.upto for r in records):
            seqs.note_waiting(now)  # records above a hole: the acknowledgement waits
        if over_budget:
            seqs.note_waiting(now)
            core.counters["records_over_budget"] += over_budget
            log("quarantine_budget_spent", logging.WARNING, device=envelope.device,
                journal=envelope.journal, refused=over_budget)
        if duplicates:
            core.counters["duplicates"] += duplicates
            touch.duplicate = True
        if stored or quarantined or seqs.upto != before:
            core.dirty_journals.add(key)
        core.counters["records_stored"] += stored
        core.counters[f"{envelope.kind}_stored"] += stored
        core.counters["records_quarantined"] += quarantined

    def _beyond_window(
        self, dev: DeviceState, envelope: Envelope, records: list[Record | RefusedItem],
        limit: int, now: float, at: str,
    ) -> list[Record | RefusedItem]:
        """Records past the acknowledgement + WINDOW are refused, neither stored nor kept:
        an agent never has them in flight. An admin who knows why (a box restored from an
        old image) accepts the jump with ``voyant-hub journal accept-jump``."""
        beyond = [r for r in records if r.seq > limit]
        self.core.counters["records_beyond_window"] += len(beyond)
        seqs = self.core.seqs[(dev.device, envelope.journal)]
        seqs.note_waiting(now)
        reason = (f"seq {beyond[0].seq}..{beyond[-1].seq} is beyond the acknowledged "
                  f"{seqs.upto} + the window {WINDOW}: a jump (voyant-hub journal accept-jump)")
        self.refusal_event(dev.device, dev.site, dev.room, envelope.kind, envelope.journal,
                           beyond[0].seq, reason, at)
        log("records_beyond_window", logging.WARNING, device=dev.device,
            journal=envelope.journal, first=beyond[0].seq, last=beyond[-1].seq, upto=seqs.upto)
        return [r for r in records if r.seq <= limit]

    def plausible(self, now: float) -> tuple[str, str]:
        """Made once per batch (every message of a batch has the same ``now``)."""
        if self._window is None or self._window[0] != now:
            self._window = (now, plausible_window(now, self.core.settings))
        return self._window[1]

    # -- storing -----------------------------------------------------------------------------

    def _store(self, ident: Ident, record: Record, at: str, window: tuple[str, str],
               rows: Rows) -> None:
        """An exposure's or alarm's rows now (upserts, events); a reading's or a change's
        row joins the batch's one insert (a batch is mostly readings, or changes)."""
        flagged = implausible(record, window)
        if flagged:
            self.core.counters["records_implausible"] += 1
        if isinstance(record, ReadingItem):
            rows[0].extend(reading_row(*ident, record, flagged))
        elif isinstance(record, ChangeItem):
            rows[1].append(change_row(*ident, record, at, flagged))
        elif write(self.core.store, ident, record, at, flagged):
            self.core.counters["alarm_events"] += 1

    def _quarantine(
        self, dev: DeviceState, ident: Ident, kind: str, refused: RefusedItem,
        digest: str | None, at: str, *, counted: bool,
    ) -> None:
        store = self.core.store
        device, site, room, journal = ident
        store.insert_quarantined(device, site, room, journal, refused.seq, kind, at,
                                 refused.reason, _whole(refused.raw), counted, digest)
        if counted:
            store.insert_received([(device, journal, refused.seq, "quarantined", at)])
        self.refusal_event(device, site, room, kind, journal, refused.seq, refused.reason, at)
        log("record_quarantined", logging.WARNING, device=device, journal=journal,
            seq=refused.seq, kind=kind, reason=refused.reason[:300], counted=counted)

    def quarantine_all(
        self, device: str, site: str, room: str, envelope: Envelope,
        records: list[Record | RefusedItem], raws: list[dict[str, Any]], reason: str, at: str,
    ) -> None:
        """Keep every record of a message its sender may not send (another device's name, a
        journal not its own), as sent: under the sender's name, never counted for any ack."""
        for record, raw in zip(records, raws, strict=False):
            why = reason if not isinstance(record, RefusedItem) else f"{reason}; {record.reason}"
            self.core.store.insert_quarantined(
                device, site, room, envelope.journal, record.seq, envelope.kind, at, why,
                _whole(raw), False, Arrived.of(record.seq, envelope.kind, raw).hash)
        self.core.counters["records_quarantined"] += len(records)
        self.refusal_event(device, site, room, envelope.kind, envelope.journal,
                           records[0].seq if records else None, reason, at)

    def refusal_event(
        self, device: str, site: str, room: str, kind: str, journal: str | None,
        seq: int | None, reason: str, at: str,
    ) -> None:
        """One ``record_quarantined`` event per device and Paris day, counting refusals."""
        day = local_date(datetime.fromtimestamp(parse(at), UTC))  # ``at``: the hub's stamp
        self.core.store.count_event(
            "record_quarantined", device, site, room, day.isoformat(), at,
            {"journal": journal, "seq": seq, "kind": kind, "reason": reason[:300]},
            severity("record_quarantined"))

    # -- what no one holds any more --------------------------------------------------------

    def oldest(
        self, dev: DeviceState, journal: str, seqs: JournalSeqs, oldest: int, now: float,
        at: str,
    ) -> None:
        """Declare lost what the agent no longer holds and the hub lacks (once, exactly).

        A claim past ``[ingest] max_lost_declared`` records is not believed (a box
        cannot lie a whole journal away): it waits for an admin's ``accept-jump``."""
        if oldest - 1 - seqs.upto > self.core.settings.max_lost_declared:
            if seqs.waiting_since is None:
                log("oldest_not_believed", logging.WARNING, device=dev.device,
                    journal=journal, oldest=oldest, upto=seqs.upto)
            seqs.note_waiting(now)
            return
        self.declare(dev, journal, seqs, oldest, at)

    def declare(
        self, dev: DeviceState, journal: str, seqs: JournalSeqs, oldest: int, at: str,
        accepted: dict[str, str] | None = None,
    ) -> None:
        """Nothing below ``oldest`` will come: what the hub lacks there is lost, said once
        in a ``data_gap`` event (with who accepted it, for an admin's jump)."""
        before = seqs.upto
        lost, closed = seqs.declare_lost(oldest)
        for seq in seqs.take_newly_counted():
            self.core.store.count_quarantined(dev.device, journal, seq)
        if seqs.upto == before:
            return
        self.core.dirty_journals.add((dev.device, journal))
        self.core.want_ack((dev.device, journal), dev.site, dev.room)
        if lost == 0:
            return
        first, last = before + 1, oldest - 1
        detail: dict[str, object] = {"journal": journal, "first": first, "last": last,
                                     "missing": lost, "lost": True, **(accepted or {})}
        store = self.core.store
        event_id = next((g.event_id for g in closed if g.event_id is not None), None)
        if event_id is None:
            event_id = store.open_event("data_gap", dev.device, dev.site, dev.room,
                                        f"{journal}:{first}", at, detail, severity("data_gap"))
        else:
            store.set_event_detail(event_id, detail, at)
        for gap in closed:
            if gap.event_id is not None and gap.event_id != event_id:
                store.clear_condition(gap.event_id, at)
        store.clear_condition(event_id, at)  # nothing more will come: the stream goes on
        self.core.counters["records_lost"] += lost
        log("records_lost", logging.ERROR, device=dev.device, journal=journal, first=first,
            last=last, lost=lost)


def plausible_window(received: float, settings: IngestSettings) -> tuple[str, str]:
    """The window of plausible record times around a receipt, as keys that sort as time
    does (``wire.records.instant_key``)."""
    return (instant_key(iso(max(0.0, received - settings.plausible_past_days * 86_400.0))),
            instant_key(iso(received + settings.plausible_future_s)))


def implausible(record: Record, window: tuple[str, str]) -> bool:
    return implausible_times(record_times(record), window)


def write(store: Store, ident: Ident, record: Record, at: str,
          implausible: bool = False) -> bool:
    """The record's rows (and, for an alarm, its event; True when it raised one): shared
    with the quarantine's replay. A record stamped by an implausible clock is kept, flagged;
    its alarm's event is dated by its receipt (the ESR deadline and the inbox order)."""
    if isinstance(record, ReadingItem):
        store.insert_readings([reading_row(*ident, record, implausible)])
    elif isinstance(record, ChangeItem):
        chain_store.insert_changes(store.conn, [change_row(*ident, record, at, implausible)])
    elif isinstance(record, ExposureItem):
        store.upsert_exposure(exposure_row(*ident, record, at, implausible))
    else:
        store.upsert_alarm(alarm_row(*ident, record, at, implausible))
        alarm_event(store, ident, record, at, implausible)
        return record.event == "raised"
    return False


def alarm_event(store: Store, ident: Ident, alarm: AlarmItem, at: str,
                implausible: bool = False) -> None:
    """Every edge alarm is an event for the PCR: opened by its first stored record
    (raised, or cleared/interrupted if that one arrives first); cleared or
    interrupted ends its condition, never the PCR's review."""
    device, site, room, journal = ident
    cleared = None if alarm.event == "raised" else (alarm.cleared or at)
    if implausible and cleared is not None:
        cleared = at
    detail = alarm_detail(journal, alarm, at)
    if implausible:
        detail["clock_implausible"] = True
    store.alarm_event(
        alarm.kind, device, site, room, alarm_ref(journal, alarm.run, alarm.number),
        at if implausible else alarm.at, detail, severity(alarm.kind), cleared, at,
    )


def record_kind(record: Record) -> str:
    if isinstance(record, ReadingItem):
        return "readings"
    if isinstance(record, ChangeItem):
        return "changes"
    return "exposures" if isinstance(record, ExposureItem) else "alarms"


def _whole(raw: dict[str, Any]) -> str:
    """The refused record as received (NaN and infinities kept as JSON writes them; a lone
    surrogate, which SQLite's text cannot hold, as its JSON escape, the same record read
    back). One nested too deep for Python to write again is kept as a JSON string saying
    so: the batch goes on (the chain has no hash for it either)."""
    try:
        return writable(json.dumps(raw, separators=(",", ":"), ensure_ascii=False))
    except RecursionError:
        return json.dumps("a record nested too deeply to be written again")
