"""Who sent a message, and what a device may do: identity from the broker, bounds on the rest.

The broker authenticates the account and its ACL binds each account to its own
room's topics, so the *topic* names the sender: :class:`Gate` maps it to the
provisioned device and refuses any payload whose ``device``, ``site`` or
``room`` claims otherwise. A journal id belongs to the first device that used
it. A stolen box can still lie about its own room; what else it can do is
bounded here: messages per second (a token bucket per device), new journals
per Paris day, and quarantined records per device and day (past that, a
refused record is neither kept nor acknowledged — a real agent sends it again
the next day — and a message claiming another identity goes only to the
pruned ``rejected`` table: a flood cannot fill the disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hub.config import Ingest as IngestSettings
from hub.ingest.rooms_directory import RoomDirectory
from hub.workdays import local_date
from wire.errors import HubError


class Refused(HubError):
    """A message the hub will not take from this sender; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Gate:
    """The checks made on every message before it touches the store."""

    def __init__(self, rooms: RoomDirectory, settings: IngestSettings,
                 journal_owners: dict[str, str]) -> None:
        self.rooms = rooms
        self.settings = settings
        #: journal id → the device that used it first (from the store's journals).
        self.owners = journal_owners
        self._buckets: dict[str, _Bucket] = {}
        self._new_journals: dict[tuple[str, str], int] = {}
        self._quarantined: dict[tuple[str, str], int] = {}

    def sender(self, site: str, room: str, now: float) -> str:
        """The provisioned device of a room's topics, within its message rate."""
        device = self.rooms.device_for(site, room)
        if device is None:
            raise Refused(f"no device is provisioned for {site}/{room}")
        rate, burst = self.settings.device_messages_per_s, self.settings.device_burst
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise Refused(f"{device}: more than {rate:g} messages/s (burst {burst})")
        bucket.tokens -= 1.0
        return device

    @staticmethod
    def claims(device: str, claimed: str) -> None:
        """A payload must name the device its topic belongs to."""
        if claimed != device:
            raise Refused(f"payload claims device {claimed!r}; "
                          f"the topic belongs to {device!r}")

    def journal(self, device: str, journal: str, now: float) -> None:
        """Refuse unless ``device`` may write ``journal`` (its own, or a new one within the
        day's budget; the ingest raises ``journal_new`` for it)."""
        owner = self.owners.get(journal)
        if owner is not None:
            if owner != device:
                raise Refused(f"journal {journal} belongs to device {owner!r}")
            return
        key = _day_key(device, now)
        if self._new_journals.get(key, 0) >= self.settings.new_journals_per_day:
            raise Refused(f"{device}: more than {self.settings.new_journals_per_day} new "
                          "journals today")
        self._new_journals[key] = self._new_journals.get(key, 0) + 1
        self.owners[journal] = device

    def may_quarantine(self, device: str, count: int, now: float) -> bool:
        """Room left in today's quarantine budget of ``device`` for ``count`` records."""
        key = _day_key(device, now)
        used = self._quarantined.get(key, 0)
        if used + count > self.settings.quarantine_per_device_day:
            return False
        self._quarantined[key] = used + count
        return True


def _day_key(device: str, now: float) -> tuple[str, str]:
    """A device's Paris day: the period of its new-journal and quarantine budgets."""
    return device, local_date(datetime.fromtimestamp(now, UTC)).isoformat()
