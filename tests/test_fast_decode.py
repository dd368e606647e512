"""The decode paths accept and refuse exactly what the contract does, and the store holds
the same whichever path made a batch's arrivals (issue 18 item 2).

The core decodes through :func:`hub.ingest.predecode.decode_message`; the decode worker
(:mod:`hub.ingest.decoder`) runs :func:`~hub.ingest.predecode.arrivals_all` in another
process and sends back each record's arrival (canonical bytes, hash) as tuples. So: the
core's decode decides as the contract's own ``decode``/``decode_chain`` (same acceptance,
same reason, same models), and the real worker, over the hostile payloads and malformed
bytes, sends arrivals for exactly the record batches the contract accepts, equal to those
made from the contract's own reading of the records; and two cores, one making its
arrivals and one fed the worker's (pickled and back), store the same rows and send the
same acks, over batches drawn from the contract's bounds.
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.db.store import Store
from hub.ingest.decoder import DecodePool
from hub.ingest.predecode import Decoded, Sent, arrivals, arrivals_all, decode_message, received
from tests import hostile_payloads as hp
from tests import hub_factory as hf
from tests.contract_strategies import record
from wire.contract import (
    ALARMS,
    EXPOSURES,
    READINGS,
    RECORD_KINDS,
    AlarmItem,
    ExposureItem,
    ReadingItem,
    WireError,
    decode,
    decode_chain,
    topic,
)

Msg = tuple[str, bytes]
TABLES = ("received", "readings", "exposures", "alarms", "changes", "quarantine", "rejected",
          "events", "journals", "devices", "counters")


def contract(topic_text: str, payload: bytes) -> tuple[str, Any]:
    """The contract's own decision: ("ok", what it decoded) or ("refused", its reason)."""
    try:
        if topic_text.rsplit("/", 1)[-1] in RECORD_KINDS:
            chain = decode_chain(topic_text, payload)
            return "ok", (chain.topic, chain.envelope, chain.records, chain.raws)
        return "ok", decode(topic_text, payload)
    except WireError as exc:
        return "refused", exc.reason
    except Exception as exc:
        return "refused", f"undecodable: {type(exc).__name__}"


def decision(found: Decoded) -> tuple[str, Any]:
    if found.error is not None:
        return "refused", found.error
    assert found.where is not None
    if isinstance(found.message, tuple):
        envelope, records, raws = found.message
        return "ok", (found.where, envelope, records, raws)
    return "ok", (found.where, found.message)


def malformed() -> list[Msg]:
    """Bytes no agent sends: not JSON, not UTF-8, NaN, deep nesting, wrong shapes."""
    where = topic(hf.SITE, hf.ROOM, READINGS)
    good = json.loads(hf.readings(1, 2)[1])
    nan = dict(good, items=[dict(good["items"][0], cpm=math.nan)])
    return [(where, b""), (where, b"{"), (where, b"\xff\xfe"), (where, b"[]"),
            (where, b"null"), (where, json.dumps(nan).encode()),
            (where, b'{"items":' + b"[" * 5000 + b"]" * 5000 + b"}"),
            (where, json.dumps(dict(good, items=good["items"] * 2)).encode()),
            (where, json.dumps(dict(good, v=99)).encode()),
            (f"voyant/v1/{hf.SITE}/{hf.ROOM}/nonsense", b"{}"), ("voyant/v1/x", b"{}"),
            (topic(hf.SITE, hf.ROOM, ALARMS), hf.readings(1, 1)[1]),
            hf.status("online", hf.T0), hf.live(hf.T0)]


def hostile() -> list[Msg]:
    now = time.time()
    sent = [*hp.forged("b2" * 16, now).messages, *hp.rewrites("b2" * 16, now).messages,
            *hp.ghosts(now).messages, *hp.unprovisioned(now).messages,
            *hp.extremes(now, draws=12).messages, hp.held_alarm_of_year_9999(now)]
    return sent + malformed()


async def through_worker(messages: list[Msg]) -> list[list[list[Sent] | None] | None]:
    """Each message in a batch of its own, through a real worker process (None: its answer
    could not come back)."""
    pool = DecodePool(workers=1, min_messages=1)
    try:
        assert pool.submit(messages[:1]) is None  # the first starts the worker
        if pool._warm is not None:  # the worker started: its first answer
            await asyncio.wait_for(asyncio.wrap_future(pool._warm), 30.0)
        out: list[list[list[Sent] | None] | None] = []
        for message in messages:
            share = pool.submit([message])
            assert share is not None and share.first == 0  # a batch of one: the worker's
            try:
                out.append(await asyncio.wait_for(asyncio.wrap_future(share.tail), 30.0))
            except Exception:
                out.append(None)
        return out
    finally:
        pool.close()


def test_the_core_decides_as_the_contract() -> None:
    refused = 0
    for message in hostile():
        found = decode_message(*message)
        # repr: NaN in a refused record's raw form is itself, never equal to itself
        assert repr(decision(found)) == repr(contract(*message)), message[1][:300]
        assert repr(decision(decode_message(*message, arrived=False))) == repr(decision(found))
        refused += found.error is not None
    assert refused >= len(malformed()) - 2  # the status and live messages are valid


def test_the_worker_sends_the_arrivals_of_what_the_contract_accepts() -> None:
    messages = hostile()
    results = asyncio.run(through_worker(messages))
    sent_back = 0
    for message, result in zip(messages, results, strict=True):
        if result is None:  # could not travel back: the writer makes them
            continue
        (sent,) = result
        verdict, found = contract(*message)
        if verdict == "ok" and len(found) == 4:  # a record batch: its arrivals
            _, envelope, records, raws = found
            assert received(sent) == arrivals(envelope.kind, records, raws), message[1][:300]
            sent_back += 1
        else:
            assert sent is None, message[1][:300]
    assert sent_back >= len(messages) // 2


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {name: sorted(map(tuple, store.conn.execute(f"SELECT * FROM {name}").fetchall()),
                         key=repr) for name in TABLES}


def spoilt(items: list[dict[str, Any]], field: str, value: Any) -> list[dict[str, Any]]:
    return [dict(item, **{field: value}) if i % 3 == 1 else item for i, item in
            enumerate(items)]


@st.composite
def batches(draw: st.DrawFn) -> list[Msg]:
    out: list[Msg] = []
    seq = 1
    for kind, model in ((READINGS, ReadingItem), (EXPOSURES, ExposureItem), (ALARMS, AlarmItem)):
        items = draw(st.lists(record(model, hf.T0), min_size=1, max_size=4))
        for item in items:
            item["seq"], seq = seq, seq + 1
        if draw(st.booleans()):
            items = spoilt(items, draw(st.sampled_from(sorted(items[0]))),
                           draw(st.sampled_from([None, -1, "x", 1e308, [], {}])))
        out.append(hf.batch(kind, items))
    out.append(hf.readings(seq, seq + draw(st.integers(0, 5))))
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_store_holds_the_same_whichever_path_decoded(messages: list[Msg]) -> None:
    mine, theirs = Store.open(":memory:"), Store.open(":memory:")
    try:
        acks_mine = hf.core(mine).handle_batch(messages, hf.T0 + 100)
        worked = pickle.loads(pickle.dumps(arrivals_all(messages)))
        acks_theirs = hf.core(theirs).handle_batch(messages, hf.T0 + 100, worked)
        assert hf.acked(acks_mine) == hf.acked(acks_theirs)
        assert table_rows(mine) == table_rows(theirs)
    finally:
        mine.close()
        theirs.close()
