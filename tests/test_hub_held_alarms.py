"""Held alarms in a live state: the event opens at once, and the record later finds it."""

from __future__ import annotations

from typing import Any

from hub.db.store import Store
from hub.timefmt import iso
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    JOURNAL_2,
    ROOM,
    SITE,
    T0,
    Msg,
    alarm,
    alarms,
    core,
    status,
)
from wire.contract import LIVE, Live, topic


def held_live(at: float, journal: str, *held: dict[str, Any]) -> Msg:
    message = Live.model_validate({
        "v": 1, "device": DEVICE, "site": SITE, "room": ROOM, "at": iso(at),
        "inputs": {"emission": True}, "alarms": [{"kind": "journal_fault", "since": iso(T0)}],
        "exposure_open": True, "journal": journal, "held_alarms": list(held)})
    return topic(SITE, ROOM, LIVE), message.to_bytes()


def held(number: int, kind: str, event: str = "raised") -> dict[str, Any]:
    return {"event": event, "run": 1, "number": number, "kind": kind, "at": iso(T0 + 6),
            "since": iso(T0 + 6), "cleared": iso(T0 + 9) if event == "cleared" else None}


def events(store: Store) -> list[tuple[str, str, str, str | None]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT kind, ref, severity, condition_cleared_at FROM events WHERE device = ?"
        " ORDER BY id", [DEVICE]).fetchall()]


def test_held_alarms_open_the_events_their_records_find_later(store: Store) -> None:
    hub = core(store)
    hub.handle_batch([status("online", T0), held_live(
        T0 + 7, JOURNAL, held(1_000_000_001, "journal_fault"),
        held(1, "door_open_during_emission"))], T0 + 7)
    ref = f"{JOURNAL}:1:1"
    assert events(store) == [
        ("journal_fault", f"{JOURNAL}:1:1000000001", "warning", None),
        ("door_open_during_emission", ref, "critical", None)]
    # The heartbeat repeats it; the alarm clears while still held; then its records arrive.
    hub.handle_batch([held_live(T0 + 8, JOURNAL, held(1, "door_open_during_emission")),
                      held_live(T0 + 10, JOURNAL, held(1, "door_open_during_emission",
                                                       "cleared"))], T0 + 10)
    hub.handle_batch([alarms(alarm(1, 1, "raised"), alarm(2, 1, "cleared"))], T0 + 20)
    assert [e[:2] for e in events(store)] == [
        ("journal_fault", f"{JOURNAL}:1:1000000001"), ("door_open_during_emission", ref)]
    assert events(store)[1][3] is not None  # cleared once, by the held state


def test_held_alarms_of_another_journal_are_ignored(store: Store) -> None:
    hub = core(store)
    hub.handle_batch([status("online", T0), held_live(
        T0 + 7, JOURNAL_2, held(1, "unsolicited_emission"))], T0 + 7)
    assert events(store) == []
