"""Where the publisher's sending stands: what the hub acknowledged, what was sent, when to resend.

Alarms and exposures, and readings with input changes, are tracked apart, so that the first go
before the second (see :mod:`edge_agent.publisher`); a rewind sends everything
unacknowledged again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import paho.mqtt.client as mqtt

from edge_agent.logs import log
from edge_agent.outbox import Pending

#: Resend time-outs double while the hub stays silent, up to this many ack time-outs.
MAX_BACKOFF = 8
#: Record batches sent per second, and in one burst: well under what a hub takes from one
#: device by default (``[ingest] device_messages_per_s`` 50, ``device_burst`` 500), leaving
#: room for the live state. Readings and input changes alternate in the outbox, so a backlog
#: of them is many small batches: unpaced, a catching-up agent would be refused by the hub.
BATCHES_PER_S: Final = 40.0
BATCH_BURST: Final = 400.0


@dataclass
class Budget:
    """A token bucket of record batches (:data:`BATCHES_PER_S`, :data:`BATCH_BURST`)."""

    rate: float = BATCHES_PER_S
    burst: float = BATCH_BURST
    tokens: float = BATCH_BURST
    at: float | None = None

    def take(self, now: float) -> bool:
        """Whether one more batch may leave at ``now`` (monotonic); takes its token if so."""
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class SendState:
    """Where sending stands: acknowledged, sent, and the resend time-out.

    Alarms and exposures are sent from ``urgent_from`` on, readings and input changes
    from ``readings_from``: every record of its class below each has been sent
    since the last rewind. ``in_flight`` is the last batch of readings, until
    the broker has it."""

    acked: int
    timeout: float
    urgent_from: int = 0
    readings_from: int = 0
    highest_sent: int = 0
    sent_at: float = 0.0
    backoff: float = 1.0
    in_flight: mqtt.MQTTMessageInfo | None = None
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

    def rewind(self, now: float, why: str, backoff: bool = False) -> None:
        """Send again everything the hub has not acknowledged."""
        if self.outstanding:
            log("outbox_resend", reason=why, from_seq=self.acked + 1, to_seq=self.highest_sent)
        self.urgent_from = self.readings_from = self.acked + 1
        self.highest_sent = self.acked
        self.in_flight = None
        self.sent_at = now
        if backoff:
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)


def leading_run(rows: list[Pending]) -> list[Pending]:
    """The first records of ``rows`` that share a kind and follow each other."""
    run = [rows[0]]
    for row in rows[1:]:
        if row.kind != run[0].kind or row.seq != run[-1].seq + 1:
            break
        run.append(row)
    return run
