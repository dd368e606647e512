"""Where the publisher's sending stands: what the hub acknowledged, what was sent, when to resend.

Alarms and exposures, and readings with input changes, are tracked apart, so that the first go
before the second (see :mod:`edge_agent.publisher`); a rewind sends everything
unacknowledged again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import paho.mqtt.client as mqtt

from edge_agent.logs import log
from edge_agent.outbox import Pending

#: Resend time-outs double while the hub stays silent, up to this many ack time-outs.
MAX_BACKOFF = 8
#: Record batches sent per second, and in one burst: well under what a hub takes from one
#: device by default (``[ingest] device_messages_per_s`` 50, ``device_burst`` 500), leaving
#: room for the live state. A backlog leaves in few batches (one per kind per round), so
#: this binds only a box that makes records faster than the hub may take its messages.
BATCHES_PER_S: Final = 40.0
BATCH_BURST: Final = 400.0
#: How soon the publisher's worker looks again while sending is held back (the pacing
#: budget, a batch the broker has not taken yet): the cadence a backlog drains at.
TICK_S: Final = 0.25
#: Its longest sleep when nothing is due: whatever it acts on wakes it (a record, the live
#: state, a connection, an ack, the broker taking a batch), and its own deadlines (the ack
#: time-out, the heartbeat, the live state's pacing) are slept to exactly, so this is a
#: backstop. Every wake-up costs CPU on an idle box.
IDLE_S: Final = 5.0
#: Its shortest sleep: a deadline that rounding leaves a hair ahead is met without spinning.
MIN_WAIT_S: Final = 0.001


@dataclass
class Budget:
    """A token bucket of record batches (:data:`BATCHES_PER_S`, :data:`BATCH_BURST`)."""

    rate: float = BATCHES_PER_S
    burst: float = BATCH_BURST
    tokens: float = BATCH_BURST
    at: float | None = None

    def take(self, now: float, batches: int = 1) -> bool:
        """Whether ``batches`` more may leave at ``now`` (monotonic); takes their tokens if so."""
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens < batches:
            return False
        self.tokens -= batches
        return True


@dataclass
class SendState:
    """Where sending stands: acknowledged, sent, and the resend time-out.

    Alarms and exposures are sent from ``urgent_from`` on, readings and input changes
    from ``readings_from``: every record of its class below each has been sent
    since the last rewind. ``in_flight`` are the last batches of readings and
    changes, until the broker has them."""

    acked: int
    timeout: float
    urgent_from: int = 0
    readings_from: int = 0
    highest_sent: int = 0
    sent_at: float = 0.0
    backoff: float = 1.0
    in_flight: list[mqtt.MQTTMessageInfo] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)

    def __post_init__(self) -> None:
        self.urgent_from = self.readings_from = self.acked + 1
        self.highest_sent = self.acked

    @property
    def outstanding(self) -> bool:
        """Whether something sent waits for the hub's acknowledgement."""
        return self.highest_sent > self.acked

    def acknowledged(self, upto: int, now: float) -> None:
        self.acked = upto
        self.urgent_from = max(self.urgent_from, upto + 1)
        self.readings_from = max(self.readings_from, upto + 1)
        self.highest_sent = max(self.highest_sent, upto)
        self.sent_at, self.backoff = now, 1.0

    def overdue(self, now: float) -> bool:
        return self.outstanding and now - self.sent_at >= self.timeout * self.backoff

    def deadline(self) -> float | None:
        """When :meth:`overdue` turns true (monotonic), None while nothing is outstanding."""
        return self.sent_at + self.timeout * self.backoff if self.outstanding else None

    def next_wait(self, now: float, window: int, last_seq: int, due: Iterable[float],
                  connected: bool) -> float:
        """How long the worker may sleep after a cycle at ``now`` unless woken: :data:`TICK_S`
        while sending within the ``window`` is held back (paced, or the broker has not taken
        the last batch yet), else until the ack time-out or the earliest of ``due`` (the
        live state's), at most :data:`IDLE_S`."""
        if not connected:  # nothing is sent until paho connects, which wakes the worker
            return IDLE_S
        upto = min(self.acked + window, last_seq)
        if self.in_flight or self.urgent_from <= upto or self.readings_from <= upto:
            return TICK_S
        deadline = self.deadline()
        soonest = min((*due, *([deadline] if deadline is not None else [])),
                      default=now + IDLE_S)
        return min(max(soonest - now, MIN_WAIT_S), IDLE_S)

    def rewind(self, now: float, why: str, backoff: bool = False) -> None:
        """Send again everything the hub has not acknowledged."""
        if self.outstanding:
            log("outbox_resend", reason=why, from_seq=self.acked + 1, to_seq=self.highest_sent)
        self.urgent_from = self.readings_from = self.acked + 1
        self.highest_sent = self.acked
        self.in_flight = []
        self.sent_at = now
        if backoff:
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)


def broker_has(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker has a batch (or its publish failed: nothing is in flight then, and
    the acknowledgement's time-out sends it again)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # paho raises for a publish that failed
        return True


def by_kind(rows: list[Pending]) -> list[list[Pending]]:
    """``rows`` (in sequence order) as one batch per kind, each in sequence order: a batch's
    holes are the other kinds' records (see ``wire.contract``), so a backlog where readings
    and input changes alternate still leaves in a few batches."""
    groups: dict[str, list[Pending]] = {}
    for row in rows:
        groups.setdefault(row.kind, []).append(row)
    return list(groups.values())
