"""MQTT fixtures: a real Mosquitto with the production ACL, and paho probes that wait, not sleep.

``mosquitto`` is a running :class:`sim.broker.Mosquitto` with the hub user
``hub`` and devices ``chu.ir1`` (chu/ir1) and ``chu.ir2`` (chu/ir2); their
passwords are ``mosquitto.accounts[username].password``. ``make_mosquitto``
starts one with other accounts or settings. ``mqtt_probe`` makes connected
paho clients that record what they receive. A missing Mosquitto fails the
test (naming the Debian package): CI must have it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.broker.files import DeviceAccount, HubAccount
from sim.broker import Mosquitto, MosquittoMissing

HUB = HubAccount("hub", "hub-secret")
DEVICES = (
    DeviceAccount("chu.ir1", "ir1-secret", "chu", "ir1"),
    DeviceAccount("chu.ir2", "ir2-secret", "chu", "ir2"),
)
TIMEOUT = 10.0  # every wait's deadline: generous, since a passing test never reaches it


class MqttProbe:
    """A paho client (network thread running) that records messages and broker replies."""

    def __init__(self, host: str, port: int, username: str, password: str, *,
                 client_id: str = "", protocol: int = mqtt.MQTTv5,
                 clean: bool = True) -> None:
        self._cond = threading.Condition()
        self.messages: list[mqtt.MQTTMessage] = []
        self.published: dict[int, ReasonCode] = {}  # mid -> PUBACK reason code
        self.subscribed: dict[int, list[ReasonCode]] = {}  # mid -> SUBACK reason codes
        self.connack: ReasonCode | None = None
        self.disconnects: list[ReasonCode] = []  # unexpected ones; paho reconnects after each
        self.session_present: bool | None = None
        extra: dict[str, Any] = {} if protocol == mqtt.MQTTv5 else {"clean_session": clean}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, **extra)
        self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.05, 1)  # type: ignore[arg-type]  # floats work: fast tests
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self._host, self._port, self._protocol, self._clean = host, port, protocol, clean
        self._closing = False

    # -- callbacks (network thread) ----------------------------------------------------

    def _notify(self, update: Callable[[], None]) -> None:
        with self._cond:
            update()
            self._cond.notify_all()

    def _on_connect(self, _c: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags,
                    rc: ReasonCode, _p: Properties | None) -> None:
        def update() -> None:
            self.connack, self.session_present = rc, flags.session_present
        self._notify(update)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: mqtt.DisconnectFlags,
                       rc: ReasonCode, _p: Properties | None) -> None:
        if not self._closing:
            self._notify(lambda: self.disconnects.append(rc))

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._notify(lambda: self.messages.append(message))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode,
                    _p: Properties) -> None:
        self._notify(lambda: self.published.__setitem__(mid, rc))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode],
                      _p: Properties) -> None:
        self._notify(lambda: self.subscribed.__setitem__(mid, codes))

    # -- use (test thread) -------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], what: str,
                 timeout: float = TIMEOUT) -> None:
        """Block until ``predicate()`` holds (checked at every callback) or fail at the deadline."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def connect(self) -> ReasonCode:
        """Connect and wait for the CONNACK; return its reason code (a failure too)."""
        self.connack, self._closing = None, False
        options: dict[str, Any] = {}
        if self._protocol == mqtt.MQTTv5:  # MQTT 3 takes clean_session in the constructor
            props = Properties(PacketTypes.CONNECT)
            if not self._clean:
                props.SessionExpiryInterval = 3600
            options = {"clean_start": self._clean, "properties": props}
        self.client.connect(self._host, self._port, keepalive=30, **options)
        self.client.loop_start()
        self.wait_for(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        """Subscribe and wait for the SUBACK; return its reason codes."""
        _, mid = self.client.subscribe(topic, qos)
        self.wait_for(lambda: mid in self.subscribed, f"SUBACK for {topic}")
        return self.subscribed[mid]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False) -> int:
        """Publish without waiting; return the message id."""
        return self.client.publish(topic, payload, qos, retain).mid

    def publish_wait(self, topic: str, payload: bytes | str, qos: int = 1,
                     retain: bool = False) -> ReasonCode:
        """Publish at QoS >= 1 and wait for the broker's PUBACK; return its reason code."""
        mid = self.publish(topic, payload, qos, retain)
        self.wait_for(lambda: mid in self.published, f"PUBACK for {topic}")
        return self.published[mid]

    def received(self, topic: str | None = None) -> list[bytes]:
        with self._cond:
            return [m.payload for m in self.messages if topic in (None, m.topic)]

    def wait_received(self, topic: str, payload: bytes) -> list[mqtt.MQTTMessage]:
        """Wait until ``payload`` arrives on ``topic``; return everything received up to it."""
        def arrived() -> bool:
            return any(m.topic == topic and m.payload == payload for m in self.messages)
        self.wait_for(arrived, f"{payload[:40]!r} on {topic}")
        with self._cond:
            return list(self.messages)

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()


ProbeFactory = Callable[..., MqttProbe]


class Broker(Protocol):
    """What a probe needs of a broker: :class:`Mosquitto` or the embedded one."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def accounts(self) -> Mapping[str, HubAccount | DeviceAccount]: ...


@pytest.fixture
def make_mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """``make(hub=HUB, devices=DEVICES, **Mosquitto options)``: a started broker, stopped after."""
    brokers: list[Mosquitto] = []

    def make(hub: HubAccount = HUB, devices: Sequence[DeviceAccount] = DEVICES,
             **options: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{len(brokers)}", hub, devices, **options)
        brokers.append(broker)
        try:
            return broker.start()
        except MosquittoMissing as exc:
            pytest.fail(str(exc), pytrace=False)

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(make_mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    """A running Mosquitto with ``hub``, ``chu.ir1`` and ``chu.ir2`` (see ``.accounts``)."""
    return make_mosquitto()


@pytest.fixture
def mqtt_probe() -> Iterator[ProbeFactory]:
    """``probe(broker, username, *, connect=True, password=None, **MqttProbe options)``."""
    probes: list[MqttProbe] = []

    def make(broker: Broker, username: str, *, connect: bool = True,
             password: str | None = None, **options: Any) -> MqttProbe:
        if password is None:
            password = broker.accounts[username].password
        probe = MqttProbe(broker.host, broker.port, username, password, **options)
        probes.append(probe)
        if connect:
            rc = probe.connect()
            assert not rc.is_failure, f"{username} refused: {rc}"
        return probe

    yield make
    for probe in probes:
        probe.close()
