"""The ingest core: a batch of (topic, payload) in, one transaction, acknowledgements out.

No network and no clock of its own: the service (``hub.ingest.service``) feeds it
what the broker delivered and the time, and publishes the acks it returns,
only after the batch is committed. Every message is handled on its own
savepoint and under its own ``try``: a refused payload is counted, logged
and kept in ``rejected``; a bug in one handler rolls back that message only,
and the in-memory state is then rebuilt from the store so that it never
claims more than the store holds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub import timefmt
from hub.chain.arrival import Arrived
from hub.config import Ingest as IngestSettings
from hub.db import chain_store
from hub.db.store import Store
from hub.errors import StoreError
from hub.ingest import undo
from hub.ingest.identity import Gate, Refused
from hub.ingest.intake import Intake
from hub.ingest.predecode import Made, Sent, body_of, decode_message, redo_of, take
from hub.ingest.presence import Presence
from hub.ingest.registry import DeviceState, Registry
from hub.ingest.rooms_directory import RoomDirectory
from hub.ingest.runs import Redo, Run
from hub.ingest.sequences import Gap, JournalSeqs
from hub.ingest.watch import Watch
from hub.logs import log
from wire.contract import (
    ACK,
    Ack,
    Live,
    Message,
    Status,
    Topic,
    WireError,
    decode_chain,
    parse_topic,
    topic,
)
from wire.kinds import severity

JournalKey = tuple[str, str]

#: Rejections logged per second at most; the rest are counted and summarised.
REJECT_LOG_PER_S = 20
#: Every counter, present (at 0) in stats and in the ``counters`` table from the start.
COUNTERS = (
    "messages_ok", "rejected_total", "duplicates", "records_stored", "readings_stored",
    "exposures_stored", "alarms_stored", "replays", "dose_rates", "acks_ignored", "acks_sent",
    "handler_errors", "journals_new", "data_gaps_opened", "offline_opened", "batches",
    "alarm_events", "records_quarantined", "records_lost", "acks_stalled", "records_implausible",
    "records_beyond_window", "records_over_budget", "changes_stored", "record_conflicts",
    "chain_breaks",
)
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class AckOut:
    """One acknowledgement to publish (retained, QoS 1) on ``topic``."""

    topic: str
    payload: bytes
    device: str
    journal: str
    upto: int


@dataclass(slots=True)
class Touch:
    """A journal a batch of messages touched: where to send its ack, and from what."""

    site: str
    room: str
    before: int
    duplicate: bool = False


class IngestCore:
    """Exactly-once storage of the agents' evidence, with gaps and presence."""

    def __init__(self, store: Store, settings: IngestSettings, now: float,
                 rooms: RoomDirectory) -> None:
        self.store = store
        self.settings = settings
        self.rooms = rooms
        self._last_ack: dict[JournalKey, float] = {}
        self._pending_acks: dict[JournalKey, tuple[str, str]] = {}
        self._log_window, self._logged, self._suppressed = 0, 0, 0
        self._last_prune = now
        self._failed = False
        self._restore(now)

    # -- entry points ------------------------------------------------------------------------

    def handle_batch(self, messages: Sequence[tuple[str, bytes]], now: float,
                     decoded: Sequence[list[Sent] | Made | None] | None = None) -> list[AckOut]:
        """Store a batch in one transaction; return the acks to publish after the commit.
        ``decoded``: each message's record arrivals, made by a worker (:mod:`predecode`)."""
        at = timefmt.iso(now)
        touched: dict[JournalKey, Touch] = {}
        self._failed = False
        self._guarded(lambda: self._handle_all(messages, now, at, touched, decoded), now)
        if self._failed:
            self._restore(now)
        for key, touch in touched.items():
            seqs = self.seqs.get(key)
            if seqs is not None and (seqs.upto > touch.before or touch.duplicate):
                self._pending_acks[key] = (touch.site, touch.room)
        if self._pending_acks:
            self.store.check_still_mine()  # StoreReplaced: no ack may rest on this file
        return self._due_acks(now, at)

    def tick(self, now: float) -> list[AckOut]:
        """Periodic checks: the store file still this one (a quiet hub notices it gone within a
        tick, not at the next message), overdue gaps, silent devices, throttled acks, pruning."""
        self.store.check_still_mine()
        at = timefmt.iso(now)
        self._guarded(lambda: self.watch.checks(now, at), now)
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            try:
                self.store.prune_rejected()
            except Exception:
                log("prune_failed", logging.ERROR, exc_info=True)
        return self._due_acks(now, at)

    def stats(self) -> dict[str, int]:
        out = dict(self.counters)
        out["devices"] = len(self.registry.devices)
        out["journals"] = len(self.seqs)
        out["open_gaps"] = sum(s.gap_count for s in self.seqs.values())
        out["pending_acks"] = len(self._pending_acks)
        return out

    def set_rooms(self, rooms: RoomDirectory) -> None:
        """The devices file was read again: the next message is checked against it."""
        self.rooms = rooms
        self.gate.rooms = rooms

    def want_ack(self, key: JournalKey, site: str, room: str) -> None:
        """Acknowledge this journal after the present transaction commits."""
        self._pending_acks[key] = (site, room)

    def upto(self, device: str, journal: str) -> int:
        seqs = self.seqs.get((device, journal))
        return 0 if seqs is None else seqs.upto

    # -- transaction -------------------------------------------------------------------------

    def _guarded(self, work: Callable[[], None], now: float) -> None:
        """Run ``work`` in one transaction; on failure rebuild memory from the store."""
        try:
            with self.store.transaction():
                work()
                self._flush(timefmt.iso(now))
        except Exception as exc:
            log("store_failed", logging.ERROR, exc_info=True, error=type(exc).__name__)
            self._restore(now)
            raise StoreError(f"transaction failed: {exc}") from exc

    def _handle_all(
        self, messages: Sequence[tuple[str, bytes]], now: float, at: str,
        touched: dict[JournalKey, Touch], decoded: Sequence[list[Sent] | Made | None] | None,
    ) -> None:
        for index, (topic_text, payload) in enumerate(messages):
            pre = decoded[index] if decoded is not None else None
            self._one(topic_text, payload, now, at, touched, pre, decoded is not None)
        self.counters["batches"] += 1

    def _flush(self, at: str) -> None:
        self.store.upsert_devices(
            dev.row(self.upto(dev.device, dev.journal) if dev.journal else 0)
            for dev in self.registry.take_dirty()
        )
        self.store.upsert_journals(
            (device, journal, self.seqs[(device, journal)].upto, at)
            for device, journal in sorted(self.dirty_journals)
        )
        self.dirty_journals.clear()
        self.store.save_counters(self.counters)

    # -- one message -------------------------------------------------------------------------

    def _one(
        self, topic_text: str, payload: bytes, now: float, at: str,
        touched: dict[JournalKey, Touch], pre: list[Sent] | Made | None = None, made: bool = False,
    ) -> None:
        if _is_ack(topic_text):
            self.counters["acks_ignored"] += 1
            return
        try:
            where = parse_topic(topic_text)
            device = self.gate.sender(where.site, where.room, now)
        except (WireError, Refused) as exc:
            self._reject(topic_text, payload, exc.reason, now, at)
            return
        decoded = take(topic_text, payload, pre, made, decode_chain)
        if decoded.error is not None:
            self._reject(topic_text, payload, decoded.error, now, at)
            return
        assert decoded.where is not None and decoded.message is not None
        where, message = decoded.where, decoded.message
        try:
            self._admit(device, message, now)
        except Refused as exc:
            if decoded.by_worker:  # the records as sent, for the quarantine
                message = decode_message(topic_text, payload, arrived=False,
                                         chain_of=decode_chain).message or message
            self._refuse(device, where, message, topic_text, payload, exc.reason, now, at)
            return
        redo = None if decoded.run is None else redo_of(topic_text, payload, decode_chain)
        kept = undo.keep(self, device, getattr(body_of(message), "journal", None))
        try:
            with self.store.transaction():
                self._dispatch(where, message, now, at, touched, decoded.arrived, decoded.run,
                               redo)
        except Exception as exc:
            undo.put_back(self, kept)  # nothing it noted may be flushed, nor acknowledged
            self._failed = True
            self.counters["handler_errors"] += 1
            log("handler_failed", logging.ERROR, exc_info=True, topic=topic_text[:300])
            self._reject(topic_text, payload, f"internal error: {type(exc).__name__}", now, at)
            return
        self.counters["messages_ok"] += 1

    def _admit(self, device: str, message: Message | tuple[Any, ...], now: float) -> None:
        """Identity from the topic: the payload's claims and its journal must agree."""
        body = body_of(message)
        claimed = getattr(body, "device", None)
        if claimed is not None:
            self.gate.claims(device, claimed)
        journal = getattr(body, "journal", None)
        if journal is not None:
            self.gate.journal(device, journal, now)

    def _refuse(
        self, device: str, where: Topic, message: Message | tuple[Any, ...], topic_text: str,
        payload: bytes, reason: str, now: float, at: str,
    ) -> None:
        """A message its sender may not send: the records kept (uncounted) in quarantine under
        the sender's own name, within its daily budget; anything else refused."""
        self._reject(topic_text, payload, reason, now, at)
        if isinstance(message, tuple):
            envelope, records, raws = message
            if self.gate.may_quarantine(device, len(records), now):
                with self.store.transaction():
                    self.intake.quarantine_all(device, where.site, where.room, envelope,
                                               records, raws, reason, at)
                return
        with self.store.transaction():
            self.intake.refusal_event(device, where.site, where.room, where.kind,
                                      getattr(message, "journal", None), None, reason, at)

    def _dispatch(
        self, where: Topic, message: Message | tuple[Any, ...], now: float, at: str,
        touched: dict[JournalKey, Touch], arrived: dict[int, Arrived] | None = None,
        run: Run | None = None, redo: Redo | None = None,
    ) -> None:
        if isinstance(message, tuple):
            envelope, records, raws = message
            seqs = self.seqs.get((envelope.device, envelope.journal))
            touch = touched.setdefault((envelope.device, envelope.journal), Touch(
                envelope.site, envelope.room, seqs.upto if seqs is not None else 0))
            touch.site, touch.room = envelope.site, envelope.room
            self.intake.batch(envelope, records, raws, now, at, touch, arrived, run, redo)
        elif isinstance(message, Status):
            self.presence.status(message, now, at)
        elif isinstance(message, Live):
            self.presence.live(message, now, at)
        elif isinstance(message, Ack):
            self.counters["acks_ignored"] += 1
        else:
            self.counters["dose_rates"] += 1

    def _reject(self, topic_text: str, payload: bytes, reason: str, now: float, at: str) -> None:
        self.counters["rejected_total"] += 1
        clean_topic = topic_text.encode("utf-8", "backslashreplace").decode("utf-8")
        clean_reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
        self._log_reject(clean_topic, clean_reason, len(payload), now)
        try:
            self.store.insert_rejected(at, clean_topic, clean_reason, payload)
        except Exception:
            log("reject_not_stored", logging.ERROR, exc_info=True, topic=clean_topic[:300])

    def _log_reject(self, topic_text: str, reason: str, size: int, now: float) -> None:
        window = int(now)
        if window != self._log_window:
            if self._suppressed:
                log("rejects_suppressed", logging.WARNING, count=self._suppressed)
            self._log_window, self._logged, self._suppressed = window, 0, 0
        if self._logged >= REJECT_LOG_PER_S:
            self._suppressed += 1
            return
        self._logged += 1
        log("message_rejected", logging.WARNING, topic=topic_text[:300], reason=reason[:300],
            size=size)

    # -- journals ----------------------------------------------------------------------------

    def journal(self, dev: DeviceState, journal: str, at: str) -> JournalSeqs:
        """The sequence space of ``journal``; a journal never seen before becomes current."""
        key = (dev.device, journal)
        seqs = self.seqs.get(key)
        if seqs is None:
            seqs = self.seqs[key] = JournalSeqs()
            self.dirty_journals.add(key)
            self.counters["journals_new"] += 1
            log("journal_new", device=dev.device, journal=journal, previous=dev.journal or "")
            if dev.journal is not None and dev.journal != journal:  # an SD card swapped...
                self.store.open_event(
                    "journal_new", dev.device, dev.site, dev.room, journal, at,
                    {"journal": journal, "previous": dev.journal}, severity("journal_new"))
            dev.journal = journal
            self.registry.dirty.add(dev.device)
        return seqs

    # -- acks --------------------------------------------------------------------------------

    def _due_acks(self, now: float, at: str) -> list[AckOut]:
        """The acks due now (each entry point has checked the store file first)."""
        every = self.settings.ack_every_ms / 1000.0
        out = []
        for key, (site, room) in list(self._pending_acks.items()):
            if now - self._last_ack.get(key, float("-inf")) < every:
                continue
            del self._pending_acks[key]
            self._last_ack[key] = now
            device, journal = key
            upto = self.upto(device, journal)
            payload = Ack(v=1, device=device, journal=journal, upto=upto, at=at).to_bytes()
            out.append(AckOut(topic(site, room, ACK), payload, device, journal, upto))
        self.counters["acks_sent"] += len(out)
        return out

    # -- start-up ----------------------------------------------------------------------------

    def _restore(self, now: float) -> None:
        """Rebuild every in-memory structure from the store (at start, after a failure)."""
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self.counters.update(self.store.counters())
        self.registry = Registry()
        self.presence = Presence(self)
        self.intake = Intake(self)
        self.watch = Watch(self)
        journals = self.store.journals()
        owners = {journal: device for device, journal, _ in journals}
        if getattr(self, "gate", None) is None:
            self.gate = Gate(self.rooms, self.settings, owners)
        else:  # rebuilt after a failure: what each device has spent today is kept
            self.gate.owners = owners
        self.seqs: dict[JournalKey, JournalSeqs] = {}
        self.dirty_journals: set[JournalKey] = set()
        events = self.store.open_events()
        self.presence.restore(self.store.devices(), self.store.live_times(), events, now,
                              self.store.live_inputs(),
                              chain_store.devices_with_changes(self.store.conn))
        stalls = {(e.device, e.ref): e.id for e in events if e.kind == "ack_stalled"}
        gap_events: dict[JournalKey, list[Gap]] = {}
        for event in (e for e in events if e.kind == "data_gap"):
            try:
                first, last = int(event.detail["first"]), int(event.detail["last"])
                key = (event.device, str(event.detail["journal"]))
            except (KeyError, TypeError, ValueError):
                continue
            gap_events.setdefault(key, []).append(Gap(first, last, 0, now, event.id))
        filled: list[Gap] = []
        for device, journal, upto in journals:
            above = self.store.stored_above(device, journal, upto)
            own = gap_events.pop((device, journal), [])
            waiting = self.store.quarantined_waiting(device, journal, upto)
            self.seqs[(device, journal)], done = JournalSeqs.restore(upto, above, own, now,
                                                                     waiting)
            self.seqs[(device, journal)].stall_event = stalls.get((device, journal))
            filled += done
        filled += [gap for gaps in gap_events.values() for gap in gaps]
        if filled:
            with self.store.transaction():
                for gap in filled:
                    self.store.clear_condition(gap.event_id or 0, timefmt.iso(now))


def _is_ack(topic_text: str) -> bool:
    """The hub's own acknowledgements come back through its subscription: skip them."""
    if not topic_text.endswith("/" + ACK):
        return False
    try:
        return parse_topic(topic_text).kind == ACK
    except WireError:
        return False
