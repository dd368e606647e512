"""What a hostile room sends: the attack of issue 12, as (topic, payload) messages.

Room A (``chu.ir1``) has its real credentials; the broker's ACL lets it write
only its own room's topics, so every message here goes to A's topics unless it
is meant for the ACL to drop. The payloads claim what they like: B's device
name, B's journal, devices nobody provisioned, impossible dates, numbers past
every bound. Each builder returns the messages and says what the hub must do
with them; the suite (tests/test_hostile_devices.py) sends them through a real
Mosquitto to a running hub.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, get_args

from hub.broker.files import DeviceAccount
from hub.timefmt import iso
from tests.contract_strategies import record
from tests.hub_factory import alarm, exposure, reading
from tests.mqtt_fixtures import DEVICES
from tests.test_pages_survive import drawn
from wire.contract import (
    ALARMS,
    EXPOSURES,
    LIVE,
    MAX_SEQ,
    READINGS,
    STATUS,
    WINDOW,
    batch_payload,
    topic,
)
from wire.records import AlarmItem, ExposureItem, ReadingItem
from wire.states import Live, Status

A, B = DEVICES
#: An account the broker knows but the hub's registry (its devices file) does not list.
C = DeviceAccount("chu.ir3", "ir3-secret", "chu", "ir3")
#: A's own journal, for what a stolen box may still say about its own room.
A_JOURNAL = "a1" * 16
#: The mark of every forged value: no record, row or event of the hub may ever hold it.
MARK = "forged-by-ir1"
FORGED_COUNTS = 424_242
FORGED_RECORDS = 400
GHOSTS = 200

#: A batch's ``sent``: any real instant (the hub never trusts it).
SENT = "2026-01-05T07:00:00Z"

Msg = tuple[str, bytes]


@dataclass
class Sent:
    """Messages to send, in order."""

    messages: list[Msg] = field(default_factory=list)

    def add(self, message: Msg) -> None:
        self.messages.append(message)


def _envelope(kind: str, items: list[dict[str, Any]], device: str, journal: str,
              room: DeviceAccount = A, on: DeviceAccount = A) -> Msg:
    """A batch whose envelope names ``device``/``room``, published on ``on``'s topic."""
    payload = batch_payload(kind, device, room.site, room.room, journal, SENT, items)
    return topic(on.site, on.room, kind), payload


def _chunks(items: list[dict[str, Any]], size: int = 20) -> list[list[dict[str, Any]]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _when(now: float, seq: int) -> dict[str, Any]:
    return {"start": iso(now - 600 + seq), "end": iso(now - 590 + seq)}


# -- impersonation by payload --------------------------------------------------------------


def forged(b_journal: str, now: float) -> Sent:
    """400 records aimed at B's journal from A's topics: 300 naming B (readings, and
    exposures and alarms with B's own run and numbers, so that one stored would overwrite
    B's), 100 under A's own name but in B's journal (a journal belongs to its first device).
    Every one must be quarantined under A, none stored."""
    out = Sent()
    readings = [reading(s, counts=FORGED_COUNTS, calibration=MARK, **_when(now, s))
                for s in range(1, 201)]
    exposures = [exposure(s, s - 200, "closed", calibration=MARK, start=iso(now - 300 + s))
                 for s in range(201, 251)]
    alarms = [alarm(s, s - 250, "raised", subject=MARK, at=iso(now - 200 + s),
                    since=iso(now - 200 + s)) for s in range(251, 301)]
    for kind, items in ((READINGS, readings), (EXPOSURES, exposures), (ALARMS, alarms)):
        for chunk in _chunks(items):
            out.add(_envelope(kind, chunk, B.username, b_journal))
    theirs = [reading(s, counts=FORGED_COUNTS, calibration=MARK, **_when(now, s))
              for s in range(301, FORGED_RECORDS + 1)]
    for chunk in _chunks(theirs):
        out.add(_envelope(READINGS, chunk, A.username, b_journal))
    return out


def status(device: str, journal: str, now: float, room: DeviceAccount = A,
           on: DeviceAccount = A, agent: str = MARK, oldest: int | None = None) -> Msg:
    message = Status(v=1, device=device, site=room.site, room=room.room, state="online",
                     at=iso(now), journal=journal, agent=agent, heartbeat_s=3600.0,
                     oldest=oldest)
    return topic(on.site, on.room, STATUS), message.to_bytes()


def live(device: str, now: float, room: DeviceAccount = A, on: DeviceAccount = A,
         mark: str = MARK, **extra: Any) -> Msg:
    message = Live(v=1, device=device, site=room.site, room=room.room, at=iso(now),
                   inputs={"emission": True, f"door.{mark}": True}, alarms=[],
                   exposure_open=True, dose_rate_usv_h=1e7, calibration=mark, **extra)
    return topic(on.site, on.room, LIVE), message.to_bytes()


def rewrites(b_journal: str, now: float) -> Sent:
    """Attempts to rewrite B's device row (site, room, journal, agent) from A's topics."""
    out = Sent()
    out.add(status(B.username, "b0" * 16, now))           # B's name, a new journal
    out.add(status(B.username, b_journal, now))           # B's name, B's journal
    out.add(status(B.username, b_journal, now, room=B))   # B's room in A's topic
    out.add(status(A.username, b_journal, now))           # A's name, B's journal
    out.add(live(B.username, now))
    out.add(live(B.username, now, journal=b_journal))
    out.add(live(B.username, now, room=B))
    return out


def ghosts(now: float) -> Sent:
    """200 devices nobody provisioned, named in payloads on A's topics: a record batch or
    a status each. None may become a device."""
    out = Sent()
    for i in range(GHOSTS):
        name, journal = f"ghost-{i:03d}", f"{i + 1:032x}"
        if i % 2:
            out.add(status(name, journal, now))
        else:
            out.add(_envelope(READINGS, [reading(1, **_when(now, 1))], name, journal))
    return out


def replays(b_readings: list[dict[str, Any]], b_journal: str) -> tuple[Sent, Sent]:
    """B's own batches sent again by A: as B sent them (B's room, on A's topic), re-addressed
    to A's room, and on B's own topic (which the ACL drops). Returns (to the hub, dropped)."""
    out, dropped = Sent(), Sent()
    for chunk in _chunks(b_readings, 10):
        out.add(_envelope(READINGS, chunk, B.username, b_journal, room=B))
        out.add(_envelope(READINGS, chunk, B.username, b_journal))
        dropped.add(_envelope(READINGS, chunk, B.username, b_journal, room=B, on=B))
    return out, dropped


def acl_dropped(now: float) -> Sent:
    """Topics A's account may not write: the broker drops them, the hub never sees them."""
    body = status(A.username, A_JOURNAL, now)[1]
    out = Sent()
    for name in ("voyant/v1/chu/ir9/status", "voyant/v1/chu/ir1/bogus", topic(B.site, B.room,
                 STATUS), topic(A.site, A.room, "ack"), "voyant/v1/chu/ir1/status/x",
                 "voyant/v2/chu/ir1/status", "$SYS/broker/forged"):
        out.add((name, body))
    return out


def unprovisioned(now: float) -> Sent:
    """C's own topics, with its own name: the broker lets them through, the hub's registry
    does not list C. Nothing may be created."""
    out = Sent()
    out.add(status(C.username, "c3" * 16, now, room=C, on=C, agent="voyant-edge"))
    out.add(_envelope(READINGS, [reading(1, **_when(now, 1))], C.username, "c3" * 16,
                      room=C, on=C))
    out.add(live(C.username, now, room=C, on=C, mark="corridor"))
    return out


# -- what A may say of its own room -----------------------------------------------------


@dataclass
class Extremes:
    """A's own records at the contract's edges: which are stored and which quarantined."""

    messages: list[Msg]
    stored: dict[str, list[int]]           # kind → seqs the hub must store
    quarantined: list[int]                  # seqs the hub must quarantine (counted)
    items: dict[int, dict[str, Any]]        # seq → the record as sent
    last: int


def _spoilt(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**item, **changes}


def extremes(now: float, draws: int = 30) -> Extremes:
    """Year 0001 and 9999 (valid: stored, flagged), 2026-02-30 and hour 25 (invalid),
    1e308 and NaN (invalid), end before start (invalid); exposures and an alarm of year
    9999 and 0001; then records drawn from the contract's bounds (valid: stored)."""
    seq = 0

    def nxt() -> int:
        nonlocal seq
        seq += 1
        return seq

    stored: dict[str, list[int]] = {READINGS: [], EXPOSURES: [], ALARMS: []}
    bad: list[int] = []
    items: dict[int, dict[str, Any]] = {}
    batches: list[tuple[str, list[dict[str, Any]]]] = []

    def keep(kind: str, item: dict[str, Any], valid: bool) -> dict[str, Any]:
        items[item["seq"]] = item
        (stored[kind] if valid else bad).append(item["seq"])
        return item

    base: dict[str, Any] = {"start": iso(now - 60), "end": iso(now - 50)}
    r = [keep(READINGS, reading(nxt(), **base), True),
         keep(READINGS, reading(nxt(), start="0001-01-01T00:00:00Z",
                                end="0001-01-01T00:00:10Z"), True),
         keep(READINGS, reading(nxt(), start="9999-12-31T23:59:50Z",
                                end="9999-12-31T23:59:59.999999999Z"), True)]
    for changes in ({"start": "2026-02-30T10:00:00Z"}, {"end": "2026-01-05T25:00:00Z"},
                    {"mean_usv_h": 1e308}, {"max_usv_h": 1e308}, {"cpm": math.nan},
                    {"start": iso(now - 40), "end": iso(now - 50)}):
        r.append(keep(READINGS, _spoilt(reading(nxt(), **base), **changes), False))
    batches.append((READINGS, r))
    run = 4242  # numbers of A's own: the drawn records may use any other
    e = [keep(EXPOSURES, exposure(nxt(), 1, "closed", run=run, start="9999-12-31T23:59:50Z"),
              True),
         keep(EXPOSURES, exposure(nxt(), 2, "closed", run=run, start="0001-01-01T00:00:00Z",
                                  end="0001-01-01T00:00:03Z"),
              True),
         keep(EXPOSURES, _spoilt(exposure(nxt(), 3, "closed", run=run), start=iso(now),
                                 end=iso(now - 5)), False),
         keep(EXPOSURES, _spoilt(exposure(nxt(), 4, "closed", run=run), dose_usv=1e308),
              False)]
    batches.append((EXPOSURES, e))
    a = [keep(ALARMS, alarm(nxt(), 1, "raised", run=run, at="9999-12-31T23:59:59Z",
                            since="9999-12-31T23:59:59Z"), True),
         keep(ALARMS, alarm(nxt(), 2, "raised", run=run, at="0001-01-01T00:00:00Z",
                            since="0001-01-01T00:00:00Z"), True),
         keep(ALARMS, _spoilt(alarm(nxt(), 3, "raised", run=run), at="2026-02-30T10:00:00Z"),
              False)]
    batches.append((ALARMS, a))
    for kind, model, count in ((READINGS, ReadingItem, draws), (EXPOSURES, ExposureItem,
                               draws // 3), (ALARMS, AlarmItem, draws // 3)):
        found = drawn(record(model, now, seq=1), count)
        for item in found:
            item["seq"] = nxt()
            if kind != READINGS and item["run"] == run:
                item["run"] = run + 1
            keep(kind, item, True)
        batches += [(kind, chunk) for chunk in _chunks(found, 10)]
    messages = [_envelope(kind, chunk, A.username, A_JOURNAL) for kind, chunk in batches]
    return Extremes(messages, stored, bad, items, seq)


def own(seq: int) -> Msg:
    """One ordinary reading of A's own journal."""
    return _envelope(READINGS, [reading(seq)], A.username, A_JOURNAL)


def jumps(upto: int) -> dict[str, Msg]:
    """Sequence numbers no agent has in flight: the largest there is, and one past the
    window above what the hub acknowledged."""
    return {"max": own(MAX_SEQ), "window": own(upto + WINDOW + 1)}


def held_alarm_of_year_9999(now: float) -> Msg:
    """A's live state holding an alarm its journal could not write, dated year 9999."""
    held = {"event": "raised", "run": 4242, "number": 99, "kind": "door_open_during_emission",
            "subject": "corridor", "at": "9999-12-31T23:59:59Z",
            "since": "9999-12-31T23:59:59Z"}
    return live(A.username, now, mark="corridor", journal=A_JOURNAL, held_alarms=[held])


def as_items(rows: list[tuple[Any, ...]], columns: list[str]) -> list[dict[str, Any]]:
    """B's readings as the hub stored them, back into the records B sent."""
    fields = ReadingItem.model_fields
    flags = {n for n, f in fields.items() if bool in (f.annotation, *get_args(f.annotation))}
    out = []
    for row in rows:
        values = {c: bool(v) if c in flags and v is not None else v
                  for c, v in zip(columns, row, strict=True) if c in fields}
        out.append(ReadingItem.model_validate(values).model_dump(mode="json"))
    return out
