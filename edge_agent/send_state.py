"""Where the publisher's sending stands: what the hub acknowledged, what was sent, when to resend.

Alarms and exposures and readings are tracked apart, so that the first go
before the second (see :mod:`edge_agent.publisher`); a rewind sends everything
unacknowledged again.
"""

from __future__ import annotations

from dataclasses import dataclass

import paho.mqtt.client as mqtt

from edge_agent.logs import log
from edge_agent.outbox import Pending

#: Resend time-outs double while the hub stays silent, up to this many ack time-outs.
MAX_BACKOFF = 8


@dataclass
class SendState:
    """Where sending stands: acknowledged, sent, and the resend time-out.

    Alarms and exposures are sent from ``urgent_from`` on, readings from
    ``readings_from``: every record of its class below each has been sent
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
