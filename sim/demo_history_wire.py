"""The history's link: each box's outbox as its publisher sends it, into the hub's own ingest.

No broker in between, and nothing faked on either side: the messages are
made by the agent's :class:`~edge_agent.publisher.Publisher` (its batch and
status payloads, from the journal's outbox, on the history's virtual clock),
and taken by :meth:`hub.ingest.core.IngestCore.handle_batch`, the one entry
that the hub's MQTT service (:mod:`hub.ingest.service`) feeds with every
(topic, payload) the broker delivers from an authenticated device. So every
check of the hub runs as it does live: who may speak for the room, the
sequence and its holes, the hash chain, the plausible record times (``now``
is the virtual time of receipt), and the hub raises its own events
(``data_gap``, ``device_offline``) from what it receives and from its
:meth:`~hub.ingest.core.IngestCore.tick`. The acknowledgements it returns
are applied to each outbox as the publisher applies the hub's retained ack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_agent.clock import iso_utc
from edge_agent.config import Device, Mqtt
from edge_agent.outbox import URGENT_KINDS, Outbox
from edge_agent.publisher import STREAM_KINDS, Publisher
from edge_agent.send_state import by_kind
from hub.config import load_config
from hub.db.store import Store
from hub.ingest.core import AckOut, IngestCore
from hub.ingest.service import load_rooms
from wire import contract as wire

#: Records per message: the contract's largest batch (a box catching up sends these).
BATCH_MAX = wire.MAX_BATCH


@dataclass
class Counts:
    """What the hub took and refused over the history (the tests read these)."""

    messages: int = 0
    acked: int = 0


class BoxLink:
    """One box's publisher, run by hand on virtual time (never connected to a broker)."""

    def __init__(self, mqtt: dict[str, object], device: dict[str, object], journal: Path,
                 clock: list[float]) -> None:
        self.clock = clock  # [virtual wall time]: shared with the history's loop
        self.publisher = Publisher(Mqtt.model_validate(mqtt), Device.model_validate(device),
                                   journal, agent_version="voyant-sim demo history",
                                   wall=lambda: self.clock[0])
        self.outbox = Outbox(journal)
        self.publisher.journal_id = self.outbox.journal_id

    @property
    def device(self) -> str:
        return self.publisher.device.device_id

    def status(self, state: str) -> tuple[str, bytes]:
        """The status the publisher sends on connecting (``online``) or stopping."""
        self.publisher.oldest = self.outbox.oldest()
        oldest = self.publisher.oldest
        payload = self.publisher._status("online" if state == "online" else "offline", oldest)
        return self.publisher._topic(wire.STATUS), payload

    def live(self, live: dict[str, object], dose_rate_usv_h: float | None
             ) -> tuple[str, bytes]:
        """The live state as the publisher sends it at every heartbeat (the hub hears the
        box is there: without it, the hub's silence check calls the box offline)."""
        payload = wire.Live.model_validate({
            "v": wire.SCHEMA_VERSION, **self.publisher._who(), "at": iso_utc(self.clock[0]),
            **live, "dose_rate_usv_h": dose_rate_usv_h,
            "outbox": max(self.outbox.last_seq() - self.outbox.acked(), 0)}).to_bytes()
        return self.publisher._topic(wire.LIVE), payload

    def pending(self, after: int = 0) -> list[tuple[str, bytes]]:
        """Every unacknowledged record (above ``after``) as the publisher batches them:
        alarms and exposures first, then readings and input changes, one batch per kind,
        each within the window above the acknowledgement."""
        acked = max(self.outbox.acked(), after)
        upto = min(acked + wire.WINDOW, self.outbox.last_seq())
        self.publisher.oldest = self.outbox.oldest()
        out: list[tuple[str, bytes]] = []
        for group_kinds in (URGENT_KINDS, STREAM_KINDS):
            start = acked + 1
            while True:
                rows = self.outbox.pending(start, BATCH_MAX, upto=upto, kinds=group_kinds)
                if not rows:
                    break
                for group in by_kind(rows):
                    out.append((self.publisher._topic(wire.RECORD_TOPIC[group[0].kind]),
                                self.publisher._batch(group)))
                start = rows[-1].seq + 1
        return out

    def acknowledged(self, acks: Iterable[AckOut]) -> None:
        for ack in acks:
            if ack.device == self.device and ack.journal == self.outbox.journal_id:
                self.outbox.acknowledge(ack.upto)

    def close(self) -> None:
        self.outbox.close()


class HubSide:
    """The hub's ingest core on its own store, fed in-process (see the module docstring)."""

    def __init__(self, hub_config: Path, store: Path, now: float) -> None:
        """The hub of ``hub_config`` (its ingest settings, its rooms) on the store at
        ``store`` (the history works on a copy in a fast folder)."""
        config = load_config(hub_config)
        self.store = Store.open(store)
        self.core = IngestCore(self.store, config.ingest, now, load_rooms(config))
        self.counts = Counts()

    def deliver(self, messages: Sequence[tuple[str, bytes]], now: float,
                links: Iterable[BoxLink]) -> None:
        """One batch of messages received at ``now``; the acks go back to the boxes."""
        if not messages:
            return
        acks = self.core.handle_batch(list(messages), now)
        self.counts.messages += len(messages)
        self.counts.acked += len(acks)
        for link in links:
            link.acknowledged(acks)

    def tick(self, now: float, links: Iterable[BoxLink]) -> None:
        """The ingest's periodic checks at ``now`` (silence, overdue gaps, stalls)."""
        acks = self.core.tick(now)
        for link in links:
            link.acknowledged(acks)

    def stats(self) -> dict[str, int]:
        return self.core.stats()

    def close(self) -> None:
        self.store.close()
