"""A message's decode, apart from the store: the contract's own functions, run anywhere.

What the core does with a message's bytes before it touches the store is a pure
function of the topic and the payload: the contract's ``decode_chain`` (record
batches: each record validated on its own) or ``decode``, and each record's
:class:`~hub.chain.arrival.Arrived` (its canonical bytes and hash: a quarter of the
writer's time per reading). :func:`decode_message` is the core's only decode path.

The service may have a worker process on the second core run :func:`arrivals_all` for
a batch while the single writer stores the batch before: the worker decodes each
message the same way and sends back only its records' arrivals, as plain tuples
(validated models would cost more to send than to make again). The writer then
validates the message itself and takes the arrivals instead of making them. Both
sides run the same functions over the same bytes, so whichever made the arrivals the
store holds the same (``tests/test_fast_decode.py`` compares both paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.chain.arrival import Arrived
from wire.contract import RECORD_KINDS, Message, Topic, WireError, decode, decode_chain

#: An arrival as sent back by the worker: (seq, kind, hash, prev, body).
Sent = tuple[int, str, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message decoded (``where``, ``message``) or refused (``error``, the reason stored)."""

    where: Topic | None
    message: Message | tuple[Any, ...] | None
    #: Each record's arrival by seq (record batches), as the intake would make it; None
    #: when asked not to make them (the worker made them) or for other messages.
    arrived: dict[int, Arrived] | None
    error: str | None


def decode_message(topic_text: str, payload: bytes, *, arrived: bool = True) -> Decoded:
    """The contract's decision on one message; never raises (a bug in the contract is an
    ``undecodable`` refusal, as a hostile payload must not stop the ingest)."""
    try:
        if topic_text.rsplit("/", 1)[-1] in RECORD_KINDS:
            chain = decode_chain(topic_text, payload)  # each record also as sent
            made = arrivals(chain.envelope.kind, chain.records, chain.raws) if arrived else None
            return Decoded(chain.topic, (chain.envelope, chain.records, chain.raws), made, None)
        where, message = decode(topic_text, payload)
        return Decoded(where, message, None, None)
    except WireError as exc:
        return Decoded(None, None, None, exc.reason)
    except Exception as exc:  # a bug in the contract must not stop ingest
        return Decoded(None, None, None, f"undecodable: {type(exc).__name__}")


def arrivals(kind: str, records: list[Any], raws: list[Any]) -> dict[int, Arrived]:
    """Each record's :class:`Arrived` by seq, from the raw record of that seq (the last one
    when a batch repeats a seq, as the intake's ``raw_of``)."""
    raw_of = {record.seq: raw for record, raw in zip(records, raws, strict=False)}
    return {record.seq: Arrived.of(record.seq, kind, raw_of.get(record.seq, {}))
            for record in records}


def arrivals_all(messages: list[tuple[str, bytes]]) -> list[list[Sent] | None]:
    """In the worker process: each message's arrivals (None: refused, or not records)."""
    out: list[list[Sent] | None] = []
    for topic_text, payload in messages:
        made = decode_message(topic_text, payload).arrived
        out.append(None if made is None else
                   [(a.seq, a.kind, a.hash, a.prev, a.body) for a in made.values()])
    return out


def received(sent: list[Sent] | None) -> dict[int, Arrived] | None:
    """The worker's arrivals of one message, as the intake takes them."""
    return None if sent is None else {t[0]: Arrived(*t) for t in sent}
