"""The embedded (amqtt) demo broker: paho devices in, an aiomqtt hub out, production's ACL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
import pytest_asyncio

from hub.broker.embedded import EmbeddedBroker, SubscriptionsSnapshot
from hub.broker.files import DeviceAccount, HubAccount
from tests.mqtt_fixtures import DEVICES, HUB, ProbeFactory
from wire.contract import ACK, HUB_SUBSCRIPTION, LIVE, READINGS, topic

IR1, IR2 = topic("chu", "ir1", READINGS), topic("chu", "ir2", READINGS)


@pytest_asyncio.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(HUB, DEVICES, port=0) as running:
        yield running


def _client(broker: EmbeddedBroker, account: HubAccount | DeviceAccount, *,
            clean: bool = True) -> aiomqtt.Client:
    """``account`` logged in under its own client id (``clean``: a clean session)."""
    return aiomqtt.Client(broker.host, broker.port, username=account.username,
                          password=account.password, identifier=account.username,
                          clean_session=clean)


def _hub(broker: EmbeddedBroker) -> aiomqtt.Client:
    return _client(broker, HUB)


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


async def _until(client: aiomqtt.Client, payload: bytes) -> list[tuple[str, bytes]]:
    """What ``client`` receives up to the message ``payload`` (the barrier), in order."""
    received: list[tuple[str, bytes]] = []
    async with asyncio.timeout(10):
        async for message in client.messages:
            received.append((message.topic.value, bytes(message.payload)))
            if message.payload == payload:
                return received
    raise AssertionError(f"the messages ended before {payload!r}: {received}")


@pytest.mark.asyncio
async def test_a_connecting_device_gets_its_own_retained_ack_and_no_other_rooms_messages(
    broker: EmbeddedBroker,
) -> None:
    """amqtt 0.12 sent a connecting client the retained messages of every filter any client
    held: the hub's ``voyant/v1/+/+/+`` handed ir2 the ack and live state of ir1."""
    ir1, ir2 = DEVICES
    own_ack = topic(ir2.site, ir2.room, ACK)
    async with _hub(broker) as hub:
        await hub.subscribe(HUB_SUBSCRIPTION, qos=1)
        for device in DEVICES:
            await hub.publish(topic(device.site, device.room, ACK), b"retained ack", qos=1,
                              retain=True)
        async with _client(broker, ir1) as room:
            await room.publish(topic(ir1.site, ir1.room, LIVE), b"{}", qos=1, retain=True)
        async with _client(broker, ir2) as room:
            await room.subscribe(own_ack, qos=1)
            # The barrier: sent after the subscription, so it arrives after anything the
            # broker sent ir2 on connecting or subscribing.
            await hub.publish(own_ack, b"barrier", qos=1)
            received = await _until(room, b"barrier")
    assert received == [(own_ack, b"retained ack"), (own_ack, b"barrier")]


@pytest.mark.asyncio
async def test_a_persistent_session_reconnecting_gets_the_retained_ack_of_its_own_filter(
    broker: EmbeddedBroker,
) -> None:
    """The agents and the hub keep their sessions (``clean_session=False``): on reconnecting,
    a room holds its ack filter still, and gets that filter's retained message, only."""
    ir2 = DEVICES[1]
    own_ack = topic(ir2.site, ir2.room, ACK)
    async with _hub(broker) as hub:
        await hub.subscribe(HUB_SUBSCRIPTION, qos=1)
        async with _client(broker, ir2, clean=False) as room:
            await room.subscribe(own_ack, qos=1)
        for device in DEVICES:
            await hub.publish(topic(device.site, device.room, ACK), b"new ack", qos=1,
                              retain=True)
        async with _client(broker, ir2, clean=False) as room:  # no new subscription
            await hub.publish(own_ack, b"barrier", qos=1)
            received = await _until(room, b"barrier")
    # Once as the retained message of its filter, once queued while it was away (QoS 1).
    assert set(received) == {(own_ack, b"new ack"), (own_ack, b"barrier")}


ROOMS = tuple(DeviceAccount(f"site.r{n}", f"r{n}-secret", "site", f"r{n}") for n in range(40))
ROUNDS = 3


@pytest_asyncio.fixture
async def loop_failures() -> AsyncIterator[list[object]]:
    """What the running loop reports (an exception no task retrieved), the test's own
    handler put back after it."""
    loop = asyncio.get_running_loop()
    failures: list[object] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda _loop, context: failures.append(context.get("exception") or context["message"]))
    try:
        yield failures
    finally:
        loop.set_exception_handler(before)


@pytest.mark.asyncio
async def test_rooms_connecting_all_at_once_are_all_heard(loop_failures: list[object]) -> None:
    """amqtt 0.12 walked its table of subscriptions across awaits: a room subscribing or
    leaving meanwhile raised ``dictionary changed size during iteration``, and the room that
    was connecting, or the message that was broadcast, was lost (a demo room stayed silent).

    Half the rooms keep their sessions, as the agents do: reconnecting, each holds its
    filter, and amqtt awaits inside its walk to send it the retained ack; the other half
    take their filters out and put them back meanwhile."""
    async with EmbeddedBroker(HUB, ROOMS, port=0) as broker, _hub(broker) as hub:
        await hub.subscribe(HUB_SUBSCRIPTION, qos=1)
        for room in ROOMS:  # the retained messages amqtt awaits to send
            await hub.publish(topic(room.site, room.room, ACK), b"0", qos=1, retain=True)

        async def connect_subscribe_publish(n: int, room: DeviceAccount, round_: int) -> None:
            async with _client(broker, room, clean=n % 2 == 0) as client:
                await client.subscribe(topic(room.site, room.room, ACK), qos=1)
                await client.publish(topic(room.site, room.room, READINGS), f"{round_}", qos=1)

        for round_ in range(ROUNDS):
            async with asyncio.TaskGroup() as rooms:
                for n, room in enumerate(ROOMS):
                    rooms.create_task(connect_subscribe_publish(n, room, round_))
        heard: set[tuple[str, str]] = set()
        expected = {(topic(r.site, r.room, READINGS), f"{n}") for r in ROOMS for n in range(ROUNDS)}
        try:
            async with asyncio.timeout(20):
                async for message in hub.messages:
                    if message.topic.matches(f"+/+/+/+/{READINGS}"):
                        heard.add((message.topic.value, bytes(message.payload).decode()))
                    if heard == expected:
                        break
        except TimeoutError:
            raise AssertionError(f"never heard: {sorted(expected - heard)}") from None
    assert loop_failures == []


def test_the_table_of_subscriptions_changes_under_a_walk_without_disturbing_it() -> None:
    """What amqtt does across an await, in one thread: a filter added and one taken out while
    it walks the keys, a subscriber taken out of a list while it walks the items."""
    table = SubscriptionsSnapshot({"a": ["s1", "s2"], "b": ["s3"]})
    walked = []
    for key in table:
        walked.append(key)
        table[f"new-{key}"] = []
        table.pop("b", None)
    assert walked == ["a", "b"]
    assert set(table) == {"a", "new-a", "new-b"}
    seen = []
    for key, subscribers in table.items():
        for subscriber in subscribers:
            seen.append(subscriber)
            table[key].remove(subscriber)
    assert seen == ["s1", "s2"] and table["a"] == []
