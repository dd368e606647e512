"""Valid wire messages for the hub's tests, built with the contract's own models."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.config import Ingest as IngestSettings
from hub.db.store import Store
from hub.ingest.core import AckOut, IngestCore
from hub.ingest.rooms_directory import RoomDirectory
from hub.timefmt import iso
from wire.contract import (
    ALARMS,
    EXPOSURES,
    LIVE,
    READINGS,
    STATUS,
    AlarmItem,
    ExposureItem,
    Live,
    ReadingItem,
    Status,
    batch_payload,
    topic,
)

T0 = 1_767_596_400.0  # 2026-01-05T07:00:00Z
SITE, ROOM, DEVICE = "chu-nord", "salle-3", "chu-nord.salle-3"
JOURNAL = "0123456789abcdef0123456789abcdef"
JOURNAL_2 = "fedcba9876543210fedcba9876543210"

Msg = tuple[str, bytes]


class EveryRoomAsSiteDotRoom:
    """The tests' registry of rooms: every room provisioned, its device named
    ``<site>.<room>`` (the default name of ``voyant-hub device add``)."""

    def device_for(self, site: str, room: str) -> str | None:
        return f"{site}.{room}"


def core(store: Store, now: float = T0, rooms: RoomDirectory | None = None,
         **settings: Any) -> IngestCore:
    return IngestCore(store, IngestSettings(**settings), now,
                      rooms if rooms is not None else EveryRoomAsSiteDotRoom())


def open_store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "hub.db")


def reading(seq: int, run: int = 1, **changes: Any) -> dict[str, Any]:
    at = T0 + 10 * (seq % 10**9)  # any seq, even 2**53 - 1, gets a real time
    fields: dict[str, Any] = dict(
        seq=seq, run=run, start=iso(at), end=iso(at + 10), counts=12,
        seconds_covered=10.0, cpm=72.0, dose_usv=0.0003, mean_usv_h=0.1, mean_sigma_usv_h=0.03,
        max_usv_h=0.2, max_sigma_usv_h=0.05, saturated=False, calibration="sbm20/Cs-137",
        frames=100, frames_lost=0,
    )
    fields.update(changes)
    return ReadingItem.model_validate(fields).model_dump(mode="json")


def exposure(seq: int, number: int, event: str, run: int = 1, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        seq=seq, event=event, run=run, number=number, start=iso(T0 + 5), requested=True,
        procedure=1, pulses=3, doors_open=[], emission_light_ok=True, alarms=[],
    )
    if event != "opened":
        fields.update(end=iso(T0 + 8), duration_s=3.0, dose_usv=0.01,
                      max_dose_rate_usv_h=12.5, saturated=False, calibration="sbm20/Cs-137")
        if "start" in changes and "end" not in changes:  # 3 s after a start of the test's
            started = datetime.fromisoformat(str(changes["start"]).replace("Z", "+00:00"))
            fields["end"] = iso(started.timestamp() + 3)
    fields.update(changes)
    return ExposureItem.model_validate(fields).model_dump(mode="json")


def alarm(seq: int, number: int, event: str, run: int = 1, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        seq=seq, event=event, run=run, number=number, kind="door_open_during_emission",
        subject="corridor", at=iso(T0 + 6), since=iso(T0 + 6),
    )
    if event != "raised":
        fields["cleared"] = iso(T0 + 9)
    fields.update(changes)
    return AlarmItem.model_validate(fields).model_dump(mode="json")


def batch(
    kind: str, items: list[dict[str, Any]], device: str = DEVICE, site: str = SITE,
    room: str = ROOM, journal: str = JOURNAL, oldest: int | None = None,
) -> Msg:
    payload = batch_payload(kind, device, site, room, journal, iso(T0 + 100), items, oldest)
    return topic(site, room, kind), payload


def readings(first: int, last: int, **kwargs: Any) -> Msg:
    return batch(READINGS, [reading(s) for s in range(first, last + 1)], **kwargs)


def exposures(*items: dict[str, Any], **kwargs: Any) -> Msg:
    return batch(EXPOSURES, list(items), **kwargs)


def alarms(*items: dict[str, Any], **kwargs: Any) -> Msg:
    return batch(ALARMS, list(items), **kwargs)


def status(
    state: str, at: float, heartbeat_s: float = 10.0, journal: str = JOURNAL,
    device: str = DEVICE, site: str = SITE, room: str = ROOM, oldest: int | None = None,
) -> Msg:
    message = Status(v=1, device=device, site=site, room=room, state=state,  # type: ignore[arg-type]
                     at=iso(at), journal=journal, agent="voyant-edge 0.1.0",
                     heartbeat_s=heartbeat_s, oldest=oldest)
    return topic(site, room, STATUS), message.to_bytes()


def live(at: float, device: str = DEVICE, site: str = SITE, room: str = ROOM) -> Msg:
    message = Live(v=1, device=device, site=site, room=room, at=iso(at),
                   inputs={"emission": False}, alarms=[], exposure_open=False,
                   dose_rate_usv_h=0.1)
    return topic(site, room, LIVE), message.to_bytes()


def acked(acks: list[AckOut]) -> list[tuple[str, str, int]]:
    """(device, journal, upto) of each ack, checked against its payload."""
    out = []
    for ack in acks:
        body = json.loads(ack.payload)
        assert (body["device"], body["journal"], body["upto"]) == (
            ack.device, ack.journal, ack.upto)
        assert ack.topic.endswith("/ack")
        out.append((ack.device, ack.journal, ack.upto))
    return out
