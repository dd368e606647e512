"""Home Assistant MQTT discovery: the topics a room's agent may publish its discovery configs on.

Shared by the agent (:mod:`edge_agent.ha_discovery`, which publishes the
configs) and the broker's ACL (:mod:`hub.broker.files`, which lets each device
write its own node's discovery topics, and no one else's). Home Assistant's
discovery topic is ``<prefix>/<component>/<node_id>/<object_id>/config``; the
node id must match ``[A-Za-z0-9_-]+``, so it is built from the room's site and
room (both of that alphabet), never from the device id (which may hold dots).
"""

from __future__ import annotations

from typing import Final

#: Home Assistant's default discovery prefix.
DISCOVERY_PREFIX: Final = "homeassistant"


def node_id(site: str, room: str) -> str:
    """The room's discovery node id: ``voyant_<site>_<room>``.

    Two rooms could join to the same id (``a_b``/``c`` and ``a``/``b_c``): the
    broker's account check refuses such a pair (:func:`hub.broker.files.check_accounts`).
    """
    return f"voyant_{site}_{room}"


def discovery_filter(site: str, room: str) -> str:
    """The topic filter of every discovery config of the room: ``homeassistant/+/<node>/#``."""
    return f"{DISCOVERY_PREFIX}/+/{node_id(site, room)}/#"
