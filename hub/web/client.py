"""Who is on the other end: the client's address, through named reverse proxies only.

``X-Forwarded-For`` is a header anyone can write. It is read only when the
peer (the TCP connection's other end) is one of ``[web] trusted_proxies``;
then the client is the right-most address of the chain that is not a
trusted proxy (each proxy appends the address it saw, so everything left of
that is what the client claimed about itself). With no trusted proxy, the
peer is the client, whatever the header says. uvicorn's own proxy-header
handling is off (``hub/cli.py``), so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Hops of a chain looked at, from the right: a longer header is someone's invention.
MAX_HOPS = 16


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The trusted proxies of the configuration (already validated there)."""
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def client_address(peer: str, forwarded_for: list[str],
                   trusted: tuple[Network, ...]) -> str:
    """The client's address, given the peer's and the ``X-Forwarded-For`` header values.

    A hop that is not an IP address ends the walk: the last trusted hop is
    then the best this hub can say.
    """
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    closest = peer
    for hop in reversed(hops[-MAX_HOPS:]):
        address = _address(hop)
        if address is None:
            return closest
        if not _trusted(address, trusted):
            return address
        closest = address
    return closest


def request_address(request: Request) -> str:
    """The request's client address (cached on the request: computed once)."""
    cached = getattr(request.state, "client_address", None)
    if isinstance(cached, str):
        return cached
    peer = request.client.host if request.client is not None else ""
    trusted: tuple[Network, ...] = getattr(request.app.state, "trusted_proxies", ())
    address = client_address(str(peer), request.headers.getlist("x-forwarded-for"), trusted)
    request.state.client_address = address
    return address


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket's ::ffff:10.0.0.5 is 10.0.0.5
    return any(ip in network for network in trusted)
