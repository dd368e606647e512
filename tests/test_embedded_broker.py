"""The embedded (amqtt) demo broker: paho devices in, an aiomqtt hub out, production's ACL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
import pytest_asyncio

from hub.broker.embedded import EmbeddedBroker
from tests.mqtt_fixtures import DEVICES, HUB, ProbeFactory
from wire.contract import ACK, HUB_SUBSCRIPTION, READINGS, topic

IR1, IR2 = topic("chu", "ir1", READINGS), topic("chu", "ir2", READINGS)


@pytest_asyncio.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(HUB, DEVICES, port=0) as running:
        yield running


def _hub(broker: EmbeddedBroker, password: str = HUB.password) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, username=HUB.username, password=password,
                          identifier=HUB.username)


async def _next(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(10):
        return await anext(aiter(client.messages))


@pytest.mark.asyncio
async def test_a_paho_device_publishes_and_an_aiomqtt_hub_receives_only_the_legit(
    broker: EmbeddedBroker, mqtt_probe: ProbeFactory
) -> None:
    async with _hub(broker) as hub:
        await hub.subscribe(HUB_SUBSCRIPTION, qos=1)
        device = await asyncio.to_thread(mqtt_probe, broker, "chu.ir1", protocol=mqtt.MQTTv311)
        await asyncio.to_thread(device.publish_wait, IR2, b"forged")  # 3.1.1: acked, dropped
        await asyncio.to_thread(device.publish_wait, IR1, b"legit")
        message = await _next(hub)
        assert (message.topic.value, message.payload) == (IR1, b"legit")


@pytest.mark.asyncio
async def test_a_device_cannot_subscribe_to_another_rooms_ack(
    broker: EmbeddedBroker, mqtt_probe: ProbeFactory
) -> None:
    device = await asyncio.to_thread(mqtt_probe, broker, "chu.ir1", protocol=mqtt.MQTTv311)
    foreign = await asyncio.to_thread(device.subscribe, topic("chu", "ir2", ACK))
    everything = await asyncio.to_thread(device.subscribe, "voyant/v1/#")
    own = await asyncio.to_thread(device.subscribe, topic("chu", "ir1", ACK))
    assert [c.value for c in foreign + everything] == [0x80, 0x80]
    assert not own[0].is_failure


@pytest.mark.asyncio
@pytest.mark.parametrize(("username", "password"), [("hub", "wrong"), ("nobody", "x"),
                                                    ("hub", ""), ("", "")])
async def test_anonymous_and_wrong_passwords_are_refused(
    broker: EmbeddedBroker, username: str, password: str
) -> None:
    client = aiomqtt.Client(broker.host, broker.port, username=username or None,
                            password=password or None)
    with pytest.raises(aiomqtt.MqttError):
        async with asyncio.timeout(10), client:
            pass


@pytest.mark.asyncio
async def test_no_account_can_take_another_s_client_id(broker: EmbeddedBroker) -> None:
    """A device connecting under the hub's client id would push the hub off: refused."""
    device = DEVICES[0]
    async with _hub(broker):
        thief = aiomqtt.Client(broker.host, broker.port, username=device.username,
                               password=device.password, identifier=HUB.username)
        with pytest.raises(aiomqtt.MqttError):
            async with asyncio.timeout(10), thief:
                pass
        other = DEVICES[1].username
        thief = aiomqtt.Client(broker.host, broker.port, username=device.username,
                               password=device.password, identifier=other)
        with pytest.raises(aiomqtt.MqttError):
            async with asyncio.timeout(10), thief:
                pass
