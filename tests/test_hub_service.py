"""The ingest service end to end through a real Mosquitto, production's ACL and accounts.

The broker comes from the one launcher (``make_mosquitto``, :class:`sim.broker.Mosquitto`:
it waits until the port listens and otherwise fails with Mosquitto's log); this
file only checks the thin aiomqtt shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
import sqlite_utils

from hub.broker.files import DeviceAccount
from hub.config import parse_config
from hub.ingest.service import Ingest
from sim.broker import Mosquitto
from tests.hub_factory import DEVICE, JOURNAL, ROOM, SITE, T0, readings, status
from tests.mqtt_fixtures import HUB
from wire.contract import ACK, topic

pytestmark = pytest.mark.asyncio

THE_ROOM = DeviceAccount(DEVICE, "room-secret", SITE, ROOM)
#: An account the broker knows and the hub's registry does not: its message is rejected.
STRANGER = DeviceAccount("x.y", "stranger-secret", "x", "y")


@pytest.fixture
def broker(make_mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    return make_mosquitto(devices=(THE_ROOM, STRANGER))


def _config(broker: Mosquitto, db: Path, client_id: str) -> Ingest:
    devices = db.parent / "devices.toml"  # the hub's registry of rooms
    devices.write_text(f'[devices."{DEVICE}"]\nsite = "{SITE}"\nroom = "{ROOM}"\n',
                       encoding="utf-8")
    secret = db.parent / "hub.password"
    secret.write_text(HUB.password, encoding="utf-8")
    config = parse_config({
        "mqtt": {"host": broker.host, "port": broker.port, "username": HUB.username,
                 "password_file": str(secret), "client_id": client_id,
                 "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "broker": {"devices": str(devices)},
        "store": {"path": str(db)},
        "ingest": {"batch_wait_ms": 5},
    })
    return Ingest(config, tick_s=0.2)


@contextlib.asynccontextmanager
async def running(ingest: Ingest) -> AsyncIterator[Ingest]:
    task = asyncio.create_task(ingest.run())
    await asyncio.wait_for(ingest.ready.wait(), 5)
    try:
        yield ingest
    finally:
        ingest.stop()
        await asyncio.wait_for(task, 10)


async def _until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.02)  # poll interval, bounded by the deadline


def _send(broker: Mosquitto, *messages: tuple[str, bytes],
          account: DeviceAccount = THE_ROOM) -> None:
    publish.multiple([{"topic": t, "payload": p, "qos": 1} for t, p in messages],
                     hostname=broker.host, port=broker.port,
                     auth={"username": account.username, "password": account.password})


def _retained_ack(broker: Mosquitto) -> dict[str, object]:
    import paho.mqtt.subscribe as subscribe

    message = subscribe.simple(  # type: ignore[no-untyped-call]
        topic(SITE, ROOM, ACK), hostname=broker.host, port=broker.port, retained=True,
        auth={"username": THE_ROOM.username, "password": THE_ROOM.password})
    return dict(json.loads(message.payload))


async def test_records_are_stored_and_acked_retained(broker: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    async with running(_config(broker, db, "hub-a")) as ingest:
        await asyncio.to_thread(_send, broker, status("online", T0), readings(1, 3))
        await asyncio.to_thread(_send, broker, ("voyant/v1/x/y/readings", b"junk"),
                                account=STRANGER)
        await _until(lambda: ingest.stats().get("messages_ok", 0) == 2
                     and ingest.stats()["unsent_acks"] == 0
                     and ingest.stats().get("rejected_total", 0) == 1,
                     "2 messages stored and acked, the stranger's rejected")
        assert ingest.stats()["rejected_total"] == 1
        assert "latency_p99_ms" in ingest.stats()
        assert gc.get_freeze_count() > 0  # what it read to start, kept out of collections
    assert gc.get_freeze_count() == 0  # and given back when it stops
    ack = await asyncio.to_thread(_retained_ack, broker)
    assert (ack["device"], ack["journal"], ack["upto"]) == (DEVICE, JOURNAL, 3)
    assert sqlite_utils.Database(db)["readings"].count == 3


async def test_persistent_session_keeps_what_arrived_while_away(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db = tmp_path / "hub.db"
    async with running(_config(broker, db, "hub-b")):
        pass
    await asyncio.to_thread(_send, broker, readings(1, 2), readings(3, 4))
    async with running(_config(broker, db, "hub-b")) as ingest:
        await _until(lambda: ingest.stats().get("records_stored", 0) == 4,
                     "the 4 records sent while the hub was away")
    assert sqlite_utils.Database(db)["received"].count == 4
