"""A real filesystem fills under the journal mid-scenario: the alarm at the hub, nothing lost.

A small tmpfs is mounted under the room's journal (root, as in this sandbox and
in CI); the room is ``voyant-sim room`` (the real agent and publisher) with a
real Mosquitto and ``voyant-hub run``. The test fills the disk, fills it again
once the agent has given back its reserve, sees ``journal_fault`` and the
unsolicited emission made meanwhile at the hub (from the live state: the
journal holds neither yet), frees the disk and compares the hub with the
journal. Without the right to mount, it is skipped (tests/test_journal_fault.py
injects the same fault and always runs).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.errors import JournalError
from edge_agent.journal import Journal
from sim.broker import Mosquitto
from tests.mqtt_fixtures import DEVICES
from tests.wire_rig import (
    SCENARIOS,
    Proc,
    Rig,
    assert_hub_holds_the_journal,
    hub_upto,
    journal_id,
    rows,
    wait_until,
)

ROOM = DEVICES[0]
SPEED = 5.0
SCENARIO = """
name = "Work while the disk fills"
duration_s = 120.0
seed = 5

[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "serial"
probe_position = "inside"

[[exposure]]
at = 20.0
duration_s = 2.0
dose_rate_usv_h = 200.0

[[exposure]]
at = 100.0
duration_s = 2.0
dose_rate_usv_h = 200.0

[[event]]
at = 70.0
signal = "emission"
value = true

[[event]]
at = 70.0
signal = "light.emission"
value = true

[[event]]
at = 74.0
signal = "emission"
value = false

[[event]]
at = 74.0
signal = "light.emission"
value = false
"""


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'});"
                    " the injected ENOSPC test (test_journal_fault.py) covers the agent")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def rig(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto]) -> Rig:
    return Rig(tmp_path, make_mosquitto())


def fill(directory: Path, name: str) -> int:
    """Write ``name`` until the disk is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * 16384
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            written += os.write(fd, chunk)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return written


def events(rig: Rig, kind: str) -> list[tuple[str, str]]:
    if not rig.hub_db.exists():
        return []
    return [(str(r[0]), str(r[1])) for r in rows(
        rig.hub_db, "SELECT ref, detail FROM events WHERE device = ? AND kind = ?",
        [ROOM.username, kind])]


def test_a_full_disk_under_the_journal_alarms_the_hub_and_loses_nothing(
    rig: Rig, disk: Path, tmp_path: Path
) -> None:
    scenario = tmp_path / "disk_fills.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    assert SCENARIOS.exists()
    journal = disk / "journal.db"
    hub = rig.hub()
    room = Proc([sys.executable, "-m", "sim.cli", "room", str(scenario), "--config",
                 str(rig.room_config(ROOM)), "--journal", str(journal), "--speed", str(SPEED),
                 "--linger", "60"], tmp_path / "room.log")
    try:
        hub.wait_log("mqtt_connected")
        room.start()
        wait_until(lambda: journal.exists() and hub_upto(
            rig.hub_db, ROOM.username, journal_id(journal)) >= 1, "the first records at the hub")
        jid = journal_id(journal)
        fill(disk, "filler-1")
        after = room.wait_log("event=journal_reserve_released")
        fill(disk, "filler-2")  # what the reserve gave back: the disk is full again
        wait_until(lambda: events(rig, "journal_fault"), "journal_fault at the hub")
        raised = room.wait_log("event=alarm_held kind=unsolicited_emission", after)
        seen_raised = time.monotonic()
        wait_until(lambda: events(rig, "unsolicited_emission"), "the held alarm at the hub")
        to_hub_s = time.monotonic() - seen_raised
        # At the hub while the journal cannot hold it: it came in the live state.
        assert rows(journal, "SELECT count(*) FROM alarms WHERE kind = 'unsolicited_emission'"
                    ) == [(0,)]
        (ref, detail), = events(rig, "unsolicited_emission")
        assert ref.startswith(f"{jid}:") and '"held":true' in detail
        held_readings = rows(journal, "SELECT count(*) FROM readings")[0][0]
        for name in ("filler-1", "filler-2"):
            (disk / name).unlink()
        room.wait_log("event=journal_fault_cleared", raised)
        assert room.wait() == 0
    finally:
        room.close()
        hub.stop()
    assert "outbox: last seq" in room.text()
    assert_hub_holds_the_journal(rig.hub_db, ROOM.username, journal)
    # One event per alarm: the held alarm's record found the event the live state opened.
    assert [r for r, _ in events(rig, "unsolicited_emission")] == [ref]
    assert len(events(rig, "journal_fault")) == 1
    # And a start on the full disk opens the journal (without writing) and runs degraded.
    fill(disk, "filler-3")
    reopened = Journal(journal)
    started = time.time()
    with pytest.raises(JournalError):
        reopened.start_run(started)
    # unwritten, its number is the start's second: a restart on this disk takes another
    assert reopened.full and reopened.run == int(started)
    reopened.close()
    cleared = room.text()[room.text().index("event=journal_fault_cleared"):].splitlines()[0]
    total = rows(journal, "SELECT count(*) FROM readings")[0][0]
    print(f"\nfull disk: {cleared}\n  readings journaled before the drain {held_readings},"
          f" after {total}; held alarm at the hub {to_hub_s:.2f} s after the agent raised it;"
          " records lost 0")
