"""``[dicom]``: the hub's DICOM storage service for radiation dose reports (off by default).

Only the listed peers may associate: a calling AE title *and* the address it comes from
(an AE title is a name any device can claim; the address is what the network vouches
for). ``device`` is the site's label of the imaging system behind that peer, kept with
each file it sends. ``port`` 0 takes any free port (tests; the port is logged).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from wire.errors import HubError
from wire.settings import Strict, one_network


def _ae_title(value: str) -> str:
    """An AE title (PS3.5 AE): up to 16 characters of printable ASCII, no backslash;
    leading and trailing spaces are not significant."""
    title = value.strip()
    if not 1 <= len(title) <= 16:
        raise ValueError(f"{value!r}: an AE title has 1 to 16 characters")
    if any(not " " <= ch <= "~" or ch == "\\" for ch in title):
        raise ValueError(f"{value!r}: an AE title is printable ASCII without a backslash")
    return title


def _network(value: str) -> str:
    """A DICOM peer's address or network, never every address."""
    return one_network(value, "allows every address: name the peer's own address")


class DicomBindError(HubError, RuntimeError):
    """The DICOM port is taken or the address is not this machine's (here, not in the
    service's module: the hub's CLI catches it without loading pynetdicom)."""


AeTitle = Annotated[str, AfterValidator(_ae_title)]


class DicomPeer(Strict):
    """One imaging system allowed to send (``[[dicom.peers]]``)."""

    calling_ae_title: AeTitle
    address: Annotated[str, AfterValidator(_network)]
    device: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")

    def admits(self, calling_ae_title: str, address: str) -> bool:
        """Whether an association from ``address`` calling itself so is this peer."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's IPv4 peer
        return (calling_ae_title.strip() == self.calling_ae_title
                and ip in ipaddress.ip_network(self.address))


class Dicom(Strict):
    enabled: bool = False
    ae_title: AeTitle = "VOYANT"
    host: str = Field(default="127.0.0.1", min_length=1)
    port: Annotated[int, Field(ge=0, le=65535)] = 11112
    peers: list[DicomPeer] = Field(default=[], max_length=256)
    #: An imaging device's clock offset beyond this is a drift shown on /admin/imaging.
    clock_tolerance_s: Annotated[float, Field(gt=0, le=86400)] = 120.0

    @model_validator(mode="after")
    def _distinct(self) -> Dicom:
        seen: set[tuple[str, str]] = set()
        for peer in self.peers:
            key = (peer.calling_ae_title, peer.address)
            if key in seen:
                raise ValueError(f"peers: {peer.calling_ae_title} from {peer.address} "
                                 "is listed twice")
            seen.add(key)
        return self

    def peer(self, calling_ae_title: str, address: str) -> DicomPeer | None:
        """The listed peer an association comes from, or None (then it is refused)."""
        return next((p for p in self.peers if p.admits(calling_ae_title, address)), None)
