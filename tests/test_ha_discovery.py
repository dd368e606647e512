"""Home Assistant MQTT discovery: the configs, and a real Mosquitto carrying them (or not).

The broker runs the generated ACL (the device may write only its own
``homeassistant/+/voyant_<site>_<room>/#``), plus a test account ``ha`` that
reads ``homeassistant/#``, as Home Assistant's own login would.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.config import Device, Mqtt
from edge_agent.ha_discovery import DOSE_RATE_UNIT, discovery_messages, publish_discovery
from edge_agent.journal import Journal
from edge_agent.publisher import Publisher
from hub.broker.files import hash_password
from sim.broker import Mosquitto
from tests.mqtt_fixtures import DEVICES, MqttProbe
from wire import contract as wire

ROOM = DEVICES[0]
DEVICE = Device(site=ROOM.site, room=ROOM.room, id=ROOM.username)
NODE = "voyant_chu_ir1"


def _configs() -> dict[str, dict[str, object]]:
    return {m.topic: json.loads(m.payload) for m in discovery_messages(DEVICE, "1.2.3")}


def test_the_configs_name_their_topics_and_are_unique() -> None:
    configs = _configs()
    assert sorted(configs) == [
        f"homeassistant/binary_sensor/{NODE}/alarm_active/config",
        f"homeassistant/binary_sensor/{NODE}/emitting/config",
        f"homeassistant/binary_sensor/{NODE}/generator_powered/config",
        f"homeassistant/sensor/{NODE}/dose_rate/config",
    ]
    assert len({c["unique_id"] for c in configs.values()}) == 4
    dose = configs[f"homeassistant/sensor/{NODE}/dose_rate/config"]
    assert dose["state_topic"] == "voyant/v1/chu/ir1/dose_rate"
    assert dose["unit_of_measurement"] == DOSE_RATE_UNIT == "µSv/h"
    assert dose["state_class"] == "measurement" and "device_class" not in dose
    assert dose["unique_id"] == f"{NODE}_dose_rate"
    for config in configs.values():
        assert config["availability"] == [{
            "topic": "voyant/v1/chu/ir1/status", "value_template": "{{ value_json.state }}",
            "payload_available": "online", "payload_not_available": "offline"}]
        device = config["device"]
        assert isinstance(device, dict)
        assert device["identifiers"] == [NODE] and device["sw_version"] == "1.2.3"
    for name in ("alarm_active", "emitting", "generator_powered"):
        config = configs[f"homeassistant/binary_sensor/{NODE}/{name}/config"]
        assert config["state_topic"] == "voyant/v1/chu/ir1/live"
        assert "value_json" in str(config["value_template"])


def test_the_templates_read_the_live_payload() -> None:
    """Render the binary sensors' templates with Jinja, as Home Assistant does."""
    jinja2 = pytest.importorskip("jinja2")
    configs = _configs()
    live = {"inputs": {"emission": True, "generator_powered": False}, "alarms": [
        {"kind": "door_open_during_emission", "subject": "main", "since": "x"}]}
    rendered = {
        name: jinja2.Template(str(configs[
            f"homeassistant/binary_sensor/{NODE}/{name}/config"]["value_template"]
        )).render(value_json=live)
        for name in ("emitting", "generator_powered", "alarm_active")}
    assert rendered == {"emitting": "ON", "generator_powered": "OFF", "alarm_active": "ON"}
    quiet = jinja2.Template(str(configs[f"homeassistant/binary_sensor/{NODE}/alarm_active/config"]
                                ["value_template"])).render(value_json={"inputs": {}, "alarms": []})
    assert quiet == "OFF"


def test_off_by_default_nothing_is_published() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
            self.sent.append(topic)

    settings = Mqtt(host="hub")
    assert settings.home_assistant is False
    recorder = Recorder()
    assert publish_discovery(recorder, settings, DEVICE) == 0  # type: ignore[arg-type]
    assert recorder.sent == []


# -- a real Mosquitto ---------------------------------------------------------------------------


@pytest.fixture
def broker(make_mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    """The generated files, plus an ``ha`` account reading ``homeassistant/#`` (reloaded)."""
    broker = make_mosquitto()
    acl, passwd = broker.directory / "acl", broker.directory / "passwd"
    acl.write_text(acl.read_text() + "\nuser ha\ntopic read homeassistant/#\n")
    passwd.write_text(passwd.read_text() + f"ha:{hash_password('ha-secret')}\n")
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGHUP)
    return broker


def _ha(broker: Mosquitto) -> MqttProbe:
    deadline = time.monotonic() + 10
    while True:  # until the reload has taken the new account
        probe = MqttProbe(broker.host, broker.port, "ha", "ha-secret")
        if not probe.connect().is_failure:
            return probe
        probe.close()
        assert time.monotonic() < deadline, "the ha account never worked"
        time.sleep(0.05)


@pytest.fixture
def start(broker: Mosquitto, tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    started: list[Publisher] = []
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.start_run(1_767_596_400.0)
    secret = tmp_path / "password"
    secret.write_text(ROOM.password)

    def make(**settings: object) -> Publisher:
        mqtt = Mqtt.model_validate({
            "host": broker.host, "port": broker.port, "password_file": str(secret),
            "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, **settings})
        publisher = Publisher(mqtt, DEVICE, journal.path, agent_version="test")
        publisher.start()
        started.append(publisher)
        return publisher

    yield make
    for publisher in started:
        publisher.stop()
    journal.close()


def test_enabled_the_configs_reach_a_subscriber_retained(
    broker: Mosquitto, start: Callable[..., Publisher]
) -> None:
    ha = _ha(broker)
    try:
        ha.subscribe("homeassistant/#")
        publisher = start(home_assistant=True)
        expected = {m.topic: m.payload for m in discovery_messages(DEVICE, "test")}
        for topic, payload in expected.items():
            ha.wait_received(topic, payload)
        assert publisher.connected
    finally:
        ha.close()
    late = _ha(broker)  # retained: Home Assistant started after the agent gets them too
    try:
        late.subscribe("homeassistant/#")
        late.wait_for(lambda: len(late.received()) == len(expected), "the retained configs")
        assert all(m.retain for m in late.messages)
    finally:
        late.close()


def test_disabled_nothing_reaches_the_subscriber(
    broker: Mosquitto, start: Callable[..., Publisher]
) -> None:
    ha = _ha(broker)
    hub = MqttProbe(broker.host, broker.port, "hub", broker.accounts["hub"].password)
    try:
        ha.subscribe("homeassistant/#")
        assert not hub.connect().is_failure
        hub.subscribe(wire.topic(ROOM.site, ROOM.room, wire.STATUS))
        start()  # home_assistant = false (the default)
        hub.wait_for(lambda: any(b'"online"' in p for p in hub.received()), "online status")
        ha.subscribe("homeassistant/#")  # a second SUBACK: the broker has passed anything queued
        assert ha.received() == []
    finally:
        ha.close()
        hub.close()


def test_a_device_cannot_write_another_rooms_discovery_node(
    broker: Mosquitto, mqtt_probe: Callable[..., MqttProbe]
) -> None:
    device = mqtt_probe(broker, "chu.ir2")
    ha = _ha(broker)
    try:
        ha.subscribe("homeassistant/#")
        denied = device.publish_wait(f"homeassistant/sensor/{NODE}/dose_rate/config", b"{}")
        assert denied.is_failure  # chu.ir2 writing chu/ir1's node
        ok = device.publish_wait("homeassistant/sensor/voyant_chu_ir2/x/config", b"{}")
        assert not ok.is_failure
        ha.wait_received("homeassistant/sensor/voyant_chu_ir2/x/config", b"{}")
        assert ha.received(f"homeassistant/sensor/{NODE}/dose_rate/config") == []
    finally:
        ha.close()
