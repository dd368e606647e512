"""A box's journal restored from an older copy: the hub catches what it re-makes, and says where.

Real processes (Mosquitto with the generated ACL, ``voyant-hub run``, ``voyant-sim
room``): a room plays an hour of work and its journal is copied midway; once the hub
holds everything, the copy is put back and the room plays again. The restored agent
makes other records under sequence numbers the hub already holds: each is a
``record_conflict`` (kept beside the first copy, never over it), ``voyant-hub
verify`` exits 1 naming them, and the box's ``voyant-edge journal --verify-against``
finds its journal differs from the hub's export from the first re-made number on.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sim.broker import Mosquitto
from tests.mqtt_fixtures import DEVICES
from tests.test_evidence_flow import backup
from tests.wire_rig import ROOT, Rig, closing_line, hub_upto, journal_id, last_seq, rows, wait_until

SPEED = 400.0
DRAIN_S = 120.0


@pytest.fixture
def rig(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto]) -> Iterator[Rig]:
    yield Rig(tmp_path, make_mosquitto())


def made(journal: Path) -> int:
    """The journal's last sequence number (0 while the room still creates it)."""
    try:
        return last_seq(journal) if journal.exists() else 0
    except sqlite3.OperationalError:
        return 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)


def test_a_restored_journal_is_caught_by_the_hub_verify_and_the_box(rig: Rig) -> None:
    device = DEVICES[0]
    journal, copy = rig.journal(device), rig.directory / "copy.journal.db"
    hub = rig.hub()
    try:
        hub.wait_log("mqtt_connected")
        room = rig.room(device, "hour_of_work", speed=SPEED, linger=DRAIN_S, log="first")
        wait_until(lambda: made(journal) >= 60, "60 records journaled")
        backup(journal, copy)
        copied = last_seq(copy)
        assert room.wait(timeout=DRAIN_S + 60) == 0, room.text()[-2000:]
        first_last, acked = closing_line(room.text())
        assert acked == first_last > copied
        jid = journal_id(journal)
        backup(copy, journal)  # the restore: the copy's WAL is in it
        for suffix in ("-wal", "-shm"):
            Path(f"{journal}{suffix}").unlink(missing_ok=True)
        room = rig.room(device, "hour_of_work", speed=SPEED, linger=DRAIN_S, log="restored")
        assert room.wait(timeout=DRAIN_S + 60) == 0, room.text()[-2000:]
        assert journal_id(journal) == jid
        wait_until(lambda: hub_upto(rig.hub_db, device.username, jid) >= last_seq(journal),
                   "the restored room's records acknowledged")
        conflicts = [r[0] for r in rows(rig.hub_db, "SELECT seq FROM record_conflicts WHERE"
                                        " device = ? ORDER BY seq", [device.username])]
        # every number the restored box re-made that the hub held: none forgotten unsent
        assert conflicts == list(range(copied + 1, first_last + 1))
        assert rows(rig.hub_db, "SELECT count(*) FROM events WHERE kind = 'record_conflict'"
                    " AND device = ?", [device.username]) == [(1,)]
    finally:
        hub.close()
    config = str(rig.directory / "hub.toml")
    verified = _run("hub.cli", "verify", "--config", config)
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"seq {copied + 1} " in verified.stdout and "conflict" in verified.stdout
    export = rig.directory / "export.jsonl"
    exported = _run("hub.cli", "journal", "export", device.username, "--config", config,
                    "--out", str(export))
    assert exported.returncode == 0, exported.stderr
    checked = _run("edge_agent.cli", "journal", "--db", str(journal), "--verify-against",
                   str(export))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    mismatches = [line for line in checked.stdout.splitlines() if line.startswith("MISMATCH")]
    assert mismatches and mismatches[0].startswith(f"MISMATCH seq {copied + 1} ")
    print(f"\ncopy at seq {copied}, first play to {first_last}; restored: "
          f"{len(conflicts)} conflicts from seq {conflicts[0]}\n{verified.stdout[-1500:]}"
          f"\n{checked.stdout[-800:]}")
