"""The hub's ingest core, fed (topic, payload) pairs directly: no broker."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hub.db.store import Store
from hub.errors import StoreError
from hub.ingest import intake as intake_module
from hub.ingest.core import IngestCore
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    JOURNAL_2,
    ROOM,
    SITE,
    T0,
    acked,
    alarm,
    alarms,
    core,
    exposure,
    exposures,
    live,
    readings,
    status,
)
from wire.contract import ACK, topic


@pytest.fixture
def hub(store: Store) -> IngestCore:
    return core(store)


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    return list(store.db.query(sql))


def count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def events(store: Store, kind: str) -> list[dict[str, Any]]:
    return rows(store, f"SELECT * FROM events WHERE kind = '{kind}' ORDER BY id")


def cleared(event: dict[str, Any]) -> bool:
    """The ingest saw the condition end (the PCR's ``state`` is not the ingest's to change)."""
    return event["condition_cleared_at"] is not None


# -- exactly once -----------------------------------------------------------------------------


def test_batch_is_stored_and_acked(hub: IngestCore, store: Store) -> None:
    acks = hub.handle_batch([readings(1, 3)], T0)
    assert acked(acks) == [(DEVICE, JOURNAL, 3)]
    assert acks[0].topic == topic(SITE, ROOM, ACK)
    assert [r["seq"] for r in rows(store, "SELECT seq FROM readings ORDER BY seq")] == [1, 2, 3]
    assert rows(store, "SELECT acked_upto, journal FROM devices") == [
        {"acked_upto": 3, "journal": JOURNAL}]


def test_same_batch_twice_is_stored_once_and_acked_again(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 3)], T0)
    again = hub.handle_batch([readings(1, 3), readings(1, 3)], T0 + 1)
    assert acked(again) == [(DEVICE, JOURNAL, 3)]
    assert count(store, "readings") == 3 and count(store, "received") == 3
    stats = hub.stats()
    assert stats["duplicates"] == 6 and stats["rejected_total"] == 0
    assert stats["messages_ok"] == 3


def test_partly_new_batch_stores_only_the_new_records(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 3)], T0)
    assert acked(hub.handle_batch([readings(2, 5)], T0)) == [(DEVICE, JOURNAL, 5)]
    assert count(store, "readings") == 5
    assert hub.stats()["duplicates"] == 2


def test_out_of_order_arrival_fills_the_gap(hub: IngestCore, store: Store) -> None:
    assert hub.handle_batch([readings(4, 6)], T0) == []  # nothing contiguous yet
    assert acked(hub.handle_batch([readings(1, 2)], T0)) == [(DEVICE, JOURNAL, 2)]
    assert acked(hub.handle_batch([readings(3, 3)], T0)) == [(DEVICE, JOURNAL, 6)]
    assert count(store, "readings") == 6


def test_state_survives_a_restart(store: Store) -> None:
    first = core(store)
    first.handle_batch([readings(1, 3), readings(6, 7)], T0)
    second = core(store, now=T0 + 5)
    assert second.upto(DEVICE, JOURNAL) == 3
    assert acked(second.handle_batch([readings(4, 5)], T0 + 6)) == [(DEVICE, JOURNAL, 7)]
    assert acked(second.handle_batch([readings(6, 7)], T0 + 7)) == [(DEVICE, JOURNAL, 7)]
    assert count(store, "readings") == 7


# -- gaps -------------------------------------------------------------------------------------


def test_data_gap_raised_only_after_the_timeout_and_cleared_when_filled(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([readings(1, 3), readings(7, 9)], T0)
    hub.tick(T0 + 59.9)
    assert events(store, "data_gap") == []
    hub.tick(T0 + 60.0)
    (event,) = events(store, "data_gap")
    assert event["state"] == "open" and event["device"] == DEVICE
    assert json.loads(event["detail"]) == {"journal": JOURNAL, "first": 4, "last": 6,
                                           "missing": 3}
    hub.tick(T0 + 120)
    assert len(events(store, "data_gap")) == 1  # one open event per gap
    hub.handle_batch([readings(4, 5)], T0 + 130)
    assert events(store, "data_gap")[0]["condition_cleared_at"] is None  # partly filled
    assert acked(hub.handle_batch([readings(6, 6)], T0 + 131)) == [(DEVICE, JOURNAL, 9)]
    (event,) = events(store, "data_gap")
    assert event["condition_cleared_at"].startswith("2026-01-05T07:02:11")
    assert event["state"] == "open" and event["closed_at"] is None  # the PCR's to close


def test_resend_before_the_timeout_is_not_a_gap(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 3), readings(7, 9)], T0)
    hub.tick(T0 + 30)
    hub.handle_batch([readings(4, 6)], T0 + 30)
    hub.tick(T0 + 300)
    assert events(store, "data_gap") == []
    assert hub.stats()["open_gaps"] == 0


def test_two_gaps_clear_independently(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 1), readings(3, 3), readings(6, 6)], T0)
    hub.tick(T0 + 60)
    assert [json.loads(e["detail"])["first"] for e in events(store, "data_gap")] == [2, 4]
    hub.handle_batch([readings(4, 5)], T0 + 61)  # the later gap fills first
    assert [cleared(e) for e in events(store, "data_gap")] == [False, True]
    assert hub.upto(DEVICE, JOURNAL) == 1


def test_open_gap_event_is_cleared_after_a_restart(store: Store) -> None:
    first = core(store)
    first.handle_batch([readings(1, 2), readings(5, 5)], T0)
    first.tick(T0 + 60)
    second = core(store, now=T0 + 70)
    second.tick(T0 + 200)
    assert len(events(store, "data_gap")) == 1  # re-attached, not raised twice
    second.handle_batch([readings(3, 4)], T0 + 201)
    assert cleared(events(store, "data_gap")[0])
    assert second.upto(DEVICE, JOURNAL) == 5


# -- exposures and alarms ---------------------------------------------------------------------


def test_exposure_opened_then_closed_is_one_row(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([exposures(exposure(1, 1, "opened"))], T0)
    hub.handle_batch([exposures(exposure(2, 1, "closed"))], T0 + 4)
    (row,) = rows(store, "SELECT * FROM exposures")
    assert (row["state"], row["event"], row["last_seq"], row["interrupted"]) == (
        "closed", "closed", 2, 0)
    assert row["duration_s"] == 3.0 and row["first_seen"] < row["updated"]


def test_late_older_exposure_event_does_not_overwrite(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([exposures(exposure(2, 1, "closed"))], T0)
    hub.handle_batch([exposures(exposure(1, 1, "opened"))], T0 + 1)
    (row,) = rows(store, "SELECT state, last_seq FROM exposures")
    assert row == {"state": "closed", "last_seq": 2}
    assert hub.upto(DEVICE, JOURNAL) == 2


def test_interrupted_exposure_is_marked(hub: IngestCore, store: Store) -> None:
    item = exposure(1, 4, "interrupted", doors_open=["corridor"], alarms=["max_exposure"])
    hub.handle_batch([exposures(item)], T0)
    (row,) = rows(store, "SELECT * FROM exposures")
    assert (row["state"], row["interrupted"], row["number"]) == ("closed", 1, 4)
    assert json.loads(row["doors_open"]) == ["corridor"]
    assert json.loads(row["alarms"]) == ["max_exposure"]


def test_alarm_raised_then_cleared(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([alarms(alarm(1, 1, "raised"), alarm(2, 1, "cleared"))], T0)
    hub.handle_batch([alarms(alarm(1, 1, "raised"))], T0 + 1)  # a replay changes nothing
    (row,) = rows(store, "SELECT state, last_seq, cleared, interrupted FROM alarms")
    assert row == {"state": "cleared", "last_seq": 2, "cleared": "2026-01-05T07:00:09.000Z",
                   "interrupted": 0}


def test_kinds_share_one_sequence_space(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 2), exposures(exposure(3, 1, "opened")),
                      alarms(alarm(4, 1, "raised"))], T0)
    assert hub.upto(DEVICE, JOURNAL) == 4
    assert [r["kind"] for r in rows(store, "SELECT kind FROM received ORDER BY seq")] == [
        "readings", "readings", "exposures", "alarms"]


# -- journals ---------------------------------------------------------------------------------


def test_new_journal_starts_a_new_sequence_space(
    hub: IngestCore, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    hub.handle_batch([status("online", T0), readings(1, 5)], T0)
    with caplog.at_level(logging.INFO, logger="voyant.hub"):
        acks = hub.handle_batch([readings(1, 3, journal=JOURNAL_2)], T0 + 10)
    assert acked(acks) == [(DEVICE, JOURNAL_2, 3)]
    assert any(r.getMessage() == "journal_new" for r in caplog.records)
    assert rows(store, "SELECT journal, acked_upto FROM devices") == [
        {"journal": JOURNAL_2, "acked_upto": 3}]
    assert count(store, "readings") == 8
    assert {r["journal"]: r["upto"] for r in rows(store, "SELECT * FROM journals")} == {
        JOURNAL: 5, JOURNAL_2: 3}


# -- presence ---------------------------------------------------------------------------------


def test_offline_after_heartbeat_silence_and_back_on_live(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([status("online", T0, heartbeat_s=10)], T0)
    hub.tick(T0 + 29)
    assert events(store, "device_offline") == []
    hub.tick(T0 + 30)
    (event,) = events(store, "device_offline")
    assert event["state"] == "open" and json.loads(event["detail"])["reason"] == "silent"
    assert rows(store, "SELECT online FROM devices") == [{"online": 0}]
    hub.handle_batch([live(T0 + 31)], T0 + 31)
    (event,) = events(store, "device_offline")
    assert cleared(event) and event["state"] == "open"
    assert rows(store, "SELECT online FROM devices") == [{"online": 1}]


def test_records_count_as_signs_of_life(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([status("online", T0, heartbeat_s=10)], T0)
    for t in range(10, 100, 10):
        hub.handle_batch([readings(t // 10, t // 10)], T0 + t)
        hub.tick(T0 + t + 5)
    assert events(store, "device_offline") == []


def test_last_will_opens_the_event_and_status_online_closes_it(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([status("online", T0)], T0)
    hub.handle_batch([status("offline", T0 + 1)], T0 + 50)
    (event,) = events(store, "device_offline")
    assert event["state"] == "open" and json.loads(event["detail"]) == {
        "reason": "status_offline"}
    hub.tick(T0 + 500)
    hub.handle_batch([live(T0 + 501)], T0 + 501)  # still offline by status
    assert not cleared(events(store, "device_offline")[0])
    hub.handle_batch([status("online", T0 + 600)], T0 + 600)
    assert [cleared(e) for e in events(store, "device_offline")] == [True]


def test_replayed_retained_status_changes_nothing(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([status("online", T0, heartbeat_s=10)], T0)
    hub.tick(T0 + 40)
    hub.handle_batch([status("online", T0, heartbeat_s=10)], T0 + 41)  # redelivered
    assert [cleared(e) for e in events(store, "device_offline")] == [False]
    assert hub.stats()["replays"] == 1


def test_offline_event_is_not_reraised_after_a_restart(store: Store) -> None:
    first = core(store)
    first.handle_batch([status("offline", T0)], T0)
    second = core(store, now=T0 + 10)
    second.handle_batch([status("offline", T0)], T0 + 10)  # the retained will, again
    second.tick(T0 + 1000)
    assert len(events(store, "device_offline")) == 1


# -- acks -------------------------------------------------------------------------------------


def test_own_acks_are_ignored_silently(hub: IngestCore, store: Store) -> None:
    ack = hub.handle_batch([readings(1, 1)], T0)[0]
    assert hub.handle_batch([(ack.topic, ack.payload), (ack.topic, b"junk")], T0) == []
    stats = hub.stats()
    assert stats["rejected_total"] == 0 and stats["acks_ignored"] == 2
    assert count(store, "rejected") == 0


def test_acks_are_throttled_and_sent_on_tick(store: Store) -> None:
    hub = core(store, ack_every_ms=500)
    assert acked(hub.handle_batch([readings(1, 1)], T0)) == [(DEVICE, JOURNAL, 1)]
    assert hub.handle_batch([readings(2, 2)], T0 + 0.1) == []
    assert hub.handle_batch([readings(3, 3)], T0 + 0.2) == []
    assert acked(hub.tick(T0 + 0.5)) == [(DEVICE, JOURNAL, 3)]
    assert hub.tick(T0 + 2) == []


# -- robustness -------------------------------------------------------------------------------


def test_a_bug_in_one_handler_rejects_that_message_only(
    hub: IngestCore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(intake_module, "exposure_row", broken)
    acks = hub.handle_batch(
        [readings(1, 2), exposures(exposure(3, 1, "opened")), readings(4, 4)], T0)
    assert acked(acks) == [(DEVICE, JOURNAL, 2)]  # seq 3 was not stored; 4 waits
    assert count(store, "received") == 3 and count(store, "exposures") == 0
    (reject,) = rows(store, "SELECT reason FROM rejected")
    assert reject["reason"] == "internal error: RuntimeError"
    assert hub.stats()["handler_errors"] == 1
    monkeypatch.undo()
    assert acked(hub.handle_batch([exposures(exposure(3, 1, "opened"))], T0 + 1)) == [
        (DEVICE, JOURNAL, 4)]


def test_a_failed_commit_stores_and_acks_nothing(
    hub: IngestCore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.handle_batch([readings(1, 1)], T0)

    def full(*args: Any) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "save_counters", full)
    with pytest.raises(StoreError):
        hub.handle_batch([readings(2, 3)], T0 + 1)
    monkeypatch.undo()
    assert hub.upto(DEVICE, JOURNAL) == 1 and count(store, "readings") == 1
    assert acked(hub.handle_batch([readings(2, 3)], T0 + 2)) == [(DEVICE, JOURNAL, 3)]


# -- hostile payloads -------------------------------------------------------------------------

_BAD_VALUES: list[Any] = [None, "x y", -1, 1.5, [], {}, True, 2**64, "", "9" * 400, [1] * 600]


def _mutated_dicts(valid: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each field of the batch and of its first item: missing, or of a wrong type."""
    for key in valid:
        yield {k: v for k, v in valid.items() if k != key}
        for bad in _BAD_VALUES:
            if bad != valid[key]:
                yield {**valid, key: bad}
    item = valid["items"][0]
    for key in item:
        for bad in [*_BAD_VALUES, float("nan"), float("inf"), -1.0]:
            if bad != item[key] or type(bad) is not type(item[key]):
                yield {**valid, "items": [{**item, key: bad}, *valid["items"][1:]]}
        yield {**valid, "items": [{k: v for k, v in item.items() if k != key}]}
    yield {**valid, "items": [{**item, "counts": -5}, *valid["items"][1:]]}
    yield {**valid, "items": [item, {**valid["items"][-1], "seq": item["seq"] + 2}]}  # a hole
    yield {**valid, "items": [*valid["items"], valid["items"][0]]}
    yield {**valid, "items": []}
    yield {**valid, "items": [item] * 501}
    yield {**valid, "site": "autre-site"}  # payload does not match the topic
    yield {**valid, "kind": "exposures"}
    yield {**valid, "extra": 1}
    for version in (0, 2, "1", None, 1.0):
        yield {**valid, "v": version}


def _hostile_payloads(valid: bytes) -> Iterator[bytes]:
    data = json.loads(valid)
    for mutated in _mutated_dicts(data):
        yield json.dumps(mutated).encode()  # NaN and Infinity written as bare tokens
    yield b" " * (300 * 1024) + valid  # too large
    yield b"\xff\xfe" + valid  # not UTF-8
    yield valid.replace(b"sbm20", b"sbm\xe920")
    yield b"[" * 100_000 + b"]" * 100_000
    yield b'{"v":1,"a":' * 5_000 + b"1" + b"}" * 5_000
    yield b""
    yield b"null"
    yield b"[]"
    yield b"1e999"
    yield valid.replace(b'"v":1', b'"v":1,"v":2')
    for cut in range(1, len(valid)):
        yield valid[:cut]  # every truncation


def _hostile_topics(valid_topic: str) -> list[str]:
    return [
        "", "#", "voyant/v1", "voyant/v2/chu-nord/salle-3/readings",
        "voyant/v1/chu-nord/salle-3/unknown", "voyant/v1/chu nord/salle-3/readings",
        "voyant/v1/chu-nord/salle-3/readings/extra", valid_topic.replace("readings", "alarms"),
        valid_topic.replace("salle-3", "salle-4"), "voyant/v1/" + "a" * 5000 + "/b/readings",
        "voyant/v1/chu-nord/salle-3/dose_rate", "voyant/v1/chu-nord/salle-3/status",
        "voyant/v1/\udcff/salle-3/readings",
    ]


def hostile_messages(total: int) -> list[tuple[str, bytes]]:
    """``total`` refused or replayed messages, all derived from one valid batch (seqs 1..3)."""
    valid_topic, valid = readings(1, 3)
    out: list[tuple[str, bytes]] = [(valid_topic, valid)] * 50  # replays: duplicates
    out += [(t, valid) for t in _hostile_topics(valid_topic)]
    bases = [readings(1, 3), exposures(exposure(1, 1, "opened"), exposure(2, 1, "closed")),
             alarms(alarm(1, 1, "raised"), alarm(2, 1, "cleared"))]
    while len(out) < total:
        for base_topic, base in bases:
            out += [(base_topic, p) for p in _hostile_payloads(base)]
    return out[:total]


def test_ten_thousand_hostile_messages_store_nothing(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([status("online", T0), readings(1, 3)], T0)
    before = hub.stats()
    messages = hostile_messages(10_000)
    for start in range(0, len(messages), 500):
        hub.handle_batch(messages[start:start + 500], T0 + 1)
    stats = hub.stats()
    delta = {k: stats[k] - before[k] for k in stats}
    assert delta["messages_ok"] + delta["rejected_total"] == 10_000
    assert delta["records_stored"] == 0  # the only accepted ones are replays of seqs 1..3
    # A sound envelope around a bad record of seqs 1..3 is a resend of what is stored:
    # a duplicate, neither stored again nor quarantined.
    assert delta["duplicates"] >= 150 and delta["rejected_total"] > 8_000
    assert delta["records_quarantined"] == 0 and count(store, "quarantine") == 0
    assert count(store, "rejected") == stats["rejected_total"] == delta["rejected_total"]
    assert count(store, "readings") == 3 and count(store, "received") == 3
    assert count(store, "exposures") == count(store, "alarms") == 0
    # A copy of seqs 1..3 with other content is a conflict: kept beside the stored record
    # (within the daily budget), counted in one event, never stored over it.
    assert {r["kind"] for r in rows(store, "SELECT kind FROM events")} == {"record_conflict"}
    assert 0 < count(store, "record_conflicts") == delta["record_conflicts"]
    assert hub.upto(DEVICE, JOURNAL) == 3 and stats["handler_errors"] == 0
    head = store.conn.execute("SELECT MAX(LENGTH(payload_head)), MAX(LENGTH(topic)) FROM rejected")
    assert head.fetchone() == (512, 300)
    assert acked(hub.handle_batch([readings(4, 6)], T0 + 2)) == [(DEVICE, JOURNAL, 6)]
    assert count(store, "readings") == 6
