"""Status, live state and the ``device_offline`` event of each device.

A device is offline when its status says so (a clean stop, or the broker's
last will) or when it stays silent too long (``Registry.silent``); the event
closes when the device comes back: a status ``online``, or any sign of life
after silence. A retained message delivered again is recognised by its
unchanged ``at`` and changes nothing (an agent's clock may go backwards at
boot, so only equality is trusted, not order).

A live state may carry ``held_alarms``: alarms the agent could not journal
yet. Each opens (or clears) the event its record will open later, the same
event (see :meth:`Presence._held_alarms`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hub.db.store import OpenEvent
from hub.events.workflow import alarm_ref
from hub.ingest.registry import DeviceState
from hub.logs import log
from wire.contract import HeldAlarm, Live, Status
from wire.kinds import severity
from wire.records import instant_key

if TYPE_CHECKING:
    from hub.ingest.core import IngestCore


class Presence:
    """Presence transitions; writes go through the core's store, in its transaction."""

    def __init__(self, core: IngestCore) -> None:
        self.core = core

    def status(self, message: Status, now: float, at: str) -> None:
        registry = self.core.registry
        known = registry.devices.get(message.device)
        if known and (known.status_at, known.status_state) == (message.at, message.state):
            self.core.counters["replays"] += 1
            return
        dev = registry.heard(message.device, message.site, message.room, now, at)
        seqs = self.core.journal(dev, message.journal, at)
        if message.oldest is not None:  # what the agent no longer holds, declared lost once
            self.core.intake.oldest(dev, message.journal, seqs, message.oldest, now, at)
        if dev.journal != message.journal:
            log("journal_switch", device=dev.device, journal=message.journal,
                previous=dev.journal or "")
            dev.journal = message.journal
        dev.status_state, dev.status_at = message.state, message.at
        dev.heartbeat_s, dev.agent = message.heartbeat_s, message.agent
        if message.state == "online":
            dev.online = True
            self.close_offline(dev, at)
        else:
            dev.online = False
            self.open_offline(dev, at, "status_offline", None)

    def live(self, message: Live, now: float, at: str) -> None:
        known = self.core.registry.devices.get(message.device)
        if known is not None and known.live_at == message.at:
            self.core.counters["replays"] += 1
            return
        dev = self.core.registry.heard(message.device, message.site, message.room, now, at)
        self.came_back(dev, at)
        dev.live_at = message.at
        self._signal_changes(dev, message)
        self._held_alarms(dev, message, now, at)
        self.core.store.upsert_live(
            dev.device, dev.site, dev.room, message.model_dump_json(), message.at
        )

    def _signal_changes(self, dev: DeviceState, message: Live) -> None:
        """Keep each input change (door, lamp, request, emission...) seen in the live state,
        for the timelines of a device that journals none (an agent older than the change
        records): a sample, throttled and lost in an outage. A device that has sent a change
        record is read from its records only.

        The first live state of a device, or one after a restart of the hub
        that had none stored, records every input as it stands.
        """
        inputs = dict(message.inputs)
        if message.interlock_open is not None:
            inputs["interlock_open"] = message.interlock_open
        before = dev.live_inputs
        changed = [(name, value) for name, value in sorted(inputs.items())
                   if before is None or before.get(name) != value]
        dev.live_inputs = inputs
        if changed and not dev.sends_changes:
            self.core.store.insert_signal_changes(
                (dev.device, message.at, name, int(value), dev.site, dev.room)
                for name, value in changed
            )

    def _held_alarms(self, dev: DeviceState, message: Live, now: float, at: str) -> None:
        """Alarms the agent could not journal (its journal cannot write) open their events now,
        under the ref their records will carry (``journal:run:number``), so that the record,
        when it arrives, finds the same event and never opens a second one.

        Only for the device's current journal (from its status): the journal id and the
        numbers are the device's word, and a device can only ever touch its own events."""
        if not message.held_alarms:
            return
        if message.journal is None or message.journal != dev.journal:
            log("held_alarms_ignored", logging.WARNING, device=dev.device,
                journal=message.journal or "", current=dev.journal or "",
                count=len(message.held_alarms))
            return
        low, high = self.core.intake.plausible(now)
        for held in message.held_alarms:
            times = [t for t in (held.at, held.since, held.cleared) if t is not None]
            implausible = any(not low <= instant_key(t) <= high for t in times)
            cleared = (held.cleared or at) if held.event == "cleared" else None
            detail = _held_detail(message.journal, held, at)
            if implausible:  # as for a record: dated by its receipt (deadline, inbox order)
                detail["clock_implausible"] = True
                cleared = at if cleared is not None else None
            self.core.store.alarm_event(
                held.kind, dev.device, dev.site, dev.room,
                alarm_ref(message.journal, held.run, held.number),
                at if implausible else held.at, detail, severity(held.kind), cleared, at,
            )

    def came_back(self, dev: DeviceState, at: str) -> None:
        """Close the offline event of a device called offline for silence."""
        if self.core.registry.returns(dev):
            self.close_offline(dev, at)

    def open_offline(self, dev: DeviceState, at: str, reason: str, silent_s: float | None) -> None:
        if dev.offline_event is not None:
            return
        detail: dict[str, Any] = {"reason": reason}
        if silent_s is not None:
            detail["silent_s"] = round(silent_s, 3)
        dev.offline_event = self.core.store.open_event(
            "device_offline", dev.device, dev.site, dev.room, "", at, detail,
            severity("device_offline"),
        )
        self.core.counters["offline_opened"] += 1
        log("device_offline", logging.WARNING, device=dev.device, site=dev.site, room=dev.room,
            reason=reason)

    def close_offline(self, dev: DeviceState, at: str) -> None:
        """The device is back: the offline condition ends (the PCR's review stays open)."""
        if dev.offline_event is None:
            return
        self.core.store.clear_condition(dev.offline_event, at)
        dev.offline_event = None
        log("device_online", device=dev.device, site=dev.site, room=dev.room)

    def restore(
        self, rows: Sequence[Mapping[str, Any]], live_times: Mapping[str, str],
        events: Sequence[OpenEvent], now: float,
        live_inputs: Mapping[str, dict[str, bool]] | None = None,
        sends_changes: Collection[str] = frozenset(),
    ) -> None:
        """Devices from the store; silence is timed from ``now`` (the hub was away)."""
        offline = {e.device: e.id for e in events if e.kind == "device_offline"}
        registry = self.core.registry
        for row in rows:
            dev = DeviceState(
                device=row["device"], site=row["site"], room=row["room"], last_heard=now,
                last_seen=row["last_seen"], journal=row["journal"],
                status_state=row["status_state"], status_at=row["status_at"],
                heartbeat_s=row["heartbeat_s"], agent=row["agent"], online=bool(row["online"]),
                live_at=live_times.get(row["device"]), offline_event=offline.get(row["device"]),
                live_inputs=(live_inputs or {}).get(row["device"]),
                sends_changes=row["device"] in sends_changes,
            )
            registry.devices[dev.device] = dev
            registry.by_room[(dev.site, dev.room)] = dev.device


def _held_detail(journal: str, held: HeldAlarm, at: str) -> dict[str, Any]:
    """An event's detail from a held alarm: as a record's
    (hub.events.workflow.alarm_detail), marked."""
    return {"journal": journal, "run": held.run, "number": held.number, "subject": held.subject,
            "at": held.at, "since": held.since, "exposure": None, "detail": held.detail,
            "stored_at": at, "held": True}
