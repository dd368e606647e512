"""The hash chain in the journal: every record carries the hash of the one before it.

``edge_agent.outbox.queue`` is the single point every record passes: there it
gets its ``prev`` and its hash joins the ``chain`` table. Checked here from the
stored JSON alone, as the hub and the inspector recompute it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from edge_agent.changes import ChangeRecord
from edge_agent.journal import SCHEMA_VERSION, Journal
from edge_agent.journal_upkeep import JournalUpkeep
from edge_agent.monitor.records import Reading
from edge_agent.outbox import Outbox
from sim.runner import Simulation
from sim.scenario import load_scenario
from tests.scenario_files import LIBRARY
from wire.chain import GENESIS, item_hash

DATA = Path(__file__).resolve().parent / "data"
DAY = 86400.0


def chain_problems(path: Path) -> list[str]:
    """Every break in the journal's chain, recomputed from its outbox and chain rows (the
    outbox must still hold every chained record)."""
    conn = sqlite3.connect(path)
    try:
        items = dict(conn.execute("SELECT seq, item FROM outbox"))
        chain = {seq: (kind, digest) for seq, kind, digest in
                 conn.execute("SELECT seq, kind, hash FROM chain")}
        kinds = dict(conn.execute("SELECT seq, kind FROM outbox"))
    finally:
        conn.close()
    problems: list[str] = []
    previous: str | None = None
    for seq in sorted(chain):
        kind, digest = chain[seq]
        record = json.loads(items[seq])
        if item_hash(items[seq]) != digest or kinds[seq] != kind:
            problems.append(f"seq {seq}: its chain row is not its record")
        expected = GENESIS if previous is None else previous
        if record.get("prev") != expected:
            problems.append(f"seq {seq}: prev is not the hash of seq {seq - 1}")
        if previous is not None and seq - 1 not in chain:
            problems.append(f"seq {seq}: seq {seq - 1} is not chained")
        previous = digest
    return problems


def test_every_record_of_a_played_scenario_is_chained(tmp_path: Path) -> None:
    sim = Simulation(load_scenario(LIBRARY / "unsolicited_pulse_train.toml"), tmp_path)
    try:
        sim.run()
    finally:
        sim.close()
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path)
    seqs = [s for (s,) in conn.execute("SELECT seq FROM chain ORDER BY seq")]
    kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM chain")}
    first = json.loads(conn.execute("SELECT item FROM outbox WHERE seq = 1").fetchone()[0])
    conn.close()
    assert seqs == list(range(1, len(seqs) + 1))
    assert {"changes", "readings", "exposures", "alarms"} <= kinds
    assert first["prev"] == GENESIS
    assert chain_problems(path) == []


def test_an_upgraded_journal_starts_its_chain_at_the_first_new_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(DATA / "journal_v3.db", path)
    journal = Journal(path, durable=False)
    assert journal.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert journal.chain_head() is None and journal.last_inputs() == {}
    journal.start_run(1_767_600_100.0)  # seq 18 and 19: what the dead agent left open
    journal.close()
    conn = sqlite3.connect(path)
    items = {seq: json.loads(item) for seq, item in conn.execute("SELECT seq, item FROM outbox")}
    chained = [s for (s,) in conn.execute("SELECT seq FROM chain ORDER BY seq")]
    conn.close()
    assert all("prev" not in items[seq] or items[seq]["prev"] is None for seq in range(4, 18))
    assert chained == [18, 19] and items[18]["prev"] == GENESIS
    assert chain_problems(path) == []


def _reading(k: int) -> Reading:
    return Reading(10.0 * k, 10.0 * (k + 1), 3, 10.0, 18.0, 0.0003, 0.1, 0.06, 0.8, 0.5, False,
                   "sbm20/Cs-137", 100, 0)


def test_retention_prunes_old_hashes_but_never_the_head(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.start_run(0.0)
    now = 1_000 * DAY
    for k in range(3):  # seq 1..3, 900 days old
        journal.reading(_reading(k), lambda t: now - 900 * DAY + t)
    journal.change(ChangeRecord("door.corridor", True, 0.0, 0.0, 1),
                   lambda t: now - 900 * DAY + t)  # seq 4
    outbox = Outbox(journal.path)
    outbox.acknowledge(4)
    upkeep = JournalUpkeep(journal, retention_days=400, reserve_mb=0, now=0.0)
    assert upkeep.prune(now) == 3  # the readings; the door's last change stays
    head = journal.chain_head()
    assert head is not None and head[0] == 4
    assert journal.last_inputs() == {"door.corridor": True}
    journal.reading(_reading(5), lambda t: now + t)  # seq 5 links to the kept head
    (item,) = [p.item for p in outbox.pending(5, 1)]
    assert json.loads(item)["prev"] == head[1]
    conn = sqlite3.connect(journal.path)
    assert [s for (s,) in conn.execute("SELECT seq FROM chain")] == [4, 5]
    conn.close()
    outbox.close()
    journal.close()
