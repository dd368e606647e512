"""A box speaks only for its own room: identity from the topic, bounds on what it may do.

Fed straight to the ingest core with an explicit registry of rooms (the devices
file); the same attacks through a real Mosquitto are in test_hostile_devices.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.db.store import Store
from hub.ingest.core import IngestCore
from hub.ingest.jumps import journal_main
from hub.ingest.rooms_directory import ProvisionedRooms
from hub.timefmt import iso
from tests.hub_factory import (
    JOURNAL,
    JOURNAL_2,
    T0,
    acked,
    alarm,
    alarms,
    batch,
    core,
    exposure,
    exposures,
    open_store,
    reading,
    readings,
    status,
)
from wire.contract import READINGS, WINDOW

A, B = "chu.ir1", "chu.ir2"
ROOMS = ProvisionedRooms({("chu", "ir1"): A, ("chu", "ir2"): B}, "test")
AS_A: dict[str, Any] = {"device": A, "site": "chu", "room": "ir1"}
AS_B: dict[str, Any] = {"device": B, "site": "chu", "room": "ir2"}
J_A, J_B = JOURNAL, JOURNAL_2


@pytest.fixture
def hub(store: Store) -> IngestCore:
    return core(store, rooms=ROOMS)


def rows(store: Store, sql: str, *params: Any) -> list[dict[str, Any]]:
    return list(store.db.query(sql, params))


def forged(message: tuple[str, bytes]) -> tuple[str, bytes]:
    """B's message published by A on A's own topic (the broker lets it): the payload still
    names device B, with A's site and room so that it passes the contract's topic check."""
    topic, payload = message
    body = json.loads(payload)
    body.update(room="ir1")
    return topic.replace("/ir2/", "/ir1/"), json.dumps(body).encode()


def count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# -- identity from the topic -------------------------------------------------------------------


def test_a_payload_naming_another_device_is_quarantined_under_its_sender(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([status("online", T0, journal=J_B, **AS_B), readings(1, 5, journal=J_B,
                                                                          **AS_B)], T0)
    before = rows(store, "SELECT * FROM devices WHERE device = ?", B)
    attack = [forged(readings(6, 25, journal=J_B, **AS_B)),  # B's name, A's topic
              forged(status("online", T0 + 1, journal=J_B, **AS_B)),
              forged(alarms(alarm(26, 1, "raised"), journal=J_B, **AS_B))]
    assert hub.handle_batch(attack, T0 + 1) == []
    assert rows(store, "SELECT * FROM devices WHERE device = ?", B) == before
    assert [r["seq"] for r in rows(store, "SELECT seq FROM readings WHERE device = ?", B)] == [
        1, 2, 3, 4, 5]
    assert count(store, "alarms") == 0 and hub.upto(B, J_B) == 5
    kept = rows(store, "SELECT device, journal, counted FROM quarantine")
    assert len(kept) == 21 and {(r["device"], r["counted"]) for r in kept} == {(A, 0)}
    (event,) = rows(store, "SELECT * FROM events WHERE kind = 'record_quarantined'")
    assert event["device"] == A and json.loads(event["detail"])["count"] == 3
    assert "claims device 'chu.ir2'" in json.loads(event["detail"])["reason"]
    assert {r["device"] for r in rows(store, "SELECT device FROM devices")} == {B}


def test_an_unknown_room_creates_nothing(hub: IngestCore, store: Store) -> None:
    ghost = {"device": "chu.ghost", "site": "chu", "room": "ghost"}
    assert hub.handle_batch([status("online", T0, **ghost), readings(1, 3, **ghost)], T0) == []
    assert count(store, "devices") == count(store, "journals") == count(store, "readings") == 0
    assert all("no device is provisioned for chu/ghost" in r["reason"]
               for r in rows(store, "SELECT reason FROM rejected"))


def test_a_journal_belongs_to_the_first_device_that_used_it(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([readings(1, 3, journal=J_B, **AS_B)], T0)
    assert hub.handle_batch([readings(1, 3, journal=J_B, **AS_A)], T0 + 1) == []
    assert hub.upto(A, J_B) == 0 and count(store, "quarantine") == 3
    assert "belongs to device 'chu.ir2'" in rows(store, "SELECT reason FROM quarantine")[0][
        "reason"]


def test_a_new_journal_on_a_device_s_own_topics_is_an_info_event(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([status("online", T0, journal=J_A, **AS_A), readings(1, 3, **AS_A)], T0)
    fresh = "ab" * 16  # the SD card was swapped
    acks = hub.handle_batch([status("online", T0 + 5, journal=fresh, **AS_A),
                             readings(1, 2, journal=fresh, **AS_A)], T0 + 5)
    assert (A, fresh, 2) in acked(acks)
    (event,) = rows(store, "SELECT * FROM events WHERE kind = 'journal_new'")
    assert event["severity"] == "info" and json.loads(event["detail"]) == {
        "journal": fresh, "previous": J_A}


def test_new_journals_per_day_are_bounded(store: Store) -> None:
    hub = core(store, rooms=ROOMS, new_journals_per_day=2)
    journals = [f"{n:032x}" for n in range(1, 5)]
    for n, journal in enumerate(journals):
        hub.handle_batch([readings(1, 1, journal=journal, **AS_A)], T0 + n)
    assert [j for _, j, _ in sorted(store.journals())] == journals[:2]
    assert "more than 2 new journals today" in rows(store, "SELECT reason FROM rejected")[0][
        "reason"]


def test_a_device_sending_too_fast_is_refused_and_resends_later(store: Store) -> None:
    hub = core(store, rooms=ROOMS, device_messages_per_s=1.0, device_burst=3)
    flood = [readings(n, n, **AS_A) for n in range(1, 11)]
    hub.handle_batch(flood, T0)
    assert hub.upto(A, J_A) == 3  # the burst; the rest refused, never acknowledged
    assert hub.stats()["rejected_total"] == 7
    hub.handle_batch(flood[3:5], T0 + 2)  # two seconds later, two tokens more
    assert hub.upto(A, J_A) == 5


def test_the_quarantine_of_one_device_is_bounded_per_day(store: Store) -> None:
    hub = core(store, rooms=ROOMS, quarantine_per_device_day=30)
    for n in range(4):
        hub.handle_batch([forged(readings(20 * n + 1, 20 * n + 20, journal=J_B, **AS_B))],
                         T0 + n)
    assert count(store, "quarantine") == 20  # the second batch would pass 30: rejected
    assert hub.stats()["rejected_total"] == 4


# -- bounds on the rest ---------------------------------------------------------------------


def test_records_stamped_by_an_implausible_clock_are_kept_flagged(
    hub: IngestCore, store: Store
) -> None:
    far = {"start": "9999-12-31T23:59:50Z", "end": "9999-12-31T23:59:59Z"}
    old = {"start": "0001-01-01T00:00:00Z", "end": "0001-01-01T00:00:10Z"}
    acks = hub.handle_batch([
        batch(READINGS, [reading(1), reading(2, **far), reading(3, **old)], **AS_A),
        alarms(alarm(4, 1, "raised", at="9999-01-01T00:00:00Z", since="9999-01-01T00:00:00Z"),
               **AS_A),
        exposures(exposure(5, 1, "closed", start="0001-01-01T00:00:00Z",
                           end="0001-01-01T00:00:03Z"), **AS_A),
    ], T0)
    assert acked(acks) == [(A, J_A, 5)]
    flags = rows(store, "SELECT seq, clock_implausible FROM readings ORDER BY seq")
    assert [(r["seq"], r["clock_implausible"]) for r in flags] == [(1, 0), (2, 1), (3, 1)]
    assert rows(store, "SELECT clock_implausible FROM alarms") == [{"clock_implausible": 1}]
    assert rows(store, "SELECT clock_implausible FROM exposures") == [{"clock_implausible": 1}]
    (event,) = rows(store, "SELECT * FROM events WHERE kind = 'door_open_during_emission'")
    assert event["opened_at"] == iso(T0)  # the ESR deadline runs from the receipt
    detail = json.loads(event["detail"])
    assert detail["at"] == "9999-01-01T00:00:00Z" and detail["clock_implausible"] is True
    assert hub.stats()["records_implausible"] == 4


def test_records_days_old_after_an_outage_are_plausible(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 3, **AS_A)], T0 + 30 * 86_400)  # a month's outage
    assert rows(store, "SELECT max(clock_implausible) AS f FROM readings") == [{"f": 0}]


def test_a_sequence_jump_beyond_the_window_is_refused_until_an_admin_accepts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(tmp_path)
    hub = core(store, rooms=ROOMS)
    hub.handle_batch([status("online", T0, **AS_A), readings(1, 2, **AS_A)], T0)
    when = {"start": iso(T0 + 30), "end": iso(T0 + 40)}
    jumps = [batch(READINGS, [reading(seq, **when)], **AS_A) for seq in (2**53 - 1, WINDOW + 3)]
    assert hub.handle_batch(jumps, T0 + 1) == []
    assert hub.upto(A, J_A) == 2 and count(store, "readings") == 2
    assert count(store, "events WHERE kind = 'data_gap'") == 0
    hub.tick(T0 + 100)
    assert count(store, "events WHERE kind = 'data_gap'") == 0  # nothing above: no gap
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "hub.db"}"\n', encoding="utf-8")
    assert journal_main(["accept-jump", "--config", str(config), A, J_A, "1001",
                         "--by", "admin", "--reason", "box restored from an image"]) == 0
    hub.tick(T0 + 101)
    assert hub.upto(A, J_A) == 1000
    (gap,) = rows(store, "SELECT * FROM events WHERE kind = 'data_gap'")
    assert json.loads(gap["detail"]) | {} == {
        "journal": J_A, "first": 3, "last": 1000, "missing": 998, "lost": True,
        "accepted_by": "admin", "reason": "box restored from an image"}
    assert journal_main(["accept-jump", "--config", str(config), A, J_A, "10",
                         "--by", "admin", "--reason", "again"]) == 1
    assert "nothing to accept" in capsys.readouterr().err
    store.close()


def test_an_oldest_past_the_believable_is_not_taken(store: Store) -> None:
    hub = core(store, rooms=ROOMS, max_lost_declared=100)
    hub.handle_batch([readings(1, 2, **AS_A)], T0)
    hub.handle_batch([status("online", T0 + 1, oldest=1000, **AS_A)], T0 + 1)
    assert hub.upto(A, J_A) == 2 and count(store, "events WHERE kind = 'data_gap'") == 0
    hub.handle_batch([status("online", T0 + 2, oldest=50, **AS_A)], T0 + 2)
    assert hub.upto(A, J_A) == 49


def test_the_devices_file_is_read_again_on_sighup(tmp_path: Path) -> None:
    """``voyant-hub run`` calls reload_rooms on SIGHUP: a room added is taken at once, a
    revoked one refused; a file with a mistake keeps the rooms known so far."""
    from hub.config import parse_config
    from hub.ingest.service import Ingest

    devices = tmp_path / "devices.toml"
    devices.write_text('[devices."chu.ir1"]\nsite = "chu"\nroom = "ir1"\n', encoding="utf-8")
    config = parse_config({"broker": {"devices": str(devices)},
                           "store": {"path": str(tmp_path / "hub.db")}})
    ingest = Ingest(config)
    assert ingest.rooms.device_for("chu", "ir1") == A and ingest.rooms.device_for(
        "chu", "ir2") is None
    devices.write_text('[devices."chu.ir2"]\nsite = "chu"\nroom = "ir2"\n', encoding="utf-8")
    ingest.reload_rooms()
    assert ingest.rooms.device_for("chu", "ir2") == B and ingest.rooms.device_for(
        "chu", "ir1") is None
    devices.write_text('[devices."chu.ir3"]\nsite = "chu/3"\n', encoding="utf-8")
    ingest.reload_rooms()  # refused, logged: the rooms known so far stay
    assert ingest.rooms.device_for("chu", "ir2") == B


def test_a_device_s_own_refused_records_share_its_quarantine_budget(store: Store) -> None:
    """A box sending nothing but refused records fills no disk: past the day's budget they
    are neither kept nor acknowledged (a real agent would send them again tomorrow)."""
    from tests.test_hub_refusal import nan_reading

    hub = core(store, rooms=ROOMS, quarantine_per_device_day=10)
    for first in (1, 21):
        hub.handle_batch([batch(READINGS, [nan_reading(s) for s in range(first, first + 20)],
                                **AS_A)], T0 + first)
    assert count(store, "quarantine") == 10 and hub.upto(A, J_A) == 10
    assert hub.stats()["records_over_budget"] == 30


def test_a_handler_failure_does_not_refill_a_device_s_limits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core rebuilds its memory from the store after a failure: not what each device
    has spent of its rate and budgets (or a box that can cause a failure gets fresh ones)."""
    from hub.ingest import intake

    hub = core(store, rooms=ROOMS, device_messages_per_s=0.001, device_burst=2)
    hub.handle_batch([readings(1, 1, **AS_A)], T0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(intake, "exposure_row", broken)
    hub.handle_batch([exposures(exposure(2, 1, "opened"), **AS_A)], T0 + 0.1)  # fails: rebuilt
    monkeypatch.undo()
    hub.handle_batch([readings(2, 2, **AS_A)], T0 + 0.2)
    assert hub.upto(A, J_A) == 1  # the burst of 2 was spent before the failure
    assert "messages/s" in rows(store, "SELECT reason FROM rejected ORDER BY id DESC")[0][
        "reason"]
