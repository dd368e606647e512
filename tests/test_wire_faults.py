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

import paho.mqtt.client as mqtt
import pytest

from sim.broker import Mosquitto
from tests.hub_factory import alarm, alarms, exposure, exposures, readings
from tests.mqtt_fixtures import DEVICES, MqttProbe
from tests.test_hub_ingest import _hostile_payloads
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
        assert closed == 4  # the last run's, played to the end
    finally:
        hub.close()


def test_ten_thousand_hostile_payloads_through_the_broker(
    rig: Rig, mqtt_probe: Callable[..., MqttProbe]
) -> None:
    """The hub process keeps running, stores none of them as data, and counts them all."""
    who = {"device": ROOM.username, "site": ROOM.site, "room": ROOM.room}
    bases = [readings(1, 3, **who), exposures(exposure(1, 1, "opened"), **who),
             alarms(alarm(1, 1, "raised"), **who)]
    messages: list[tuple[str, bytes]] = []
    while len(messages) < 10_000:
        for base_topic, base in bases:
            messages += [(base_topic, p) for p in _hostile_payloads(base)]
    messages = messages[:10_000]
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        device = mqtt_probe(rig.broker, ROOM.username, protocol=mqtt.MQTTv311, clean=True)
        device.publish_wait(*readings(1, 3, **who))
        wait_until(lambda: counter(rig, "readings_stored") == 3, "the first valid batch")
        before = counter(rig, "messages_ok") + counter(rig, "rejected_total")
        for topic_text, payload in messages:
            device.publish(topic_text, payload, qos=1)
        wait_until(lambda: counter(rig, "messages_ok") + counter(rig, "rejected_total")
                   == before + 10_000, "10,000 messages handled")
        assert hub.popen is not None and hub.popen.poll() is None  # still running
        assert counter(rig, "records_stored") == 3  # accepted ones were replays of seqs 1..3
        assert counter(rig, "rejected_total") > 9_000 and counter(rig, "handler_errors") == 0
        assert rows(rig.hub_db, "SELECT count(*) FROM rejected")[0][0] == counter(
            rig, "rejected_total")
        for table, expected in (("readings", 3), ("exposures", 0), ("alarms", 0)):
            assert rows(rig.hub_db, f"SELECT count(*) FROM {table}")[0][0] == expected, table
        device.publish_wait(*readings(4, 6, **who))
        wait_until(lambda: counter(rig, "readings_stored") == 6, "a valid batch after them")
    finally:
        hub.close()


def counter(rig: Rig, name: str) -> int:
    if not rig.hub_db.exists():
        return 0
    found = rows(rig.hub_db, "SELECT value FROM counters WHERE name = ?", [name])
    return int(found[0][0]) if found else 0
