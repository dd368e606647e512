"""The ingest core: a batch of (topic, payload) in, one transaction, acknowledgements out.

No network and no clock of its own: the service (``hub.ingest``) feeds it
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

from hub import timefmt
from hub.config import Ingest as IngestSettings
from hub.errors import StoreError
from hub.events import alarm_detail, alarm_ref, severity
from hub.logs import log
from hub.presence import Presence
from hub.records import alarm_row, exposure_row, reading_row
from hub.registry import DeviceState, Registry
from hub.sequences import Gap, JournalSeqs
from hub.store import Store
from wire.contract import (
    ACK,
    Ack,
    AlarmBatch,
    AlarmItem,
    ExposureBatch,
    Live,
    Message,
    ReadingBatch,
    Status,
    Topic,
    WireError,
    decode,
    parse_topic,
    topic,
)

Batch = ReadingBatch | ExposureBatch | AlarmBatch
JournalKey = tuple[str, str]

#: Rejections logged per second at most; the rest are counted and summarised.
REJECT_LOG_PER_S = 20
#: Every counter, present (at 0) in stats and in the ``counters`` table from the start.
COUNTERS = (
    "messages_ok", "rejected_total", "duplicates", "records_stored", "readings_stored",
    "exposures_stored", "alarms_stored", "replays", "dose_rates", "acks_ignored", "acks_sent",
    "handler_errors", "journals_new", "data_gaps_opened", "offline_opened", "batches",
    "alarm_events",
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
class _Touch:
    site: str
    room: str
    before: int
    duplicate: bool = False


class IngestCore:
    """Exactly-once storage of the agents' evidence, with gaps and presence."""

    def __init__(self, store: Store, settings: IngestSettings, now: float) -> None:
        self.store = store
        self.settings = settings
        self._last_ack: dict[JournalKey, float] = {}
        self._pending_acks: dict[JournalKey, tuple[str, str]] = {}
        self._log_window, self._logged, self._suppressed = 0, 0, 0
        self._last_prune = now
        self._failed = False
        self._restore(now)

    # -- entry points ------------------------------------------------------------------------

    def handle_batch(self, messages: Sequence[tuple[str, bytes]], now: float) -> list[AckOut]:
        """Store a batch in one transaction; return the acks to publish after the commit."""
        at = timefmt.iso(now)
        touched: dict[JournalKey, _Touch] = {}
        self._failed = False
        self._guarded(lambda: self._handle_all(messages, now, at, touched), now)
        if self._failed:
            self._restore(now)
        for key, touch in touched.items():
            seqs = self.seqs.get(key)
            if seqs is not None and (seqs.upto > touch.before or touch.duplicate):
                self._pending_acks[key] = (touch.site, touch.room)
        return self._due_acks(now, at)

    def tick(self, now: float) -> list[AckOut]:
        """Periodic checks: overdue gaps, silent devices, throttled acks, pruning."""
        at = timefmt.iso(now)
        self._guarded(lambda: self._checks(now, at), now)
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
        out["open_gaps"] = sum(len(s.gaps) for s in self.seqs.values())
        out["pending_acks"] = len(self._pending_acks)
        return out

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
        touched: dict[JournalKey, _Touch],
    ) -> None:
        for topic_text, payload in messages:
            self._one(topic_text, payload, now, at, touched)
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
        touched: dict[JournalKey, _Touch],
    ) -> None:
        if _is_ack(topic_text):
            self.counters["acks_ignored"] += 1
            return
        try:
            where, message = decode(topic_text, payload)
        except WireError as exc:
            self._reject(topic_text, payload, exc.reason, now, at)
            return
        except Exception as exc:  # a bug in the contract must not stop ingest
            self._reject(topic_text, payload, f"undecodable: {type(exc).__name__}", now, at)
            return
        try:
            with self.store.transaction():
                self._dispatch(where, message, now, at, touched)
        except Exception as exc:
            self._failed = True
            self.counters["handler_errors"] += 1
            log("handler_failed", logging.ERROR, exc_info=True, topic=topic_text[:300])
            self._reject(topic_text, payload, f"internal error: {type(exc).__name__}", now, at)
            return
        self.counters["messages_ok"] += 1

    def _dispatch(
        self, where: Topic, message: Message, now: float, at: str,
        touched: dict[JournalKey, _Touch],
    ) -> None:
        if isinstance(message, ReadingBatch | ExposureBatch | AlarmBatch):
            self._records(message, now, at, touched)
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

    # -- records -----------------------------------------------------------------------------

    def _records(
        self, batch: Batch, now: float, at: str, touched: dict[JournalKey, _Touch]
    ) -> None:
        dev = self.registry.heard(batch.device, batch.site, batch.room, now, at)
        self.presence.came_back(dev, at)
        seqs = self.journal(dev, batch.journal, at)
        key = (batch.device, batch.journal)
        touch = touched.setdefault(key, _Touch(batch.site, batch.room, seqs.upto))
        touch.site, touch.room = batch.site, batch.room
        new_seqs = [item.seq for item in batch.items if not seqs.is_stored(item.seq)]
        duplicates = len(batch.items) - len(new_seqs)
        if duplicates:
            self.counters["duplicates"] += duplicates
            touch.duplicate = True
        if not new_seqs:
            return
        self._write(batch, set(new_seqs), at)
        for seq in new_seqs:
            for gap in seqs.add(seq, now):
                self._gap_filled(dev, batch.journal, gap, at)
        self.dirty_journals.add(key)
        self.counters["records_stored"] += len(new_seqs)
        self.counters[f"{batch.kind}_stored"] += len(new_seqs)

    def _write(self, batch: Batch, new: set[int], at: str) -> None:
        ident = (batch.device, batch.site, batch.room, batch.journal)
        self.store.insert_received(
            (batch.device, batch.journal, seq, batch.kind, at) for seq in sorted(new)
        )
        if isinstance(batch, ReadingBatch):
            self.store.insert_readings(reading_row(*ident, i) for i in batch.items if i.seq in new)
        elif isinstance(batch, ExposureBatch):
            for exposure in (i for i in batch.items if i.seq in new):
                self.store.upsert_exposure(exposure_row(*ident, exposure, at))
        else:
            for alarm in (i for i in batch.items if i.seq in new):
                self.store.upsert_alarm(alarm_row(*ident, alarm, at))
                self._alarm_event(batch, alarm, at)

    def _alarm_event(self, batch: AlarmBatch, alarm: AlarmItem, at: str) -> None:
        """Every edge alarm is an event for the PCR: opened by its first stored record
        (raised, or cleared/interrupted if that one arrives first); cleared or
        interrupted ends its condition, never the PCR's review."""
        cleared = None if alarm.event == "raised" else (alarm.cleared or at)
        self.store.alarm_event(
            alarm.kind, batch.device, batch.site, batch.room,
            alarm_ref(batch.journal, alarm.run, alarm.number), alarm.at,
            alarm_detail(batch.journal, alarm, at), severity(alarm.kind), cleared, at,
        )
        if alarm.event == "raised":
            self.counters["alarm_events"] += 1

    def journal(self, dev: DeviceState, journal: str, at: str) -> JournalSeqs:
        """The sequence space of ``journal``; a journal never seen before becomes current."""
        key = (dev.device, journal)
        seqs = self.seqs.get(key)
        if seqs is None:
            seqs = self.seqs[key] = JournalSeqs()
            self.dirty_journals.add(key)
            self.counters["journals_new"] += 1
            log("journal_new", device=dev.device, journal=journal, previous=dev.journal or "")
            dev.journal = journal
            self.registry.dirty.add(dev.device)
        return seqs

    # -- gaps --------------------------------------------------------------------------------

    def _checks(self, now: float, at: str) -> None:
        for dev in self.registry.silent(now, self.settings.offline_grace):
            self.presence.open_offline(dev, at, "silent", now - dev.last_heard)
        for (device, journal), seqs in self.seqs.items():
            for gap in seqs.overdue(now, self.settings.gap_timeout_s):
                self._open_gap(device, journal, gap, at)

    def _open_gap(self, device: str, journal: str, gap: Gap, at: str) -> None:
        dev = self.registry.devices.get(device)
        site, room = (dev.site, dev.room) if dev else ("", "")
        detail = {"journal": journal, "first": gap.first, "last": gap.last,
                  "missing": gap.missing}
        gap.event_id = self.store.open_event(
            "data_gap", device, site, room, f"{journal}:{gap.first}", at, detail,
            severity("data_gap"),
        )
        self.counters["data_gaps_opened"] += 1
        log("data_gap", logging.WARNING, device=device, journal=journal, first=gap.first,
            last=gap.last, missing=gap.missing)

    def _gap_filled(self, dev: DeviceState, journal: str, gap: Gap, at: str) -> None:
        if gap.event_id is None:
            return
        self.store.clear_condition(gap.event_id, at)
        log("data_gap_filled", device=dev.device, journal=journal, first=gap.first,
            last=gap.last)

    # -- acks --------------------------------------------------------------------------------

    def _due_acks(self, now: float, at: str) -> list[AckOut]:
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
        self.seqs: dict[JournalKey, JournalSeqs] = {}
        self.dirty_journals: set[JournalKey] = set()
        events = self.store.open_events()
        self.presence.restore(self.store.devices(), self.store.live_times(), events, now,
                              self.store.live_inputs())
        gap_events: dict[JournalKey, list[Gap]] = {}
        for event in (e for e in events if e.kind == "data_gap"):
            try:
                first, last = int(event.detail["first"]), int(event.detail["last"])
                key = (event.device, str(event.detail["journal"]))
            except (KeyError, TypeError, ValueError):
                continue
            gap_events.setdefault(key, []).append(Gap(first, last, 0, now, event.id))
        filled: list[Gap] = []
        for device, journal, upto in self.store.journals():
            above = self.store.stored_above(device, journal, upto)
            own = gap_events.pop((device, journal), [])
            self.seqs[(device, journal)], done = JournalSeqs.restore(upto, above, own, now)
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
