"""An agent killed in the middle of a pulse train loses no record it journaled, and its chain holds.

A real process: ``voyant-sim room`` (the real agent on mock pins, a durable
journal on disk, its publisher trying a broker that is not there), playing
pulsed fluoroscopy at 15 pulses/s in real time. Once the journal holds a few
of the train's change records it is SIGKILLed, then a new agent starts on the
same journal. The journal must have no hole in its sequence, every link of its
chain must hold (recomputed from the stored JSON), every record journaled
before the kill must still be there as it was, and the new run must record
what it found at its start: the train's request and lamp are off now.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

from sim.broker import free_port
from tests.test_journal_chain import chain_problems
from tests.wire_rig import Proc, rows, wait_until

TRAIN = """name = "A long pulse train"
duration_s = {duration}
seed = 3

[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "gpio"
probe_position = "inside"
{exposure}"""
PRESS = """
[[exposure]]
at = 1.0
duration_s = 120.0
dose_rate_usv_h = 300.0
pulse_hz = 15
pulse_width_s = 0.006
"""
#: The inputs at rest, as the simulator sets them before each start (sim.runner.RESTING).
RESTING = {"emission": False, "request": False, "generator_powered": True,
           "light.powered": True, "light.emission": False, "door.corridor": False}


def room(tmp_path: Path, name: str, duration: float, exposure: str) -> Proc:
    scenario = tmp_path / f"{name}.toml"
    scenario.write_text(TRAIN.format(duration=duration, exposure=exposure), encoding="utf-8")
    config = tmp_path / "agent.toml"
    config.write_text("\n".join([  # no broker there: the records stay in the outbox
        "[device]", 'site = "chu"', 'room = "bloc-1"', "", "[pins.door.corridor]", "pin = 16",
        "", "[mqtt]", 'host = "127.0.0.1"',
        f"port = {free_port()}", "reconnect_min_s = 0.05", "reconnect_max_s = 0.5", ""]),
        encoding="utf-8")
    args = [sys.executable, "-m", "sim.cli", "room", str(scenario), "--config", str(config),
            "--journal", str(tmp_path / "journal.db"), "--speed", "1", "--linger", "0"]
    return Proc(args, tmp_path / f"{name}.log").start()


def edge_records(journal: Path) -> int:
    try:
        return int(rows(journal, "SELECT count(*) FROM changes WHERE signal = 'emission'"
                                 " AND origin = 'edge'")[0][0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def snapshot(journal: Path) -> dict[int, tuple[Any, ...]]:
    """Every record journaled so far: its kind, JSON and hash."""
    return {seq: (kind, item, digest) for seq, kind, item, digest in rows(
        journal, "SELECT o.seq, o.kind, o.item, c.hash FROM outbox o"
                 " LEFT JOIN chain c ON c.seq = o.seq")}


def test_a_kill_mid_train_loses_no_journaled_record_and_the_chain_holds(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    train = room(tmp_path, "train", 130.0, PRESS)
    try:
        def train_journaled() -> bool:
            assert train.popen is not None and train.popen.poll() is None, train.text()[-3000:]
            return edge_records(journal) >= 4
        wait_until(train_journaled, "the train's change records")
        before = snapshot(journal)
        train.kill()
    finally:
        train.close()
    after = snapshot(journal)
    assert {seq: after.get(seq) for seq in before} == before  # nothing journaled is gone
    assert sorted(after) == list(range(1, len(after) + 1))
    assert chain_problems(journal) == []
    killed_run = int(rows(journal, "SELECT max(id) FROM runs")[0][0])
    last = dict(rows(journal, "SELECT signal, value FROM changes WHERE id IN"
                              " (SELECT max(id) FROM changes GROUP BY signal)"))
    assert last["request"] == 1 and last["light.emission"] == 1  # the press, as journaled
    emission = rows(journal, "SELECT count FROM changes WHERE signal = 'emission'"
                             " AND origin = 'edge' ORDER BY id")
    assert emission[0][0] == 1 and all(count > 1 for (count,) in emission[1:])

    restart = room(tmp_path, "restart", 1.0, "")
    try:
        restart.wait()
    finally:
        restart.close()
    final = snapshot(journal)
    assert {seq: final.get(seq) for seq in after} == after
    assert sorted(final) == list(range(1, len(final) + 1))
    assert chain_problems(journal) == []
    found = rows(journal, "SELECT signal, value, count FROM changes WHERE origin = 'start'"
                          " AND run > ? ORDER BY id", [killed_run])
    expected = [(signal, int(value), 0) for signal, value in RESTING.items()
                if last.get(signal) != int(value)]
    assert sorted(found) == sorted(expected)
    assert ("request", 0, 0) in found and ("light.emission", 0, 0) in found
    interrupted = rows(journal, "SELECT state FROM exposures WHERE run = ?", [killed_run])
    assert interrupted == [("interrupted",)]
