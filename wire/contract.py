"""The wire contract between a room's agent and the hub: topics, payloads, QoS, retention.

Both sides import this module and nothing else about each other (pydantic only), so
that a change to the contract is one change, checked by both sides' tests and by
``docs/protocol.md``'s.

Evidence (readings, exposures, alarms, input changes) travels as *record
batches* at QoS 1 from the agent's journal outbox. Every record carries a
per-device sequence number that the journal keeps across restarts, and the
hash of the record before it (:mod:`wire.chain`); a batch holds records of
one kind, in increasing order. Input changes travel on the ``exposures`` topic
with ``"kind": "changes"`` (:data:`RECORD_TOPIC`), which every deployed broker
ACL already allows. The hub acknowledges, per device and journal, the highest
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

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from wire.encode import batch_from_json, batch_payload, dose_rate_payload
from wire.errors import VoyantError
from wire.logs import writable
from wire.records import (
    DEVICE_PATTERN,
    ITEM_MODELS,
    MAX_SEQ,
    NAME_PATTERN,
    SCHEMA_VERSION,
    AlarmItem,
    AlarmKindName,
    ChangeItem,
    Count,
    DeviceId,
    DoseRate,
    ExposureItem,
    FromDevice,
    Item,
    JournalId,
    Name,
    ReadingItem,
    Seq,
    ShortText,
    Timestamp,
)
from wire.records import Payload as _Payload
from wire.settings import summarize_errors
from wire.states import Ack, ActiveAlarm, HeldAlarm, Live, Status

__all__ = [
    "ACK", "AGENT_KINDS", "ALARMS", "CHANGES", "DEVICE_PATTERN", "DOSE_RATE", "EXPOSURES",
    "HUB_SUBSCRIPTION", "ITEM_KINDS", "ITEM_MODELS", "LIVE", "MAX_BATCH", "MAX_PAYLOAD_BYTES",
    "MAX_SEQ", "NAME_PATTERN", "QOS", "READINGS", "RECORD_KINDS", "RECORD_TOPIC", "RETAIN",
    "ROOT", "SCHEMA_VERSION", "STATUS", "WINDOW", "Ack", "ActiveAlarm", "AlarmBatch",
    "AlarmItem", "AlarmKindName", "Batch", "ChangeBatch", "ChangeItem", "Count", "Decoded",
    "DeviceId", "DoseRate", "Envelope", "ExposureBatch", "ExposureItem", "HeldAlarm", "Item",
    "JournalId", "Live", "Message", "Name", "ReadingBatch", "ReadingItem", "Record",
    "RecordEnvelope", "RefusedItem", "Seq", "ShortText", "Status", "Timestamp", "Topic",
    "WireError", "batch_from_json", "batch_payload", "decode", "decode_chain",
    "dose_rate_payload", "parse_topic", "topic",
]

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

#: The record topics (the hub acknowledges per journal, whatever the topic).
RECORD_KINDS: Final = (READINGS, EXPOSURES, ALARMS)
#: A batch of input changes says ``"kind": "changes"`` and travels on the exposures topic.
CHANGES: Final = "changes"
#: Every kind of record a batch may hold, and the topic it travels on.
RECORD_TOPIC: Final = {READINGS: READINGS, EXPOSURES: EXPOSURES, ALARMS: ALARMS,
                       CHANGES: EXPOSURES}
ITEM_KINDS: Final = tuple(RECORD_TOPIC)
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
#: Most records an agent has sent and not yet seen acknowledged (its outbox window). The
#: hub relies on it: a sequence number further than this beyond what it holds is no resend.
WINDOW: Final = 5000

_NAME = re.compile(NAME_PATTERN)


class WireError(VoyantError, ValueError):
    """A topic or payload that breaks the contract; ``reason`` says what and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    room: str
    kind: str

    def __reduce__(self) -> tuple[type[Topic], tuple[str, str, str]]:
        """Pickled as its fields: the hub's decode worker sends one back per message, and a
        slotted dataclass's own way costs ten times more."""
        return Topic, (self.site, self.room, self.kind)

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


class _Envelope(FromDevice):
    """What every record batch carries besides its items. ``oldest`` (optional) is the oldest
    seq the agent still holds: what the hub lacks below it is lost, declared once."""

    journal: JournalId
    first: Seq
    last: Seq
    sent: Timestamp
    oldest: Seq | None = None

    @model_validator(mode="after")
    def _holds_what_it_sends(self) -> _Envelope:
        if self.oldest is not None and self.oldest > self.first:
            raise ValueError(f"oldest {self.oldest} is after the first record sent "
                             f"({self.first}): an agent holds what it sends")
        return self


class _Batch(_Envelope):
    @model_validator(mode="after")
    def _increasing(self) -> _Batch:
        items: list[Any] = getattr(self, "items")  # noqa: B009 (the subclass declares it)
        _check_seqs(self.first, self.last, [item.seq for item in items])
        return self


def _check_seqs(first: int, last: int, seqs: list[int]) -> None:
    """A batch's records go up; a hole between two is a record of another kind."""
    if not seqs:
        raise ValueError("items: a batch holds at least one record")
    if first != seqs[0] or last != seqs[-1]:
        raise ValueError(f"first/last ({first}, {last}) do not match the items")
    for before, after in itertools.pairwise(seqs):
        if after <= before:
            raise ValueError(f"items: seq {after} does not follow {before}")


class RecordEnvelope(_Envelope):
    """A batch whose items are still raw: the hub validates each record on its own, so that
    one bad record is quarantined alone and never blocks the ones after it."""

    kind: Literal["readings", "exposures", "alarms", "changes"]
    items: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH)]


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """A record of a batch that breaks the contract: its number, what is wrong, itself whole."""

    seq: int
    reason: str
    raw: dict[str, Any]


class ReadingBatch(_Batch):
    kind: Literal["readings"]
    items: Annotated[list[ReadingItem], Field(max_length=MAX_BATCH)]


class ExposureBatch(_Batch):
    kind: Literal["exposures"]
    items: Annotated[list[ExposureItem], Field(max_length=MAX_BATCH)]


class AlarmBatch(_Batch):
    kind: Literal["alarms"]
    items: Annotated[list[AlarmItem], Field(max_length=MAX_BATCH)]


class ChangeBatch(_Batch):
    kind: Literal["changes"]
    items: Annotated[list[ChangeItem], Field(max_length=MAX_BATCH)]


Batch = ReadingBatch | ExposureBatch | AlarmBatch | ChangeBatch


Message = Batch | Status | Live | Ack | float

_MODELS: Final[dict[str, type[_Payload]]] = {
    READINGS: ReadingBatch, EXPOSURES: ExposureBatch, ALARMS: AlarmBatch,
    STATUS: Status, LIVE: Live, ACK: Ack,
}
#: What a record topic may carry, told apart by the batch's ``kind``.
_TOPIC_BATCHES: Final[dict[str, TypeAdapter[Any]]] = {
    READINGS: TypeAdapter(ReadingBatch), ALARMS: TypeAdapter(AlarmBatch),
    EXPOSURES: TypeAdapter(Annotated[ExposureBatch | ChangeBatch, Field(discriminator="kind")]),
}


def decode(topic_text: str, payload: bytes) -> tuple[Topic, Message]:
    """Validate one received message against the contract, whole.

    Raises :class:`WireError` whose reason names the first broken rule: the
    topic, the size, the encoding, the JSON, the schema version, or the field
    (as a dotted path) and what was expected. The hub reads record batches with
    :func:`decode_chain` instead, record by record.
    """
    where = _where(topic_text, payload)
    if where.kind == DOSE_RATE:
        return where, _dose_rate(payload)
    try:
        adapter = _TOPIC_BATCHES.get(where.kind)
        message = (adapter.validate_json(payload) if adapter is not None
                   else _MODELS[where.kind].model_validate_json(payload))
    except ValidationError as exc:
        _check_version(payload)  # the clearer reason first: encoding, JSON, version
        raise WireError(summarize_errors(exc)) from None
    _check_matches(where, message)
    return where, message  # type: ignore[return-value]


Record = ReadingItem | ExposureItem | AlarmItem | ChangeItem


Envelope = RecordEnvelope | ReadingBatch | ExposureBatch | AlarmBatch | ChangeBatch


@dataclass(frozen=True, slots=True)
class Decoded:
    """A batch read record by record: each valid or refused, and each as sent (hashed)."""

    topic: Topic
    envelope: Envelope
    records: list[Record | RefusedItem]
    raws: list[dict[str, Any]]


def decode_chain(topic_text: str, payload: bytes) -> Decoded:
    """A record batch checked record by record: each valid or refused, and each as sent.

    The envelope (who, which journal, increasing sequence numbers) must hold,
    or the whole message is refused with :class:`WireError`: a record that
    cannot be attributed to a (device, journal, seq) cannot be quarantined.
    Within a sound envelope, each record is validated on its own.
    """
    where = _where(topic_text, payload)
    if where.kind not in RECORD_KINDS:
        raise WireError(f"{where.kind} is not a record topic")
    data = _check_version(payload)
    try:  # the usual case, every record sound: one validation of the whole batch
        whole = _TOPIC_BATCHES[where.kind].validate_json(payload)
    except ValidationError:
        pass
    else:
        _check_matches(where, whole)
        return Decoded(where, whole, list(whole.items), data["items"])
    try:
        envelope = RecordEnvelope.model_validate(data)
    except ValidationError as exc:
        raise WireError(summarize_errors(exc)) from None
    _check_matches(where, envelope)
    seqs = [_raw_seq(i, item) for i, item in enumerate(envelope.items)]
    try:
        _check_seqs(envelope.first, envelope.last, seqs)
    except ValueError as exc:
        raise WireError(str(exc)) from None
    model = ITEM_MODELS[envelope.kind]
    out: list[Record | RefusedItem] = []
    for seq, raw in zip(seqs, envelope.items, strict=True):
        try:
            out.append(model.model_validate_json(_json(raw)))
        except (ValidationError, ValueError) as exc:
            reason = (summarize_errors(exc) if isinstance(exc, ValidationError)
                      else writable(str(exc)))
            out.append(RefusedItem(seq, reason, raw))
    return Decoded(where, envelope, out, envelope.items)


def _raw_seq(index: int, item: dict[str, Any]) -> int:
    seq = item.get("seq")
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise WireError(f"items.{index}.seq: expected a sequence number 1..{MAX_SEQ}")
    return seq


def _json(raw: dict[str, Any]) -> str:
    """A raw record as JSON again (NaN and infinities as written, for the model to refuse)."""
    try:
        return json.dumps(raw, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"record is not plain JSON: {exc}") from None


def _where(topic_text: str, payload: bytes) -> Topic:
    where = parse_topic(topic_text)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return where


def _check_matches(where: Topic, message: _Payload) -> None:
    if isinstance(message, FromDevice) and (message.site, message.room) != (
        where.site, where.room
    ):
        raise WireError(
            f"payload names {message.site}/{message.room}, topic is {where.site}/{where.room}"
        )
    kind = getattr(message, "kind", None)
    if isinstance(message, _Envelope) and RECORD_TOPIC.get(str(kind)) != where.kind:
        raise WireError(f"kind {kind!r} sent on a {where.kind} topic")


def _check_version(payload: bytes) -> dict[str, Any]:
    data = _object(payload)
    if data["v"] != SCHEMA_VERSION:
        raise WireError(
            f"unsupported schema version {data['v']!r} (this side reads {SCHEMA_VERSION})"
        )
    return data


def _object(payload: bytes) -> dict[str, Any]:
    """A JSON object with a ``v``, read without trusting the rest of it."""
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
    return data


def _dose_rate(payload: bytes) -> float:
    try:
        value = float(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("dose_rate: expected a plain decimal number of µSv/h") from None
    if not (0.0 <= value < 1e9):
        raise WireError(f"dose_rate: {value!r} is out of range")
    return value
