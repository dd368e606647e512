"""Input changes made while the broker is down reach the hub, and the timeline, after it.

Real processes: Mosquitto with the generated ACL (the change records travel on
the exposures topic, which it allows), ``voyant-hub run`` and ``voyant-sim
room`` (the real agent, journal and publisher) playing an hour of work. The
broker is stopped while the room works and started again: every change the
journal made meanwhile is at the hub once, its hash as the box made it, and
the incident timeline of the hour's unsolicited emission lists them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.events.timeline import timeline
from sim.broker import Mosquitto
from tests.mqtt_fixtures import DEVICES
from tests.wire_rig import (
    Rig,
    assert_hub_equals_journal,
    closing_line,
    journal_id,
    rows,
    wait_until,
)

#: The hour plays in about 15 real seconds (a fifth of its changes come before the broker
#: stops, at the earliest): the outage spans several exposures.
SPEED = 250.0
DRAIN_S = 120.0


@pytest.fixture
def rig(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto]) -> Iterator[Rig]:
    yield Rig(tmp_path, make_mosquitto())


def journal_changes(journal: Path) -> list[int]:
    """The sequence numbers of the change records the journal made so far."""
    if not journal.exists():
        return []
    try:
        return [r[0] for r in rows(journal, "SELECT seq FROM changes WHERE seq IS NOT NULL"
                                   " ORDER BY seq")]
    except sqlite3.OperationalError:  # the room is still creating its journal
        return []


def hub_changes(hub_db: Path, device: str) -> list[int]:
    if not hub_db.exists():
        return []
    try:
        return [r[0] for r in rows(hub_db, "SELECT seq FROM changes WHERE device = ?"
                                   " ORDER BY seq", [device])]
    except sqlite3.OperationalError:
        return []


def test_changes_made_during_a_broker_outage_arrive_after_it_and_fill_the_timeline(
    rig: Rig,
) -> None:
    device = DEVICES[0]
    journal = rig.journal(device)
    hub = rig.hub()
    room = rig.room(device, "hour_of_work", speed=SPEED, linger=DRAIN_S)
    try:
        hub.wait_log("mqtt_connected")
        wait_until(lambda: len(hub_changes(rig.hub_db, device.username)) >= 4,
                   "the first change records at the hub")
        rig.broker.stop()
        before = set(journal_changes(journal))
        wait_until(lambda: len(set(journal_changes(journal)) - before) >= 6,
                   "six changes journaled while the broker is down")
        rig.broker.start()
        during = sorted(set(journal_changes(journal)) - before)
        assert room.wait(timeout=DRAIN_S + 120) == 0, room.text()[-3000:]
        last, acked = closing_line(room.text())
        assert acked == last
        assert_hub_equals_journal(rig.hub_db, device.username, journal)
        held = set(hub_changes(rig.hub_db, device.username))
        assert set(during) <= held
        conn = sqlite3.connect(f"file:{rig.hub_db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            event = dict(conn.execute(
                "SELECT * FROM events WHERE device = ? AND kind = 'unsolicited_emission'",
                [device.username]).fetchone())
            shown = timeline(conn, event, 120, 120)
        finally:
            conn.close()
        jid = journal_id(journal)
        listed = {seq for e in shown["entries"] if e["type"] == "change"  # a train: a range
                  for seq in range(e["seq"], e["last_seq"] + 1)}
        assert set(during) <= listed, (sorted(during), sorted(s for s in listed if s))
        print(f"\n{len(during)} changes journaled during the outage (seq {during[0]}..."
              f"{during[-1]} of journal {jid[:8]}), all at the hub and in the timeline")
    finally:
        room.close()
        hub.close()
