"""The worker's whole decode (validated models sent back, issue 18 item 2): it accepts and
refuses exactly what the contract does, and a core fed it stores what a core decoding every
message itself stores, the worker's share of a batch whatever it is.

:func:`~hub.ingest.predecode.decode_all` runs in the decode worker; its results travel
back pickled, and the writer then no longer validates those messages. A message the gate
refuses after the worker decoded it is decoded again by the writer for its quarantine (the
records as sent are not sent back): the hostile devices' messages cover that path.
"""

from __future__ import annotations

import pickle
import time

from hypothesis import HealthCheck, given, settings

from hub.db.store import Store
from hub.ingest.decoder import DecodePool
from hub.ingest.predecode import Made, arrivals, decode_all, received
from hub.ingest.runs import head_of, run_of
from tests import hub_factory as hf
from tests.test_fast_decode import Msg, batches, contract, hostile, table_rows


def travelled(messages: list[Msg]) -> list[Made | None]:
    made: list[Made | None] = pickle.loads(pickle.dumps(decode_all(messages)))
    return made


def test_the_whole_decode_is_the_contracts() -> None:
    messages = hostile()
    made_count = runs = 0
    for message, made in zip(messages, travelled(messages), strict=True):
        verdict, found = contract(*message)
        if verdict == "ok" and len(found) == 4:
            where, envelope, records, raws = found
            assert made is not None, message[1][:300]
            run = run_of(envelope, records, raws)
            if run is not None:  # a run of readings: its rows, made from the contract's
                assert repr(made) == repr((where, head_of(envelope), run)), message[1][:300]
                runs += 1
            else:
                assert repr(made[:3]) == repr((where, envelope, records)), message[1][:300]
                assert received(made[3]) == arrivals(  # type: ignore[misc]
                    envelope.kind, records, raws)
            made_count += 1
        else:
            assert made is None, message[1][:300]
    assert made_count >= len(messages) // 2
    assert 0 < runs < made_count  # both forms sent back


def test_a_core_fed_the_whole_decode_stores_the_same_over_hostile_devices() -> None:
    messages = hostile()
    mine, theirs = Store.open(":memory:"), Store.open(":memory:")
    try:
        now = time.time()
        acks_mine = hf.core(mine, now).handle_batch(messages, now)
        acks_theirs = hf.core(theirs, now).handle_batch(messages, now, travelled(messages))
        assert hf.acked(acks_mine) == hf.acked(acks_theirs)
        assert table_rows(mine) == table_rows(theirs)
        assert table_rows(mine)["quarantine"]  # the refused-after-decode path was taken
    finally:
        mine.close()
        theirs.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_store_holds_the_same_whatever_the_workers_share(messages: list[Msg]) -> None:
    stores = [Store.open(":memory:") for _ in range(3)]
    try:
        half = len(messages) // 2
        fed = [None, travelled(messages),
               [*travelled(messages[:half]), *[None] * (len(messages) - half)]]
        acks = [hf.core(store).handle_batch(messages, hf.T0 + 100, pre)
                for store, pre in zip(stores, fed, strict=True)]
        assert hf.acked(acks[0]) == hf.acked(acks[1]) == hf.acked(acks[2])
        assert table_rows(stores[0]) == table_rows(stores[1]) == table_rows(stores[2])
    finally:
        for store in stores:
            store.close()


def test_the_real_worker_takes_the_end_of_a_batch_and_the_hub_its_first_messages() -> None:
    """The worker's share is the batch's end (:class:`hub.ingest.decoder.Share`); the first
    messages are the writer's, or decoded by the hub's thread once prefetched: each part
    as :func:`decode_all` makes it."""
    messages = [hf.readings(1, 3), hf.readings(4, 6), hf.readings(7, 9), hf.readings(10, 12)]
    pool = DecodePool(workers=1, min_messages=1, models=True)
    try:
        assert pool.submit(messages) is None  # the first starts the worker
        assert pool._warm is not None
        pool._warm.result(timeout=30.0)
        pool.share = 0.5
        share = pool.submit(messages)
        assert share is not None and share.first == 2 and len(share) == 4
        assert [share[0], share[1]] == [None, None]  # the writer's: nothing prefetched
        assert repr(share[2:]) == repr(travelled(messages[2:]))
        again = pool.submit(messages)
        assert again is not None
        again.prefetch()
        assert repr(list(again)) == repr(travelled(messages))
    finally:
        pool.close()
