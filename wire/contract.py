"""The wire contract between a room's agent and the hub: topics, payloads, QoS, retention.

Both sides import this module and nothing else about each other; it depends
on pydantic only (no gpiozero, no FastAPI), so that a change to the contract
is one change, checked by both sides' tests. ``docs/protocol.md`` documents it
and is checked against it by a test.

Evidence (readings, exposures, alarms) travels as *record batches* at QoS 1
from the agent's journal outbox. Every record carries a per-device sequence
number that the journal keeps across restarts; a batch holds consecutive
records of one kind. The hub acknowledges, per device and journal, the highest
sequence number below which it has stored everything (``ack``); the agent
keeps each record until an acknowledgement covers it. A broker's PUBACK is
not that proof.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Schema version carried in every JSON payload as ``"v"``; topics carry ``v1``.
SCHEMA_VERSION: Final = 1
ROOT: Final = "voyant/v1"

# -- topics ---------------------------------------------------------------------------

#: Subtopic kinds, under ``voyant/v1/<site>/<room>/``.
STATUS: Final = "status"  # agent → hub, retained, QoS 1, last will "offline"
LIVE: Final = "live"  # agent → hub, retained, QoS 0: inputs, active alarms, heartbeat
DOSE_RATE: Final = "dose_rate"  # agent → dashboards, retained, QoS 0, plain "0.123" µSv/h
READINGS: Final = "readings"  # agent → hub, QoS 1, from the outbox
EXPOSURES: Final = "exposures"  # agent → hub, QoS 1, from the outbox
ALARMS: Final = "alarms"  # agent → hub, QoS 1, from the outbox
ACK: Final = "ack"  # hub → agent, retained, QoS 1

RECORD_KINDS: Final = (READINGS, EXPOSURES, ALARMS)
AGENT_KINDS: Final = (STATUS, LIVE, DOSE_RATE, *RECORD_KINDS)

#: QoS and retain flag of each subtopic.
QOS: Final = {STATUS: 1, LIVE: 0, DOSE_RATE: 0, READINGS: 1, EXPOSURES: 1, ALARMS: 1, ACK: 1}
RETAIN: Final = {STATUS: True, LIVE: True, DOSE_RATE: True, READINGS: False, EXPOSURES: False,
                 ALARMS: False, ACK: True}

#: What the hub subscribes to (everything every agent publishes; its own acks excluded by kind).
HUB_SUBSCRIPTION: Final = f"{ROOT}/+/+/+"

#: Largest payload either side accepts; a batch of 500 readings is about 200 kB.
MAX_PAYLOAD_BYTES: Final = 256 * 1024
#: Most records in one batch.
MAX_BATCH: Final = 500
#: Largest sequence number (JSON-safe integer).
MAX_SEQ: Final = 2**53 - 1

NAME_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
DEVICE_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)


class WireError(ValueError):
    """A topic or payload that breaks the contract; ``reason`` says what and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    room: str
    kind: str

    def __str__(self) -> str:
        return f"{ROOT}/{self.site}/{self.room}/{self.kind}"


def topic(site: str, room: str, kind: str) -> str:
    """``voyant/v1/<site>/<room>/<kind>``, refusing names that would escape their level."""
    for label, value in (("site", site), ("room", room)):
        if not _NAME.match(value):
            raise WireError(f"{label} {value!r}: expected letters, digits, '_' or '-'")
    if kind not in (*AGENT_KINDS, ACK):
        raise WireError(f"unknown topic kind {kind!r}")
    return f"{ROOT}/{site}/{room}/{kind}"


def parse_topic(text: str) -> Topic:
    """Split a received topic; raise :class:`WireError` if it is not ours."""
    parts = text.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != ROOT:
        raise WireError(f"topic {text[:200]!r}: expected {ROOT}/<site>/<room>/<kind>")
    site, room, kind = parts[2:]
    if not (_NAME.match(site) and _NAME.match(room)):
        raise WireError(f"topic {text[:200]!r}: bad site or room name")
    if kind not in (*AGENT_KINDS, ACK):
        raise WireError(f"topic {text[:200]!r}: unknown kind {kind[:40]!r}")
    return Topic(site, room, kind)


# -- payloads ---------------------------------------------------------------------------

Timestamp = Annotated[
    str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$", max_length=40)
]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Count = Annotated[int, Field(ge=0, le=MAX_SEQ)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
DeviceId = Annotated[str, Field(pattern=DEVICE_PATTERN)]
JournalId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
AlarmKindName = Annotated[str, Field(pattern=r"^[a-z_]{1,64}$")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class _FromDevice(_Payload):
    v: Literal[1]
    device: DeviceId
    site: Name
    room: Name


class ReadingItem(_Payload):
    """One dose-rate reading interval; ``calibration`` names the factor used."""

    seq: Seq
    run: Seq
    start: Timestamp
    end: Timestamp
    counts: Count
    seconds_covered: NonNegative
    cpm: NonNegative
    dose_usv: NonNegative
    mean_usv_h: NonNegative
    mean_sigma_usv_h: NonNegative
    max_usv_h: NonNegative
    max_sigma_usv_h: NonNegative
    saturated: bool
    calibration: ShortText
    frames: Count
    frames_lost: Count
    clock_synced: bool | None = None


class ExposureItem(_Payload):
    """The state of one exposure at an event: ``opened``, ``closed`` or ``interrupted``.

    ``(run, number)`` names the exposure within the device's journal; later
    events replace earlier ones. ``interrupted`` is an exposure the agent was
    running when it died, closed at its next start with what was known.
    """

    seq: Seq
    event: Literal["opened", "closed", "interrupted"]
    run: Seq
    number: Seq
    start: Timestamp
    end: Timestamp | None = None
    duration_s: NonNegative | None = None
    requested: bool
    resumed: bool = False
    procedure: Count | None = None
    pulses: Count | None = None
    doors_open: Annotated[list[ShortText], Field(max_length=32)] = []
    emission_light_ok: bool | None = None
    max_dose_rate_usv_h: NonNegative | None = None
    dose_usv: NonNegative | None = None
    saturated: bool | None = None
    alarms: Annotated[list[AlarmKindName], Field(max_length=32)] = []
    calibration: ShortText | None = None
    clock_synced: bool | None = None


class AlarmItem(_Payload):
    """The state of one alarm at an event: ``raised``, ``cleared`` or ``interrupted``."""

    seq: Seq
    event: Literal["raised", "cleared", "interrupted"]
    run: Seq
    number: Seq
    kind: AlarmKindName
    subject: ShortText | None = None
    at: Timestamp
    since: Timestamp
    cleared: Timestamp | None = None
    detail: Annotated[str, Field(max_length=1000)] = ""
    exposure: Seq | None = None
    clock_synced: bool | None = None


#: Every record item carries ``clock_synced``: whether the agent's system clock was
#: synchronised when it stamped the record's times (false if any of them was not; null or
#: absent when unknown, as from agents older than the field).
Item = ReadingItem | ExposureItem | AlarmItem


class _Batch(_FromDevice):
    journal: JournalId
    first: Seq
    last: Seq
    sent: Timestamp

    @model_validator(mode="after")
    def _consecutive(self) -> _Batch:
        items: list[Any] = getattr(self, "items")  # noqa: B009 (the subclass declares it)
        if not items:
            raise ValueError("items: a batch holds at least one record")
        if self.first != items[0].seq or self.last != items[-1].seq:
            raise ValueError(f"first/last ({self.first}, {self.last}) do not match the items")
        for before, after in itertools.pairwise(items):
            if after.seq != before.seq + 1:
                raise ValueError(f"items: seq {after.seq} does not follow {before.seq}")
        return self


class ReadingBatch(_Batch):
    kind: Literal["readings"]
    items: Annotated[list[ReadingItem], Field(max_length=MAX_BATCH)]


class ExposureBatch(_Batch):
    kind: Literal["exposures"]
    items: Annotated[list[ExposureItem], Field(max_length=MAX_BATCH)]


class AlarmBatch(_Batch):
    kind: Literal["alarms"]
    items: Annotated[list[AlarmItem], Field(max_length=MAX_BATCH)]


Batch = ReadingBatch | ExposureBatch | AlarmBatch


class Status(_FromDevice):
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


class ActiveAlarm(_Payload):
    kind: AlarmKindName
    subject: ShortText | None = None
    since: Timestamp


class Live(_FromDevice):
    """Retained live state, published on every change and every heartbeat (QoS 0)."""

    at: Timestamp
    inputs: Annotated[dict[Annotated[str, Field(max_length=64)], bool], Field(max_length=64)]
    alarms: Annotated[list[ActiveAlarm], Field(max_length=64)]
    exposure_open: bool
    dose_rate_usv_h: NonNegative | None = None
    calibration: ShortText | None = None
    interlock_open: bool | None = None
    outbox: Count = 0


class Ack(_Payload):
    """The hub holds every record of ``journal`` up to and including ``upto`` (0: none yet)."""

    v: Literal[1]
    device: DeviceId
    journal: JournalId
    upto: Count
    at: Timestamp


Message = Batch | Status | Live | Ack | float

_MODELS: Final[dict[str, type[_Payload]]] = {
    READINGS: ReadingBatch, EXPOSURES: ExposureBatch, ALARMS: AlarmBatch,
    STATUS: Status, LIVE: Live, ACK: Ack,
}


def decode(topic_text: str, payload: bytes) -> tuple[Topic, Message]:
    """Validate one received message against the contract.

    Raises :class:`WireError` whose reason names the first broken rule: the
    topic, the size, the encoding, the JSON, the schema version, or the field
    (as a dotted path) and what was expected.
    """
    where = parse_topic(topic_text)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if where.kind == DOSE_RATE:
        return where, _dose_rate(payload)
    model = _MODELS[where.kind]
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        version = _version(payload)  # the clearer reason first: encoding, JSON, version
        if version != SCHEMA_VERSION:
            raise WireError(
                f"unsupported schema version {version!r} (this side reads {SCHEMA_VERSION})"
            ) from None
        raise WireError(_describe(exc)) from None
    if isinstance(message, _FromDevice) and (message.site, message.room) != (
        where.site, where.room
    ):
        raise WireError(
            f"payload names {message.site}/{message.room}, topic is {where.site}/{where.room}"
        )
    if isinstance(message, _Batch) and getattr(message, "kind") != where.kind:  # noqa: B009
        raise WireError(f"kind {getattr(message, 'kind')!r} sent on a {where.kind} topic")  # noqa: B009
    return where, message  # type: ignore[return-value]


def _version(payload: bytes) -> object:
    """The ``v`` of a JSON object, read without trusting the rest of it."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise WireError("payload JSON is nested too deeply") from None
    except ValueError as exc:
        raise WireError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WireError(f"payload is a JSON {type(data).__name__}, expected an object")
    if "v" not in data:
        raise WireError("v: the schema version is missing")
    return data["v"]


def _dose_rate(payload: bytes) -> float:
    try:
        value = float(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("dose_rate: expected a plain decimal number of µSv/h") from None
    if not (0.0 <= value < 1e9):
        raise WireError(f"dose_rate: {value!r} is out of range")
    return value


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def dose_rate_payload(usv_h: float) -> bytes:
    """The plain retained value for dashboards: µSv/h with 4 significant digits."""
    return f"{usv_h:.4g}".encode()


def batch_payload(
    kind: str, device: str, site: str, room: str, journal: str, sent: str,
    items: list[dict[str, Any]],
) -> bytes:
    """A record batch, encoded without validation (the agent built the items itself).

    ``items`` are consecutive records (each a dict with its ``seq``) of ``kind``.
    """
    return json.dumps(
        {"v": SCHEMA_VERSION, "device": device, "site": site, "room": room, "journal": journal,
         "kind": kind, "first": items[0]["seq"], "last": items[-1]["seq"], "sent": sent,
         "items": items},
        separators=(",", ":"),
    ).encode()
