"""Home Assistant MQTT discovery: the room's dose rate and state as Home Assistant entities.

Optional (``[mqtt] home_assistant = true``; off by default). On every
connection the publisher sends, retained at QoS 1, one discovery config per
entity on ``homeassistant/<component>/voyant_<site>_<room>/<object>/config``
(:mod:`wire.home_assistant`; the broker's ACL lets each device write its own
node only). The entities read the topics the agent publishes anyway, so
nothing else is sent:

- ``sensor`` *dose rate* (µSv/h, ``state_class: measurement``, no device
  class: Home Assistant has none for a dose rate) on the plain retained
  ``dose_rate`` topic;
- ``binary_sensor`` *emitting*, *generator powered* and *alarm active*, from
  the retained ``live`` JSON through a ``value_template``.

Availability follows the retained ``status`` topic (``online`` on connect,
``offline`` as the last will or on a clean stop), read from its JSON by a
``value_template``. Home Assistant also needs a broker account that may read
``homeassistant/#`` and the rooms' ``status``, ``live`` and ``dose_rate``
topics (docs/configuration.md, ``mqtt.home_assistant``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as mqtt

from edge_agent.config import Device, Mqtt
from wire import contract as wire
from wire.home_assistant import DISCOVERY_PREFIX, node_id

DOSE_RATE_UNIT: Final = "µSv/h"


@dataclass(frozen=True, slots=True)
class DiscoveryMessage:
    topic: str
    payload: bytes


def _binary(name: str, object_id: str, template: str, device_class: str | None,
            icon: str | None = None) -> tuple[str, str, dict[str, Any]]:
    config: dict[str, Any] = {"name": name, "value_template": template,
                              "payload_on": "ON", "payload_off": "OFF"}
    if device_class is not None:
        config["device_class"] = device_class
    if icon is not None:
        config["icon"] = icon
    return "binary_sensor", object_id, config


def _input_template(name: str) -> str:
    """ON/OFF from one input of the live JSON (OFF when the box has no such input)."""
    return f"{{{{ 'ON' if value_json.inputs.get('{name}', false) else 'OFF' }}}}"


def discovery_messages(device: Device, agent_version: str = "") -> list[DiscoveryMessage]:
    """The room's discovery configs (retained, QoS 1), in a stable order."""
    node = node_id(device.site, device.room)
    live = wire.topic(device.site, device.room, wire.LIVE)
    common: dict[str, Any] = {
        "availability": [{
            "topic": wire.topic(device.site, device.room, wire.STATUS),
            "value_template": "{{ value_json.state }}",
            "payload_available": "online", "payload_not_available": "offline"}],
        "device": {
            "identifiers": [node], "name": f"Voyant {device.site}/{device.room}",
            "manufacturer": "Voyant", "model": "X-ray room monitor",
            **({"sw_version": agent_version[:64]} if agent_version else {})},
        "origin": {"name": "voyant-agent"},
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "dose_rate", {
            "name": "Dose rate",
            "state_topic": wire.topic(device.site, device.room, wire.DOSE_RATE),
            "unit_of_measurement": DOSE_RATE_UNIT, "state_class": "measurement",
            "suggested_display_precision": 3, "icon": "mdi:radioactive"}),
        _binary("Emitting", "emitting", _input_template("emission"), None, "mdi:radioactive"),
        _binary("Generator powered", "generator_powered",
                _input_template("generator_powered"), "power"),
        _binary("Alarm active", "alarm_active",
                "{{ 'ON' if value_json.alarms | length > 0 else 'OFF' }}", "safety"),
    ]
    out = []
    for component, object_id, config in entities:
        payload = {**config, "unique_id": f"{node}_{object_id}", **common}
        if component == "binary_sensor":
            payload["state_topic"] = live
        out.append(DiscoveryMessage(
            f"{DISCOVERY_PREFIX}/{component}/{node}/{object_id}/config",
            json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()))
    return out


def publish_discovery(client: mqtt.Client, settings: Mqtt, device: Device,
                      agent_version: str = "") -> int:
    """On connect: publish the discovery configs when ``settings.home_assistant``; how many.

    Off (the default), nothing is sent: retained configs an earlier run left on the
    broker stay until removed (an empty retained message on each topic).
    """
    if not settings.home_assistant:
        return 0
    messages = discovery_messages(device, agent_version)
    for message in messages:
        client.publish(message.topic, message.payload, qos=1, retain=True)
    return len(messages)
