"""The ingest service end to end through a real Mosquitto (skipped where it is missing).

A private broker on a free port: the shared fixture of tests/mqtt_fixtures.py
is another part of the issue; this file only checks the thin aiomqtt shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
import sqlite_utils

from hub.config import parse_config
from hub.ingest.service import Ingest
from sim.broker import wait_listening
from tests.hub_factory import DEVICE, JOURNAL, ROOM, SITE, T0, readings, status

pytestmark = [
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="no mosquitto"),
    pytest.mark.asyncio,
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    problem = wait_listening(proc, "127.0.0.1", port, 10.0)
    if problem is not None:
        proc.kill()
        pytest.fail(f"mosquitto did not start listening on {port}: {problem}")
    yield port
    proc.terminate()
    proc.wait(5)


def _config(port: int, db: Path, client_id: str) -> Ingest:
    devices = db.parent / "devices.toml"  # the hub's registry of rooms
    devices.write_text(f'[devices."{DEVICE}"]\nsite = "{SITE}"\nroom = "{ROOM}"\n',
                       encoding="utf-8")
    config = parse_config({
        "mqtt": {"port": port, "client_id": client_id, "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5},
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


async def _until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _send(port: int, *messages: tuple[str, bytes]) -> None:
    publish.multiple([{"topic": t, "payload": p, "qos": 1} for t, p in messages],
                     hostname="127.0.0.1", port=port)


def _retained_ack(port: int) -> dict[str, object]:
    import paho.mqtt.subscribe as subscribe

    message = subscribe.simple(  # type: ignore[no-untyped-call]
        f"voyant/v1/{SITE}/+/ack", hostname="127.0.0.1", port=port, retained=True)
    return dict(json.loads(message.payload))


async def test_records_are_stored_and_acked_retained(broker: int, tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    async with running(_config(broker, db, "hub-a")) as ingest:
        await asyncio.to_thread(_send, broker, status("online", T0), readings(1, 3),
                                ("voyant/v1/x/y/readings", b"junk"))
        await _until(lambda: ingest.stats().get("messages_ok", 0) == 2
                     and ingest.stats()["unsent_acks"] == 0)
        assert ingest.stats()["rejected_total"] == 1
        assert "latency_p99_ms" in ingest.stats()
    ack = await asyncio.to_thread(_retained_ack, broker)
    assert (ack["device"], ack["journal"], ack["upto"]) == (DEVICE, JOURNAL, 3)
    assert sqlite_utils.Database(db)["readings"].count == 3


async def test_persistent_session_keeps_what_arrived_while_away(
    broker: int, tmp_path: Path
) -> None:
    db = tmp_path / "hub.db"
    async with running(_config(broker, db, "hub-b")):
        pass
    await asyncio.to_thread(_send, broker, readings(1, 2), readings(3, 4))
    async with running(_config(broker, db, "hub-b")) as ingest:
        await _until(lambda: ingest.stats().get("records_stored", 0) == 4)
    assert sqlite_utils.Database(db)["received"].count == 4
