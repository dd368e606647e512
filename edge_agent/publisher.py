"""The agent's MQTT publisher: the journal's outbox to the hub, with end-to-end acknowledgement.

A broker's PUBACK only says that the broker has a message. So records leave the
outbox only when the hub's retained ``ack`` (everything up to it stored,
quarantined or declared lost) covers them; what stays unacknowledged is sent
again after a reconnect, a restart or a time-out (backing off while the hub is
silent). Duplicates are harmless: the hub stores each (device, journal, seq)
once. An ack below what the agent has forgotten (a hub store restored from an
older copy) changes nothing: the agent says in every batch and status the oldest
record it holds (``oldest``), and the hub declares the rest lost once. An ack
covers only what this publisher has sent: a journal restored from an older copy
re-makes numbers the hub holds, and those must reach the hub (which finds a
``record_conflict``), not be forgotten unsent.

Within the contract's window (:data:`wire.contract.WINDOW`, or the lower
``[mqtt] window``), alarms and exposures go first, all at once; readings and
input changes follow in order, ``batch_max`` at a time (the next when the broker
has the last), so that an alarm never waits behind a backlog. Each round sends
one batch per kind, its records going up with holes where the other kinds' are,
paced (:class:`edge_agent.send_state.Budget`) under what a hub takes from one
device. Records travel as the outbox stores them, validated when journaled.

Everything runs in two threads of its own, paho's network loop and a worker
that reads the outbox, so the monitor, the journal and the alarm output never
wait for the network. Paho's offline queue is memory only: durability is the outbox's.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge_agent.clock import iso_utc
from edge_agent.config import Device, Mqtt
from edge_agent.ha_discovery import publish_discovery
from edge_agent.logs import log
from edge_agent.outbox import URGENT_KINDS, Outbox, Pending
from edge_agent.send_state import TICK_S, SendState, broker_has, by_kind
from wire import contract as wire

#: Sent in order after the urgent kinds, one batch at a time: readings and input changes
#: (a change batch says ``"kind": "changes"`` and travels on the exposures topic).
STREAM_KINDS = (wire.READINGS, wire.CHANGES)
#: Shortest time between two live-state messages for input changes alone.
LIVE_MIN_INTERVAL_S = 0.5


@dataclass
class _Link:
    """What paho's thread tells the worker (guarded by the publisher's lock)."""

    connected: bool = False
    reconnected: bool = False
    hub_upto: int | None = None


class Publisher:
    """Publish one device's outbox and live state (see the module docstring)."""

    def __init__(
        self, settings: Mqtt, device: Device, journal_path: str | Path, *,
        agent_version: str = "", monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.device = device
        self.journal_path = str(journal_path)
        self.agent_version = agent_version
        self._monotonic, self._wall = monotonic, wall
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._link = _Link()
        self._live: dict[str, Any] | None = None
        self._live_dirty = False
        self._live_at = float("-inf")
        self._live_alarms_sent: Any = None
        self._dose_rate_sent: float | None = None
        self._dose_rate: float | None = None
        self._writes_seen: int | None = None
        self._thread: threading.Thread | None = None
        self.journal_id = ""
        self.acked = 0
        self.sent_upto = 0
        self.last_seq = 0
        self._behind_warned = False
        #: The oldest record the outbox holds (last_seq + 1 when empty), said to the hub.
        self.oldest = 1
        self.backlog = 0
        self.failed_connects = 0
        self.client = self._make_client()

    # -- the agent's calls (any thread) ---------------------------------------------

    def start(self) -> None:
        outbox = Outbox(self.journal_path)  # read once here so that errors show at start
        self.journal_id = outbox.journal_id
        self.oldest = outbox.oldest()
        outbox.close()
        self._set_will()
        self.client.connect_async(self.settings.host, self.settings.port,
                                  keepalive=self.settings.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._work, name="voyant-publisher", daemon=True)
        self._thread.start()
        log("mqtt_started", host=self.settings.host, port=self.settings.port,
            client_id=self.client_id, tls=self.settings.tls is not None)

    def notify(self, writes: int | None = None) -> None:
        """New records may be in the outbox: wake the worker, unless ``writes`` (the journal's
        count) is the last one given (the simulator steps thousands of times a second)."""
        if writes is None or writes != self._writes_seen:
            self._writes_seen = writes
            self._wake.set()

    def set_live(self, live: dict[str, Any], dose_rate_usv_h: float | None) -> None:
        """The room's live state changed: publish it (retained, QoS 0) when connected.

        The last reading's dose rate travels in the live state too (the overview shows it)
        and alone on the plain ``dose_rate`` topic (for dashboards)."""
        live = {**live, "dose_rate_usv_h": dose_rate_usv_h}
        with self._lock:
            before, waiting = self._live, self._live_dirty
            changed = live != before
            if changed:
                self._live, self._live_dirty = live, True
            self._dose_rate = dose_rate_usv_h
        # The same again, or a change while an earlier one waits for its pacing, wakes
        # nobody: the heartbeat sends it, or the worker's wait ends when the waiting one is
        # due (_next_wait) and it sends the latest. A change of the alarms goes at once.
        if changed and (not waiting or before is None
                        or live.get("alarms") != before.get("alarms")):
            self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Say ``offline`` (a clean disconnect suppresses the will) and stop both threads."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            connected = self._link.connected
        if connected:
            info = self.client.publish(self._topic(wire.STATUS),
                                       self._status("offline", self.oldest), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._link.connected

    # -- paho ------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.settings.client_id or self.device.device_id

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(s.username or self.device.device_id, s.read_password())
        if s.tls is not None:
            client.tls_set(ca_certs=s.tls.ca_file, certfile=s.tls.cert_file,
                           keyfile=s.tls.key_file)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)  # type: ignore[arg-type]
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _set_will(self) -> None:
        # The will is set once, at start: it cannot say what the outbox will hold then.
        self.client.will_set(self._topic(wire.STATUS), self._status("offline", None), qos=1,
                             retain=True)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log("mqtt_refused", logging.WARNING, reason=str(reason))
            return
        client.subscribe(self._topic(wire.ACK), qos=1)
        client.publish(self._topic(wire.STATUS), self._status("online", self.oldest), qos=1,
                       retain=True)
        publish_discovery(client, self.settings, self.device, self.agent_version)  # if enabled
        self.failed_connects = 0
        with self._lock:
            self._link.connected = True
            self._link.reconnected = True
            # Send the retained states again at once: a restarted broker may have lost them.
            self._live_dirty, self._live_at, self._dose_rate_sent = True, float("-inf"), None
        log("mqtt_connected", session_present=bool(flags.session_present))
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """Broker unreachable, or TLS refused: logged once per outage, retried with backoff."""
        self.failed_connects += 1
        if self.failed_connects == 1:
            log("mqtt_connect_failed", logging.WARNING, host=self.settings.host,
                port=self.settings.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._lock:
            was = self._link.connected
            self._link.connected = False
        if was:
            level = logging.INFO if self._stopping.is_set() else logging.WARNING
            log("mqtt_disconnected", level, reason=str(reason))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        self._wake.set()  # the broker has a batch: the next readings may go

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            _, ack = wire.decode(message.topic, bytes(message.payload))
        except wire.WireError as exc:
            log("ack_refused", logging.WARNING, topic=message.topic, reason=exc.reason)
            return
        if not isinstance(ack, wire.Ack) or ack.journal != self.journal_id:
            return  # an acknowledgement of an older journal of this device
        with self._lock:  # never backwards: what was forgotten is gone (see the docstring)
            self._link.hub_upto = max(ack.upto, self._link.hub_upto or 0)
        self._wake.set()

    # -- the worker ------------------------------------------------------------------

    def _work(self) -> None:
        outbox = Outbox(self.journal_path)
        state = SendState(acked=outbox.acked(), timeout=self.settings.ack_timeout_s)
        self.acked = state.acked
        wait = TICK_S
        try:
            while not self._stopping.is_set():
                self._wake.wait(wait)
                self._wake.clear()
                try:
                    self._cycle(outbox, state)
                    wait = self._next_wait(state, self._monotonic())
                except Exception as exc:  # never let one bad cycle end publishing
                    log("publisher_error", logging.ERROR, error=repr(exc))
                    time.sleep(TICK_S)
                    wait = TICK_S
        finally:
            outbox.close()

    def _cycle(self, outbox: Outbox, state: SendState) -> None:
        now = self._monotonic()
        with self._lock:
            connected, reconnected = self._link.connected, self._link.reconnected
            hub_upto = self._link.hub_upto
            self._link.reconnected = False
        self.last_seq = outbox.last_seq()
        if hub_upto is not None and hub_upto > self.last_seq and not self._behind_warned:
            self._behind_warned = True  # once per process: the hub compares what comes
            log("journal_behind_hub", logging.WARNING, hub_upto=hub_upto, last_seq=self.last_seq)
        sent = min(state.urgent_from, state.readings_from) - 1  # every record up to it
        if hub_upto is not None and hub_upto > state.acked and sent > state.acked:
            state.acknowledged(min(hub_upto, sent), now)
            try:
                outbox.acknowledge(state.acked)
            except sqlite3.Error as exc:  # a full disk: deleted at the next acknowledgement
                log("outbox_acknowledge_failed", logging.WARNING, upto=state.acked,
                    error=str(exc))
            self.acked = state.acked
        self.oldest = max(outbox.oldest(), state.acked + 1)
        self.backlog = self.last_seq - state.acked
        if not connected:
            return
        if reconnected:
            state.rewind(now, "reconnected")
        elif state.overdue(now):
            state.rewind(now, "ack_timeout", backoff=True)
        self._send(outbox, state, now)
        self._publish_live(now)

    def _next_wait(self, state: SendState, now: float) -> float:
        """How long the worker may sleep after a cycle at ``now`` unless woken."""
        with self._lock:  # the live state's heartbeat, or its pacing while a change waits
            connected, at, pace = self._link.connected, self._live_at, self.settings.heartbeat_s
            due = [] if self._live is None else [at + (
                min(pace, LIVE_MIN_INTERVAL_S) if self._live_dirty else pace)]
        return state.next_wait(now, self.settings.window, self.last_seq, due, connected)

    def _send(self, outbox: Outbox, state: SendState, now: float) -> None:
        """Alarms and exposures within the window, all; then up to ``batch_max`` readings and
        changes (a batch of each kind), if the broker has the last ones."""
        upto = min(state.acked + self.settings.window, self.last_seq)
        limit = self.settings.batch_max
        while state.urgent_from <= upto:
            rows = outbox.pending(state.urgent_from, limit, upto=upto, kinds=URGENT_KINDS)
            if not rows:
                state.urgent_from = upto + 1  # every one up to there is sent
                break
            groups = by_kind(rows)
            if not state.budget.take(now, len(groups)):
                return  # paced: the rest at the next cycle
            for group in groups:
                self._publish_batch(group, state, now)
            state.urgent_from = rows[-1].seq + 1
        if not all(broker_has(info) for info in state.in_flight):
            return
        state.in_flight = []
        if state.readings_from <= upto:
            rows = outbox.pending(state.readings_from, limit, upto=upto, kinds=STREAM_KINDS)
            if not rows:
                state.readings_from = upto + 1
                return
            groups = by_kind(rows)
            if not state.budget.take(now, len(groups)):
                return
            state.in_flight = [self._publish_batch(group, state, now) for group in groups]
            state.readings_from = rows[-1].seq + 1

    def _publish_batch(
        self, rows: list[Pending], state: SendState, now: float
    ) -> mqtt.MQTTMessageInfo:
        """Publish records of one kind (in sequence order); returns paho's receipt."""
        if not state.outstanding:
            state.sent_at = now  # the time-out counts from the first unacknowledged send
        info = self.client.publish(self._topic(wire.RECORD_TOPIC[rows[0].kind]),
                                   self._batch(rows), qos=1)
        state.highest_sent = max(state.highest_sent, rows[-1].seq)
        self.sent_upto = state.highest_sent
        return info

    def _publish_live(self, now: float) -> None:
        """The live state when it changed (alarms at once, inputs at most every
        ``LIVE_MIN_INTERVAL_S``: pulsed fluoroscopy flips the emission input 30 times a
        second) or at the heartbeat; the plain dose rate when a new reading gives one."""
        with self._lock:
            live, dose_rate = self._live, self._dose_rate
            if live is None:
                return
            urgent = live.get("alarms") != self._live_alarms_sent
            due = now - self._live_at >= self.settings.heartbeat_s or (self._live_dirty and (
                urgent or now - self._live_at >= LIVE_MIN_INTERVAL_S))
            if not due:
                return
            self._live_dirty, self._live_at = False, now
            self._live_alarms_sent = live.get("alarms")
        try:
            payload = wire.Live.model_validate({
                "v": wire.SCHEMA_VERSION, **self._who(), "at": iso_utc(self._wall()), **live,
                "outbox": max(self.backlog, 0)}).to_bytes()
        except ValidationError as exc:  # a software fault: said, never sent to be refused
            log("live_invalid", logging.ERROR, reason=str(exc.errors()[:1]))
        else:
            self.client.publish(self._topic(wire.LIVE), payload, qos=0, retain=True)
        if dose_rate is not None and dose_rate != self._dose_rate_sent:
            self._dose_rate_sent = dose_rate
            self.client.publish(self._topic(wire.DOSE_RATE), wire.dose_rate_payload(dose_rate),
                                qos=0, retain=True)

    # -- payloads --------------------------------------------------------------------

    def _topic(self, kind: str) -> str:
        return wire.topic(self.device.site, self.device.room, kind)

    def _who(self) -> dict[str, str]:
        return {"device": self.device.device_id, "site": self.device.site,
                "room": self.device.room}

    def _status(self, state: Literal["online", "offline"], oldest: int | None) -> bytes:
        return wire.Status(
            v=wire.SCHEMA_VERSION, device=self.device.device_id, site=self.device.site,
            room=self.device.room, state=state, at=iso_utc(self._wall()),
            journal=self.journal_id, agent=self.agent_version[:200],
            heartbeat_s=self.settings.heartbeat_s, oldest=oldest,
        ).to_bytes()

    def _batch(self, rows: list[Pending]) -> bytes:
        """The records as the outbox stores them (validated when journaled), in one batch."""
        return wire.batch_from_json(
            rows[0].kind, self.device.device_id, self.device.site, self.device.room,
            self.journal_id, iso_utc(self._wall()), [row.item for row in rows],
            rows[0].seq, rows[-1].seq, self.oldest,
        )

