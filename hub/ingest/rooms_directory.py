"""Which device speaks for which room: the provisioned accounts, the hub's registry.

The broker authenticates each device by its account and lets it write only its
own room's topics (the ACL generated from the same devices file). So the topic
a message arrived on names its sender; what the payload says of itself
(``device``, ``site``, ``room``) is only a claim to check against it. This
module answers "who may write ``voyant/v1/<site>/<room>/…``" from the devices
file (``[broker] devices``), read at start and again on SIGHUP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hub.broker.config import read_devices_file


class RoomDirectory(Protocol):
    """Answers which device account owns a room's topics (None: nobody provisioned)."""

    def device_for(self, site: str, room: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ProvisionedRooms:
    """The rooms of a devices file: (site, room) → the device's account name (its id)."""

    rooms: Mapping[tuple[str, str], str] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_file(cls, path: str | Path) -> ProvisionedRooms:
        """Read and validate the devices TOML (passwords are neither needed nor read)."""
        spec = read_devices_file(Path(path))
        return cls({(d.site, d.room): username for username, d in spec.devices.items()},
                   str(path))

    def device_for(self, site: str, room: str) -> str | None:
        return self.rooms.get((site, room))

    def __len__(self) -> int:
        return len(self.rooms)
