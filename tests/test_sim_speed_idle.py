"""Skipping the agent's idle steps changes no record (issue 18 item 3, :mod:`sim.runner`).

Where an instant only moves pins or the field and the agent says a step there would do
nothing (:meth:`edge_agent.agent.Agent.idle_at`), the simulator does not step. Every
scenario of the library, serial probe or pulses counted on a pin (the longest over their
first :data:`LONGEST_S`, the working day over its first procedure), is played with and
without the skipping, in process (``fast``:
the same records as through the pty, tests/test_sim_modes.py), and the two journals must
hold the same rows in every table, in the same order: outbox and hash chain included.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from edge_agent.journal import Journal
from sim.room import scratch_dir
from sim.runner import Simulation
from sim.scenario import Scenario, load_scenario
from tests.scenario_files import LIBRARY, by_probe

#: The longest part of a scenario played (the longest are more of the same, and would cost
#: the suite); the working day's first procedure: pulsed fluoroscopy, cine runs, graphy shots.
LONGEST_S = 600.0
WORKING_DAY_S = 1500.0
JOURNAL_ID = "0123456789abcdef0123456789abcdef"


SERIAL = by_probe("serial")
GPIO = by_probe("gpio")


def journal_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a journal, its rows in rowid order."""
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                for table in tables}
    finally:
        conn.close()


def fresh_journal(path: Path) -> Path:
    """A new journal at ``path`` with a fixed id (a journal's id is random, and hashed)."""
    Journal(path, durable=False).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'journal_id'", [JOURNAL_ID])
    conn.close()
    return path


def play(scenario: Scenario, *, skip_idle: bool) -> tuple[dict[str, list[tuple[object, ...]]],
                                                          dict[str, object], int]:
    """The journal's rows, the report and the number of steps skipped."""
    with scratch_dir() as tmp:
        journal = fresh_journal(Path(tmp) / "journal.db")
        sim = Simulation(scenario, Path(tmp), fast=True, skip_idle=skip_idle,
                         journal_path=journal)
        try:
            report = dict(sim.run())
        finally:
            sim.close()
        return journal_rows(journal), report, sim.steps_skipped


@pytest.mark.parametrize("path", SERIAL + GPIO, ids=lambda p: p.stem)
def test_skipping_idle_steps_journals_the_same_records(path: Path) -> None:
    scenario = load_scenario(path)
    longest = WORKING_DAY_S if path.stem == "working_day" else LONGEST_S
    if scenario.duration_s > longest:
        scenario = dataclasses.replace(scenario, duration_s=longest)
    rows, report, skipped = play(scenario, skip_idle=True)
    reference, reference_report, none = play(scenario, skip_idle=False)
    assert none == 0
    assert report == reference_report
    assert rows.keys() == reference.keys()
    for table, expected in reference.items():
        assert rows[table] == expected, table
    if path.stem in ("working_day", "fluoroscopy_pulsed_15hz"):  # by the pty, by a pin
        assert skipped > 300, "pulsed fluoroscopy: most pulse edges need no step of their own"


def test_the_journal_comparison_sees_a_record_moved_by_a_millisecond() -> None:
    """A skipped step that was not idle would move a record (its input released, its alarm
    raised, at a later step): the comparison sees one moved by the timeline's smallest step."""
    scenario = load_scenario(LIBRARY / "unsolicited_emission.toml")
    reference, _, _ = play(scenario, skip_idle=False)
    first, *rest = scenario.events
    moved = dataclasses.replace(scenario, events=(
        dataclasses.replace(first, at=first.at + 0.001), *rest))
    rows, _, _ = play(moved, skip_idle=False)
    assert rows != reference
    assert rows["meta"] == reference["meta"]
