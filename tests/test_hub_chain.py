"""The hub's side of the hash chain as records arrive: each record kept as received,
conflicting copies and broken links found from both sides, change records stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.chain.arrival import Arrived
from hub.chain.verify import verify
from hub.db.store import Store
from hub.ingest import core as core_module
from hub.ingest.core import IngestCore
from hub.ingest.quarantine import replay
from hub.timefmt import iso
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    ROOM,
    SITE,
    T0,
    acked,
    alarm,
    core,
    exposure,
    live,
    open_store,
    reading,
)
from wire.chain import GENESIS, canonical, record_hash
from wire.contract import RECORD_TOPIC, ChangeItem, batch_payload, topic
from wire.encode import batch_from_json


def change(seq: int, signal: str = "door.corridor", value: bool = True,
           **fields: Any) -> dict[str, Any]:
    at = iso(T0 + seq)
    return ChangeItem.model_validate(dict(seq=seq, run=1, signal=signal, value=value,
                                          first=at, last=at, count=1, **fields)
                                     ).model_dump(mode="json")


def chained(items: list[dict[str, Any]], prev: str | None = GENESIS) -> list[dict[str, Any]]:
    """The items as an agent with the chain sends them: each with the hash of the one
    before as ``prev``."""
    out = []
    for item in items:
        item = {**item, "prev": prev}
        out.append(item)
        prev = record_hash(item)
    return out


def send(kind: str, items: list[dict[str, Any]], oldest: int | None = None
         ) -> tuple[str, bytes]:
    """A batch on its kind's topic (changes travel on the exposures topic)."""
    return (topic(SITE, ROOM, RECORD_TOPIC[kind]),
            batch_payload(kind, DEVICE, SITE, ROOM, JOURNAL, iso(T0 + 100), items, oldest))


def mixed() -> list[dict[str, Any]]:
    """Seqs 1..8 of every kind, chained from GENESIS."""
    return chained([reading(1), reading(2), reading(3), change(4),
                    change(5, "emission", True), exposure(6, 1, "opened"),
                    alarm(7, 1, "raised"), reading(8)])


KINDS = ["readings"] * 3 + ["changes"] * 2 + ["exposures", "alarms", "readings"]


def send_all(hub: IngestCore, items: list[dict[str, Any]], now: float = T0) -> None:
    """Each run of one kind as one batch, in order."""
    run: list[dict[str, Any]] = []
    kinds = KINDS[items[0]["seq"] - 1:]
    run_kind = kinds[0]
    for item, kind in zip(items, kinds, strict=False):
        if run and kind != run_kind:
            hub.handle_batch([send(run_kind, run)], now)
            run = []
        run_kind = kind
        run.append(item)
    hub.handle_batch([send(run_kind, run)], now)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def hub(store: Store) -> IngestCore:
    return core(store)


def table(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(sql, params)]


def events(store: Store, kind: str) -> list[dict[str, Any]]:
    return [{"ref": ref, **json.loads(detail)} for ref, detail in store.conn.execute(
        "SELECT ref, detail FROM events WHERE kind = ? ORDER BY id", (kind,))]


def test_every_record_is_kept_as_received_with_its_hash(hub: IngestCore, store: Store) -> None:
    items = mixed()
    send_all(hub, items)
    assert hub.upto(DEVICE, JOURNAL) == 8
    kept = table(store, "SELECT seq, kind, hash, prev, body FROM received ORDER BY seq")
    assert kept == [(i["seq"], k, record_hash(i), i["prev"], canonical(i).decode())
                    for i, k in zip(items, KINDS, strict=True)]
    assert table(store, "SELECT seq, signal, value, first, count, origin FROM changes"
                 " ORDER BY seq") == [(4, "door.corridor", 1, iso(T0 + 4), 1, "edge"),
                                      (5, "emission", 1, iso(T0 + 5), 1, "edge")]
    assert hub.stats()["changes_stored"] == 2 and hub.stats()["readings_stored"] == 4
    assert table(store, "SELECT * FROM chain_breaks") == []
    assert table(store, "SELECT * FROM record_conflicts") == []


def test_a_copy_sent_again_with_other_content_is_a_conflict_never_stored(
        hub: IngestCore, store: Store) -> None:
    items = chained([reading(s) for s in range(1, 4)])
    hub.handle_batch([send("readings", items)], T0)
    stored = table(store, "SELECT * FROM readings WHERE seq = 2")
    hub.handle_batch([send("readings", items)], T0 + 1)  # the same copy: a duplicate only
    assert table(store, "SELECT * FROM record_conflicts") == []
    altered = [*items[:1], {**items[1], "counts": 13}, items[2]]
    acks = hub.handle_batch([send("readings", altered)], T0 + 2)
    assert acked(acks) == [(DEVICE, JOURNAL, 3)]  # acknowledged as before
    [row] = table(store, "SELECT seq, kind, hash, stored_hash, body FROM record_conflicts")
    assert row == (2, "readings", record_hash(altered[1]), record_hash(items[1]),
                   canonical(altered[1]).decode())
    assert table(store, "SELECT * FROM readings WHERE seq = 2") == stored
    assert table(store, "SELECT hash FROM received WHERE seq = 2") == [(record_hash(items[1]),)]
    hub.handle_batch([send("readings", altered)], T0 + 3)  # that copy again: known
    again = [*items[:1], {**items[1], "counts": 14}, items[2]]
    hub.handle_batch([send("readings", again)], T0 + 4)
    [event] = events(store, "record_conflict")
    assert (event["ref"], event["seq"], event["count"]) == (JOURNAL, 2, 2)
    assert hub.stats()["record_conflicts"] == 2
    assert len(table(store, "SELECT * FROM record_conflicts")) == 2


def test_links_are_checked_whatever_the_order_of_arrival(hub: IngestCore, store: Store) -> None:
    items = mixed()
    send_all(hub, items[5:])  # 6..8 first, then the records before them
    send_all(hub, items[:5])
    assert hub.upto(DEVICE, JOURNAL) == 8
    assert table(store, "SELECT * FROM chain_breaks") == []


@pytest.mark.parametrize("first", ["before", "after"])
def test_a_broken_link_is_found_from_either_side(first: str, hub: IngestCore,
                                                 store: Store) -> None:
    items = chained([reading(s) for s in range(1, 4)])
    # seq 4 does not follow seq 3 (it names seq 1), seq 5 follows seq 4
    later = chained([reading(4), reading(5)], prev=record_hash(items[0]))
    if first == "before":  # seq 4 arrives before seq 3: found when 3 arrives
        hub.handle_batch([send("readings", later)], T0)
        hub.handle_batch([send("readings", items)], T0 + 1)
    else:
        hub.handle_batch([send("readings", items)], T0)
        hub.handle_batch([send("readings", later)], T0 + 1)
    assert table(store, "SELECT seq, reason FROM chain_breaks") == [
        (4, "prev is not the hash of seq 3")]
    [event] = events(store, "chain_broken")
    assert (event["ref"], event["seq"], event["count"]) == (JOURNAL, 4, 1)
    assert hub.upto(DEVICE, JOURNAL) == 5  # stored all the same: evidence is never refused


def test_genesis_after_a_chained_record_is_a_break(hub: IngestCore, store: Store) -> None:
    items = chained([reading(s) for s in range(1, 4)])
    restarted = chained([reading(s) for s in range(4, 6)])  # a journal re-made: GENESIS again
    hub.handle_batch([send("readings", items)], T0)
    hub.handle_batch([send("readings", restarted)], T0 + 1)
    assert table(store, "SELECT seq, reason FROM chain_breaks") == [
        (4, "the chain starts again")]


def test_records_before_the_chain_then_genesis_is_no_break(hub: IngestCore,
                                                           store: Store) -> None:
    """An agent upgraded: its old records carry no prev, its first new one GENESIS."""
    hub.handle_batch([send("readings", [reading(1), reading(2)])], T0)
    hub.handle_batch([send("readings", chained([reading(3), reading(4)]))], T0 + 1)
    assert table(store, "SELECT * FROM chain_breaks") == []
    assert table(store, "SELECT seq, prev IS NULL FROM received ORDER BY seq") == [
        (1, 1), (2, 1), (3, 0), (4, 0)]


def test_a_quarantined_record_takes_part_in_the_chain(hub: IngestCore, store: Store) -> None:
    items = chained([reading(1), reading(2), {**reading(3), "counts": -1}, reading(4),
                     reading(5)])
    hub.handle_batch([send("readings", items)], T0)
    assert hub.upto(DEVICE, JOURNAL) == 5
    assert table(store, "SELECT seq, hash FROM quarantine") == [(3, record_hash(items[2]))]
    assert table(store, "SELECT * FROM chain_breaks") == []
    # seq 4 said to follow another seq 3: the quarantined one is its link, and it differs
    hub.handle_batch([send("readings", [{**reading(6), "prev": record_hash(items[1])}])],
                     T0 + 1)
    assert table(store, "SELECT seq FROM chain_breaks") == [(6,)]


def test_a_record_json_cannot_hash_is_quarantined_without_a_hash(hub: IngestCore,
                                                                 store: Store) -> None:
    items = [json.dumps(reading(1)), json.dumps({**reading(2), "cpm": float("nan")})]
    payload = batch_from_json("readings", DEVICE, SITE, ROOM, JOURNAL, iso(T0), items, 1, 2)
    hub.handle_batch([(topic(SITE, ROOM, "readings"), payload)], T0)
    assert table(store, "SELECT seq, hash FROM quarantine") == [(2, None)]
    assert hub.upto(DEVICE, JOURNAL) == 2


def test_live_states_stop_feeding_signal_changes_once_a_device_sends_changes(
        tmp_path: Path) -> None:
    store = open_store(tmp_path)
    hub = core(store)
    hub.handle_batch([live(T0)], T0)
    before = table(store, "SELECT count(*) FROM signal_changes")[0][0]
    assert before > 0  # an older agent: its live state is all the hub has
    hub.handle_batch([send("changes", chained([change(1)]))], T0 + 1)
    message = live(T0 + 2)
    hub.handle_batch([(message[0], message[1].replace(b'"emission":false',
                                                      b'"emission":true'))], T0 + 2)
    assert table(store, "SELECT count(*) FROM signal_changes")[0][0] == before
    store.close()
    store = Store.open(tmp_path / "hub.db")  # a restart: the store says it sends changes
    hub = core(store, now=T0 + 3)
    hub.handle_batch([live(T0 + 4)], T0 + 4)
    assert table(store, "SELECT count(*) FROM signal_changes")[0][0] == before
    store.close()


def test_a_replayed_record_is_kept_as_it_was_received(hub: IngestCore, store: Store) -> None:
    """A record an older hub refused, stored by ``quarantine replay``: its row in
    ``received`` gets the bytes and hash it arrived with, and the chain holds."""
    items = chained([reading(1), reading(2), reading(3)])
    hub.handle_batch([send("readings", items[:2])], T0)
    with store.transaction():  # as an older contract refused seq 3, counted for the ack
        store.insert_quarantined(DEVICE, SITE, ROOM, JOURNAL, 3, "readings", iso(T0),
                                 "refused then", json.dumps(items[2]), True,
                                 record_hash(items[2]))
        store.count_quarantined(DEVICE, JOURNAL, 3)
    assert replay(store, None, datetime.fromtimestamp(T0 + 60, UTC)) == (1, 0, 0)
    assert table(store, "SELECT kind, hash, prev, body FROM received WHERE seq = 3") == [
        ("readings", record_hash(items[2]), items[2]["prev"], canonical(items[2]).decode())]
    [check] = verify(store.conn)
    assert (check.records, check.state) == (3, "intact")


@pytest.mark.parametrize("first", ["chained", "unchained"])
def test_a_record_without_prev_after_a_chained_one_is_a_break(first: str, hub: IngestCore,
                                                              store: Store) -> None:
    """An older agent's journal put back after the chain: the chain stops, from either side."""
    items = chained([reading(s) for s in range(1, 4)])
    older = [reading(4), reading(5)]  # no prev at all
    batches = [items, older] if first == "chained" else [older, items]
    for n, sent in enumerate(batches):
        hub.handle_batch([send("readings", sent)], T0 + n)
    assert table(store, "SELECT seq, reason FROM chain_breaks") == [(4, "the chain stops")]
    assert hub.upto(DEVICE, JOURNAL) == 5


def deep(depth: int) -> list[Any]:
    """Lists nested ``depth`` deep, built without recursion."""
    out: list[Any] = []
    for _ in range(depth):
        out = [out]
    return out


def test_a_record_nested_too_deep_never_rolls_a_batch_back(
        hub: IngestCore, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record Python read but cannot write again (parsed higher on the stack than it is
    hashed: nested ~980 deep): quarantined, and the records after it stored and
    acknowledged; ``verify`` reads it without a traceback."""
    real = core_module.decode_chain

    def parsed_shallower(topic_text: str, payload: bytes) -> Any:
        decoded = real(topic_text, payload)
        decoded.raws[1]["x"] = deep(5000)  # the refused record 2, as a deep parse left it
        return decoded

    monkeypatch.setattr(core_module, "decode_chain", parsed_shallower)
    items = chained([reading(1), {**reading(2), "counts": -1}, reading(3), reading(4)])
    acks = hub.handle_batch([send("readings", items)], T0)
    assert acked(acks) == [(DEVICE, JOURNAL, 4)]
    assert table(store, "SELECT seq, hash FROM quarantine") == [(2, None)]
    assert table(store, "SELECT seq FROM received WHERE kind = 'readings' ORDER BY seq") == [
        (1,), (3,), (4,)]
    assert Arrived.of(9, "readings", {"seq": 9, "x": deep(5000)}).hash is None
    deep_text = '{"seq":2,"prev":"' + GENESIS + '","x":' + "[" * 5000 + "]" * 5000 + "}"
    store.conn.execute("UPDATE quarantine SET item = ?", (deep_text,))
    store.conn.execute("UPDATE received SET body = ? WHERE seq = 3", (deep_text,))
    [check] = verify(store.conn)
    assert [(p.seq, p.what) for p in check.problems][:1] == [
        (3, "altered: the stored record is not a JSON object the chain can hash")]


def test_conflicts_have_their_own_budget_and_a_resend_spends_none(
        store: Store) -> None:
    """A restored journal's altered copies must not spend the quarantine budget (a refused
    record over it is not acknowledged: the device stalls), and the same copy sent again
    is already kept: it is not charged again."""
    budgeted = core(store, quarantine_per_device_day=1)
    budgeted.intake.conflicts.per_day = 2
    items = chained([reading(s) for s in range(1, 4)])
    budgeted.handle_batch([send("readings", items)], T0)
    copy2 = [{**items[1], "counts": 13}]
    copy3 = [{**items[2], "counts": 14}]
    for sent in (copy2, copy2, copy3):  # copy 2 sent twice: charged once
        budgeted.handle_batch([send("readings", sent)], T0 + 1)
    assert table(store, "SELECT seq FROM record_conflicts ORDER BY seq") == [(2,), (3,)]
    refused = [{**reading(4), "counts": -1, "prev": record_hash(items[2])}]
    acks = budgeted.handle_batch([send("readings", refused)], T0 + 2)
    assert acked(acks) == [(DEVICE, JOURNAL, 4)]
    assert table(store, "SELECT seq FROM quarantine") == [(4,)]
