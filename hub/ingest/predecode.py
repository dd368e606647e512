"""A message's decode, apart from the store: the contract's own functions, run anywhere.

What the core does with a message's bytes before it touches the store is a pure
function of the topic and the payload: the contract's ``decode_chain`` (record
batches: each record validated on its own) or ``decode``, and each record's
:class:`~hub.chain.arrival.Arrived` (its canonical bytes and hash: a quarter of the
writer's time per reading). :func:`decode_message` is the core's only decode path.

The service has a worker process on the second core run :func:`decode_all` for a
share of a batch while the single writer stores the batch before: the worker decodes
each message the same way and sends back a run of readings' rows (:mod:`hub.ingest.runs`)
or else the contract's validated models and each record's arrival (:data:`Made`), which
the writer takes (:func:`take`) instead of decoding; :func:`arrivals_all` sends the
arrivals only. Both sides run the same
functions over the same bytes, so the store holds the same whichever side decoded
(``tests/test_fast_decode.py``, ``tests/test_fast_decode_models.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.chain.arrival import Arrived
from hub.ingest.chain_read import read_chain
from hub.ingest.runs import Head, Redo, Run, head_of, run_of
from wire.contract import RECORD_KINDS, Message, Topic, WireError, decode, decode_chain

#: An arrival as sent back by the worker: (seq, kind, hash, prev, body).
Sent = tuple[int, str, str | None, str | None, str | None]
#: A record batch the worker validated, as it sends it back: (topic, what the writer reads
#: of the envelope, run) for a run of readings (:mod:`hub.ingest.runs`: rows ready for the
#: INSERTs, plain tuples that unpickle far faster than models), else (topic, envelope,
#: records, arrivals): unpickling the contract's models costs the writer a third of
#: validating them.
Made = tuple[Topic, Head, Run] | tuple[Topic, Any, list[Any], list[Sent]]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message decoded (``where``, ``message``) or refused (``error``, the reason stored)."""

    where: Topic | None
    message: Message | tuple[Any, ...] | None
    #: Each record's arrival by seq (record batches), as the intake would make it; None
    #: when asked not to make them (the worker made them) or for other messages.
    arrived: dict[int, Arrived] | None
    error: str | None
    #: Validated by the worker: the records as sent (``raws``) were not sent back.
    by_worker: bool = False
    #: The worker's run of readings (the message's records then not sent back either).
    run: Run | None = None


def decode_message(topic_text: str, payload: bytes, *, arrived: bool = True,
                   chain_of: Callable[[str, bytes], Any] = decode_chain) -> Decoded:
    """The contract's decision on one message; never raises (a bug in the contract is an
    ``undecodable`` refusal, as a hostile payload must not stop the ingest). ``chain_of``:
    the contract's ``decode_chain`` as the caller's module names it (tests stand in for it)."""
    try:
        if topic_text.rsplit("/", 1)[-1] in RECORD_KINDS:
            chain = chain_of(topic_text, payload)  # each record also as sent
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


def decode_all(messages: list[tuple[str, bytes]]) -> list[Made | None]:
    """In the worker process: each record batch the contract accepts, as :func:`decode_message`
    made it (None: refused, or not records: the writer decodes that message itself), the
    contract's ``decode_chain`` read the faster way (:func:`~hub.ingest.chain_read.read_chain`,
    the same answer)."""
    out: list[Made | None] = []
    for topic_text, payload in messages:
        found = decode_message(topic_text, payload, arrived=False, chain_of=read_chain)
        if found.error is not None or not isinstance(found.message, tuple) or found.where is None:
            out.append(None)
            continue
        envelope, records, raws = found.message
        run = run_of(envelope, records, raws)
        if run is not None:
            out.append((found.where, head_of(envelope), run))
            continue
        made = arrivals(envelope.kind, records, raws)
        out.append((found.where, envelope, list(records),
                    [(a.seq, a.kind, a.hash, a.prev, a.body) for a in made.values()]))
    return out


def take(topic_text: str, payload: bytes, pre: list[Sent] | Made | None, made: bool,
         chain_of: Callable[[str, bytes], Any] = decode_chain) -> Decoded:
    """The core's decode of one message: the worker's whole decode (``Made``), or the
    writer's own with the worker's arrivals (``made``: a list, or None for the writer's),
    or the writer's own."""
    if isinstance(pre, tuple):
        if len(pre) == 3:
            return Decoded(pre[0], (pre[1], [], []), None, None, by_worker=True, run=pre[2])
        where, envelope, records, sent = pre
        return Decoded(where, (envelope, records, []), received(sent), None, by_worker=True)
    if not made:  # each record's arrival made by the intake, unless stored as a run
        return decode_message(topic_text, payload, arrived=False, chain_of=chain_of)
    found = decode_message(topic_text, payload, arrived=False, chain_of=chain_of)
    return Decoded(found.where, found.message, received(pre), found.error)


def received(sent: list[Sent] | None) -> dict[int, Arrived] | None:
    """The worker's arrivals of one message, as the intake takes them."""
    return None if sent is None else {t[0]: Arrived(*t) for t in sent}


def redo_of(topic_text: str, payload: bytes,
            chain_of: Callable[[str, bytes], Any] = decode_chain) -> Redo:
    """The records of a run made elsewhere, decoded again should the run not fit the
    journal when it is stored (a resend, an overlap): the record-by-record path."""
    def redo() -> tuple[list[Any], list[Any], dict[int, Arrived] | None]:
        again = decode_message(topic_text, payload, chain_of=chain_of)
        if not isinstance(again.message, tuple):
            raise TypeError(f"{topic_text}: a run's records no longer decode")
        _, records, raws = again.message
        return list(records), list(raws), again.arrived
    return redo


def body_of(message: Message | tuple[Any, ...]) -> Any:
    """A message's own fields: a record batch's envelope (or head), or the message."""
    return message[0] if isinstance(message, tuple) else message
