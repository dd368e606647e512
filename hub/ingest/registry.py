"""The device registry in memory: where each device is, its journal, whether it is online.

Presence has two sources: the retained ``status`` (``offline`` is also the
broker's last will) and silence: a device whose status says online but that
sends nothing for ``offline_grace × heartbeat_s`` is called offline. A
retained status or live message delivered again (same ``at``) is a replay,
not a sign of life.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class DeviceState:
    device: str
    site: str
    room: str
    last_heard: float
    last_seen: str
    journal: str | None = None
    status_state: str | None = None
    status_at: str | None = None
    heartbeat_s: float | None = None
    agent: str | None = None
    online: bool = False
    live_at: str | None = None
    offline_event: int | None = None
    live_inputs: dict[str, bool] | None = None
    #: It has sent change records: its inputs are journaled, no longer sampled from live.
    sends_changes: bool = False

    def row(self, acked_upto: int) -> dict[str, Any]:
        return {
            "device": self.device, "site": self.site, "room": self.room,
            "journal": self.journal, "acked_upto": acked_upto, "last_seen": self.last_seen,
            "online": int(self.online), "status_state": self.status_state,
            "status_at": self.status_at, "heartbeat_s": self.heartbeat_s, "agent": self.agent,
        }


class Registry:
    """Devices by id, and by (site, room) for the plain dose-rate topic."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceState] = {}
        self.by_room: dict[tuple[str, str], str] = {}
        self.dirty: set[str] = set()

    def heard(self, device: str, site: str, room: str, now: float, at: str) -> DeviceState:
        """The device sent something valid: note where and when."""
        dev = self.devices.get(device)
        if dev is None:
            dev = DeviceState(device, site, room, now, at)
            self.devices[device] = dev
        dev.site, dev.room, dev.last_heard, dev.last_seen = site, room, now, at
        self.by_room[(site, room)] = device
        self.dirty.add(device)
        return dev

    def returns(self, dev: DeviceState) -> bool:
        """True when a device called offline for silence is heard again while 'online'."""
        if dev.status_state == "online" and not dev.online:
            dev.online = True
            return True
        return False

    def silent(self, now: float, grace: float) -> list[DeviceState]:
        """Devices online by status that have been silent too long; marked offline."""
        gone = []
        for dev in self.devices.values():
            if not (dev.online and dev.status_state == "online" and dev.heartbeat_s):
                continue
            if now - dev.last_heard >= grace * dev.heartbeat_s:
                dev.online = False
                self.dirty.add(dev.device)
                gone.append(dev)
        return gone

    def take_dirty(self) -> list[DeviceState]:
        out = [self.devices[d] for d in sorted(self.dirty)]
        self.dirty.clear()
        return out
