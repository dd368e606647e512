"""Nothing is lost between the rooms and the hub: network cuts, broker and hub restarts, crashes.

Real processes where the fault is a process: Mosquitto, the hub (``voyant-hub
run``) and the rooms (``voyant-sim room``: the real agent and publisher on
simulated inputs). Each test ends by comparing what the hub stored with the
room's journal, record by record: every reading, exposure and alarm, once.
Waits poll with deadlines (see tests/wire_rig.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto
from tests.mqtt_fixtures import DEVICES
from tests.wire_rig import (
    Rig,
    assert_hub_holds_the_journal,
    first_arrival_in_order,
    hub_upto,
    journal_id,
    rows,
    wait_until,
)

ROOM = DEVICES[0]
#: An hour of work in about six real seconds: long enough to cut something in the middle.
HOUR_SPEED = 600.0


@pytest.fixture
def rig(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto]) -> Iterator[Rig]:
    broker = make_mosquitto()
    yield Rig(tmp_path, broker)


def hub_has_some(rig: Rig, at_least: int = 1) -> Callable[[], bool]:
    journal = rig.journal(ROOM)

    def check() -> bool:
        return journal.exists() and hub_upto(rig.hub_db, ROOM.username, journal_id(journal)) >= (
            at_least)
    return check


def test_broker_down_for_an_hour_of_work(rig: Rig) -> None:
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        room = rig.room(ROOM, "hour_of_work", speed=HOUR_SPEED)
        wait_until(hub_has_some(rig), "the first records at the hub")
        rig.broker.stop()
        room.wait_log("scenario_played")  # the hour was worked with no broker
        assert room.popen is not None and room.popen.poll() is None
        rig.broker.start()
        assert room.wait() == 0, room.text()[-2000:]
        assert_hub_holds_the_journal(rig.hub_db, ROOM.username, rig.journal(ROOM))
        assert first_arrival_in_order(rig.hub_db, ROOM.username, rig.journal(ROOM))
    finally:
        hub.close()


def test_broker_killed_with_messages_in_flight(rig: Rig) -> None:
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        room = rig.room(ROOM, "hour_of_work", speed=HOUR_SPEED)
        wait_until(hub_has_some(rig, 50), "records flowing")
        rig.broker.kill()  # its queues and retained acks die with it
        rig.broker.start()
        assert room.wait() == 0, room.text()[-2000:]
        assert_hub_holds_the_journal(rig.hub_db, ROOM.username, rig.journal(ROOM))
    finally:
        hub.close()


def test_hub_stopped_for_an_hour_then_catches_up(rig: Rig) -> None:
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        room = rig.room(ROOM, "hour_of_work", speed=HOUR_SPEED)
        wait_until(hub_has_some(rig), "the first records at the hub")
        assert hub.stop() == 0
        room.wait_log("scenario_played")  # the room kept working without its hub
        hub = rig.hub("hub-2")
        assert room.wait() == 0, room.text()[-2000:]
        assert_hub_holds_the_journal(rig.hub_db, ROOM.username, rig.journal(ROOM))
    finally:
        hub.close()


def test_hub_killed_mid_ingest(rig: Rig) -> None:
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        rooms = [rig.room(device, "hour_of_work") for device in DEVICES]
        wait_until(hub_has_some(rig, 20), "records flowing")
        hub.kill()
        hub = rig.hub("hub-2")
        for room in rooms:
            assert room.wait() == 0, room.text()[-2000:]
        for device in DEVICES:
            assert_hub_holds_the_journal(rig.hub_db, device.username, rig.journal(device))
    finally:
        hub.close()


def test_agent_killed_in_the_middle_of_exposures_20_times(rig: Rig) -> None:
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        for attempt in range(20):
            room = rig.room(ROOM, "interrupted_session", speed=10.0, log=f"room-{attempt}")
            try:
                room.wait_log("event=exposure_opened")
                room.kill()
            finally:
                room.close()
        last = rig.room(ROOM, "interrupted_session", log="room-last")
        assert last.wait() == 0, last.text()[-2000:]
        journal = rig.journal(ROOM)
        assert_hub_holds_the_journal(rig.hub_db, ROOM.username, journal)
        interrupted = rows(rig.hub_db, "SELECT run, number FROM exposures WHERE interrupted = 1"
                           " AND device = ?", [ROOM.username])
        assert len(interrupted) == 20
        assert {run for run, _ in interrupted} == set(range(1, 21))
        closed = rows(rig.hub_db, "SELECT count(*) FROM exposures WHERE interrupted = 0"
                      " AND device = ?", [ROOM.username])[0][0]
        assert closed == 5  # the last run's, played to the end
    finally:
        hub.close()
