"""The demo's broker: amqtt inside the hub's process, with production's accounts and ACL.

For the demo and a bare machine without Mosquitto only: amqtt speaks MQTT
3.1.1 only, does about 2,000 QoS 1 messages/s, and keeps a persistent
session's queue in memory (a hub restart loses it; the agents' outboxes resend
what the hub never acknowledged). Production runs Mosquitto with the files of
:mod:`hub.broker.files`.

Anonymous clients are refused: passwords are checked against the same
``$7$`` hashes Mosquitto uses, and topics against :func:`acl_rules`, the
source of Mosquitto's ACL file. :class:`VoyantBroker` mends two faults of
amqtt 0.12 that the demo's three rooms met.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.plugins.topic_checking import TopicAccessControlListPlugin

from hub.broker.files import (
    Account,
    DeviceAccount,
    HubAccount,
    acl_rules,
    hash_password,
    verify_password,
)

_MODULE = __name__


class AccountsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Accepts a client only with a known username, its password and, as client id, its
    username (no anonymous)."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)  # username -> $7$ hash

    async def authenticate(self, *, session: Any) -> bool:
        """Also refuses a client id that is another account's name: every Voyant client
        connects under its own username, so no account can push another off (Mosquitto's
        generated configuration goes further: ``use_username_as_clientid``)."""
        username = session.username or ""
        hashed = self.config.users.get(username)
        if session.client_id != username and session.client_id in self.config.users:
            return False
        return hashed is not None and verify_password(session.password or "", hashed)


class AclPlugin(TopicAccessControlListPlugin):  # type: ignore[misc]
    """amqtt's ACL plugin, configured for publish, subscribe and receive (not the old ``acl``)."""

    @dataclass
    class Config:
        publish_acl: dict[str, list[str]] = field(default_factory=dict)
        subscribe_acl: dict[str, list[str]] = field(default_factory=dict)
        receive_acl: dict[str, list[str]] = field(default_factory=dict)


def broker_config(hub: HubAccount, devices: Sequence[DeviceAccount], host: str,
                  port: int) -> dict[str, Any]:
    """amqtt's configuration: one TCP listener, our two plugins and nothing else."""
    rules = acl_rules(hub, devices)
    everyone: list[Account] = [hub, *devices]
    reads = {user: list(r.read) for user, r in rules.items()}
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            f"{_MODULE}.AccountsAuthPlugin": {
                "users": {a.username: hash_password(a.password) for a in everyone}},
            f"{_MODULE}.AclPlugin": {
                "publish_acl": {user: list(r.write) for user, r in rules.items()},
                "subscribe_acl": reads, "receive_acl": reads},
        },
    }


class SubscriptionsSnapshot(dict[str, list[Any]]):
    """amqtt's table of subscriptions (filter -> [(session, qos)]), walked over a copy.

    amqtt awaits while it walks the table (to send retained messages to a client
    that connects, to check the receive ACL of each subscriber of a broadcast);
    a client subscribing or leaving meanwhile changes the table, and the walk
    raised ``RuntimeError: dictionary changed size during iteration``: the
    connecting client's session stopped after its CONNACK (a demo room connected
    but unheard) or the broadcast was dropped. A subscriber taken out of a list
    while a broadcast walked it made the walk skip the next one, silently: so
    :meth:`items` copies each list too. amqtt walks the table only by iterating it
    and by :meth:`items` (``keys`` and ``values`` stay views: amqtt does not await
    over them)."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> list[tuple[str, list[Any]]]:  # type: ignore[override]
        return [(key, list(value)) for key, value in super().items()]


class VoyantBroker(Broker):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's broker, with its subscriptions iterated over a copy and retained messages sent
    only for the client's own subscriptions.

    amqtt 0.12 sends a connecting client the retained messages of every filter any
    client holds: a room's box got the other rooms' ``ack`` and ``live`` (and the
    receive ACL was not asked). MQTT sends a retained message to the client that
    subscribes to its topic; here, to a client that holds a matching filter. The
    receive ACL is still not asked for a retained message: the subscribe ACL that
    let the filter in is the same list of rules (:func:`broker_config`), and a
    device's rules name its own topics, without wildcards."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = SubscriptionsSnapshot()

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any,
    ) -> None:
        holders = self._subscriptions.get(subscription[0], [])
        if any(held.client_id == session.client_id for held, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    """amqtt on ``host:port`` (port 0: any free port, read back after :meth:`start`)."""

    def __init__(self, hub: HubAccount, devices: Sequence[DeviceAccount] = (), *,
                 host: str = "127.0.0.1", port: int = 1883) -> None:
        self.hub, self.devices = hub, tuple(devices)
        everyone: list[Account] = [hub, *devices]
        self.accounts: dict[str, Account] = {a.username: a for a in everyone}
        self.host, self.port = host, port
        self._config = broker_config(hub, self.devices, host, port)  # refuses bad accounts now
        self._broker: VoyantBroker | None = None

    async def start(self) -> EmbeddedBroker:
        """Listen; return once the socket is bound."""
        if self._broker is not None:
            raise RuntimeError("embedded broker already started")
        broker = VoyantBroker(self._config, loop=asyncio.get_running_loop())
        await broker.start()
        self._broker = broker
        if self.port == 0:
            self.port = self._bound_port(broker)
        return self

    async def stop(self) -> None:
        """Close the listener and every session."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @staticmethod
    def _bound_port(broker: VoyantBroker) -> int:
        """The port the OS chose (amqtt keeps its asyncio server in ``_servers``)."""
        try:
            return int(broker._servers["default"].instance.sockets[0].getsockname()[1])
        except (AttributeError, KeyError, IndexError) as exc:
            raise RuntimeError("cannot read the embedded broker's port: give one") from exc
