"""The agent's presence and live state, and the hub's acknowledgement (not evidence: no
sequence numbers; retained on the broker)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from wire.records import (
    AlarmKindName,
    Count,
    DeviceId,
    DoseRate,
    FromDevice,
    JournalId,
    Payload,
    Seq,
    ShortText,
    Timestamp,
)


class Status(FromDevice):
    """Retained presence: ``online`` on connect, ``offline`` as the last will or on a clean stop.

    ``heartbeat_s`` tells the hub how often to expect the live state, so that
    it can call the device offline when it stays silent (a cut cable leaves
    the broker's last will pending for 1.5 keep-alives).
    """

    state: Literal["online", "offline"]
    at: Timestamp
    journal: JournalId
    agent: ShortText
    heartbeat_s: Annotated[float, Field(gt=0.0, le=3600.0)]
    #: The oldest sequence number the agent's outbox still holds (last + 1 when empty).
    oldest: Seq | None = None


class ActiveAlarm(Payload):
    kind: AlarmKindName
    subject: ShortText | None = None
    since: Timestamp


class HeldAlarm(Payload):
    """An alarm the agent could not journal (its journal cannot write): sent in the live
    state until it is journaled and sent as a record with the same ``(run, number)``."""

    event: Literal["raised", "cleared"]
    run: Seq
    number: Seq
    kind: AlarmKindName
    subject: ShortText | None = None
    at: Timestamp
    since: Timestamp
    cleared: Timestamp | None = None
    detail: Annotated[str, Field(max_length=1000)] = ""
    clock_synced: bool | None = None


class Live(FromDevice):
    """Retained live state, published on every change and every heartbeat (QoS 0).

    ``journal`` and ``held_alarms`` are set while the journal cannot write:
    the alarms raised meanwhile reach the hub through here at once.
    """

    at: Timestamp
    inputs: Annotated[dict[Annotated[str, Field(max_length=64)], bool], Field(max_length=64)]
    alarms: Annotated[list[ActiveAlarm], Field(max_length=64)]
    exposure_open: bool
    dose_rate_usv_h: DoseRate | None = None
    calibration: ShortText | None = None
    interlock_open: bool | None = None
    outbox: Count = 0
    journal: JournalId | None = None
    held_alarms: Annotated[list[HeldAlarm], Field(max_length=64)] = []  # noqa: RUF012


class Ack(Payload):
    """Every record of ``journal`` up to and including ``upto`` is stored, quarantined or
    declared lost by the hub (0: none yet): the agent may forget them."""

    v: Literal[1]
    device: DeviceId
    journal: JournalId
    upto: Count
    at: Timestamp
