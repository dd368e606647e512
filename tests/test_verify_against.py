"""``voyant-edge journal --verify-against EXPORT``: the box's journal against the hub's export.

The export is written here as the hub writes it (``docs/protocol.md``: one JSON
line per record, the record as received and its hash), from the box's own
outbox, then altered the ways a store can be: a record rewritten, a journal
restored from an older copy that made other records under the same numbers.
The last test takes the box's records through the hub's own ingest and export.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge_agent.changes import ChangeRecord
from edge_agent.cli import main
from edge_agent.journal import Journal
from edge_agent.monitor.records import Reading
from edge_agent.outbox import Outbox
from edge_agent.verify_export import BoxChain, Verdict, render
from hub.chain.export import export_lines
from tests.hub_factory import T0, core, open_store
from wire import contract as wire
from wire.chain import record_hash

WALL = 1_767_600_000.0
DEVICE = "chu-nord.bloc-3"


def _reading(k: int) -> Reading:
    return Reading(10.0 * k, 10.0 * (k + 1), 3 + k, 10.0, 18.0, 0.0003, 0.1, 0.06, 0.8, 0.5,
                   False, "sbm20/Cs-137", 100, 0)


def write(journal: Journal, first: int, last: int) -> None:
    """Records ``first``..``last``: readings, with a door change every third."""
    for k in range(first, last + 1):
        if k % 3 == 0:
            journal.change(ChangeRecord("door.corridor", k % 2 == 0, 10.0 * k, 10.0 * k, 1),
                           lambda t: WALL + t)
        else:
            journal.reading(_reading(k), lambda t: WALL + t)


def new_journal(path: Path) -> Journal:
    journal = Journal(path, durable=False)
    journal.start_run(WALL)
    return journal


def exported(path: Path) -> list[dict[str, Any]]:
    """The hub's export of what the box at ``path`` sent (every record in its outbox)."""
    conn = sqlite3.connect(path)
    journal = conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0]
    rows = conn.execute("SELECT seq, kind, item FROM outbox ORDER BY seq").fetchall()
    conn.close()
    out = []
    for seq, kind, item in rows:
        record = json.loads(item)
        out.append({"device": DEVICE, "journal": journal, "seq": seq, "kind": kind,
                    "status": "stored", "hash": record_hash(record), "record": record})
    return out


def save(tmp_path: Path, lines: list[dict[str, Any]], name: str = "export.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def verify(box: Path, export: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["journal", "--db", str(box), "--verify-against", str(export)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """A box whose records 1..12 the hub holds and has acknowledged."""
    path = tmp_path / "journal.db"
    journal = new_journal(path)
    write(journal, 1, 12)
    journal.close()
    return path


def acknowledge(path: Path, upto: int) -> None:
    outbox = Outbox(path)
    outbox.acknowledge(upto)
    outbox.close()


def test_a_matching_export_passes(box: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    export = save(tmp_path, exported(box))
    acknowledge(box, 12)
    code, out = verify(box, export, capsys)
    assert code == 0, out
    assert "12 record(s) identical" in out and "matches" in out and "MISMATCH" not in out


def test_records_made_after_the_export_are_only_counted(
        box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The export is carried to the box while it goes on journaling: what it made since,
    sent and acknowledged or not, is after the export's last record, not a hole."""
    export = save(tmp_path, exported(box))
    journal = Journal(box, durable=False)
    journal.start_run(WALL + 1000.0)
    write(journal, 13, 17)
    journal.close()
    acknowledge(box, 15)
    code, out = verify(box, export, capsys)
    assert code == 0, out
    assert "5 record(s) of the box after the export's last (seq 12)" in out


def test_a_record_altered_at_the_hub_is_named(box: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lines = exported(box)
    acknowledge(box, 12)
    lines[6]["record"]["counts"] += 1  # seq 7, its hash recomputed: only the box can tell
    lines[6]["hash"] = record_hash(lines[6]["record"])
    lines[9]["record"]["counts"] += 1  # seq 10, its stated hash left as it was
    code, out = verify(box, save(tmp_path, lines), capsys)
    assert code == 1
    mismatches = [line for line in out.splitlines() if line.startswith("MISMATCH")]
    assert any(line.startswith("MISMATCH seq 7 ") and "differs from the box's" in line
               for line in mismatches)
    assert any(line.startswith("MISMATCH seq 10 ") and "does not match its stated hash" in line
               for line in mismatches)
    assert all(" seq 7 " in line or " seq 10 " in line for line in mismatches)
    assert "10 record(s) identical" in out


def test_an_export_of_a_restored_journal_is_caught(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The hub holds what a journal restored from an older copy sent: records 1..6 are the
    same, 7 on are other records under the same numbers."""
    path = tmp_path / "journal.db"
    journal = new_journal(path)
    write(journal, 1, 6)
    journal.close()
    restored = tmp_path / "restored.db"
    source, target = sqlite3.connect(path), sqlite3.connect(restored)
    source.backup(target)
    source.close()
    target.close()
    journal = new_journal(path)
    write(journal, 7, 12)
    journal.close()
    again = new_journal(restored)
    write(again, 20, 25)  # what the restored box made instead: same journal, same numbers
    again.close()
    export = save(tmp_path, exported(restored))
    acknowledge(path, 12)
    code, out = verify(path, export, capsys)
    assert code == 1
    differing = sorted(int(line.split()[2]) for line in out.splitlines()
                       if line.startswith("MISMATCH") and "differs" in line)
    assert differing == list(range(7, 13))
    assert "6 record(s) identical" in out


def test_what_waits_in_the_outbox_is_not_a_problem_what_is_lost_is(
    box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = exported(box)
    acknowledge(box, 8)  # 9..12 still wait in the outbox; 11 and 12 reached the hub
    code, out = verify(box, save(tmp_path, lines[:8] + lines[10:]), capsys)
    assert code == 0, out
    assert "note: 2 record(s) not at the hub yet (still in the box's outbox)" in out
    # The hub acknowledged 1..12 and then lost 5 (its store restored): a hole.
    acknowledge(box, 12)
    holed = [line for line in lines if line["seq"] != 5]
    code, out = verify(box, save(tmp_path, holed), capsys)
    assert code == 1 and "MISMATCH seq 5: the box made it and the hub acknowledged it" in out
    lost = {"device": DEVICE, "journal": lines[0]["journal"], "status": "lost", "first": 5,
            "last": 5}
    code, out = verify(box, save(tmp_path, [*holed, lost]), capsys)
    assert code == 1 and "MISMATCH seq 5: declared lost by the hub" in out


def test_records_the_box_never_made_or_no_longer_holds(
    box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = exported(box)
    acknowledge(box, 12)
    forged = {**lines[-1], "seq": 13, "record": {**lines[-1]["record"], "seq": 13}}
    forged["hash"] = record_hash(forged["record"])
    code, out = verify(box, save(tmp_path, [*lines, forged]), capsys)
    assert code == 1 and "MISMATCH seq 13 (line 13): never made by this box (its last is 12)" in out
    conn = sqlite3.connect(box)
    with conn:  # the box's retention pruned the hashes of 1..3
        conn.execute("DELETE FROM chain WHERE seq <= 3")
    conn.close()
    code, out = verify(box, save(tmp_path, lines), capsys)
    assert code == 0 and "note: seq 2 (line 2): no longer held by the box" in out


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "line 3: not JSON"),
    ("[1, 2]", "line 3: not a JSON object"),
    ('{"device": "d", "journal": 5, "status": "stored"}', "line 3: no 'journal' string"),
    ('{"device": "d", "journal": "j", "status": "kept"}', "line 3: unknown status 'kept'"),
])
def test_a_bad_export_line_is_refused_with_its_number(
    box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, reason: str,
) -> None:
    good = exported(box)[:2]
    export = tmp_path / "bad.jsonl"
    export.write_text("".join(json.dumps(g) + "\n" for g in good) + line + "\n",
                      encoding="utf-8")
    code, out = verify(box, export, capsys)
    assert code == 2 and f"{export}: {reason}" in out and "Traceback" not in out


def test_a_record_line_of_the_wrong_shape_is_refused(
    box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    journal = exported(box)[0]["journal"]
    export = tmp_path / "bad.jsonl"
    export.write_text(json.dumps({"device": "d", "journal": journal, "status": "stored",
                                  "seq": "seven", "hash": None, "record": {}}) + "\n",
                      encoding="utf-8")
    code, out = verify(box, export, capsys)
    assert code == 2 and "line 1: 'seq' is not a sequence number" in out
    code, out = verify(box, tmp_path / "missing.jsonl", capsys)
    assert code == 2 and "cannot read the export" in out


def test_the_real_hubs_export_of_the_box_matches_it(
    box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The box's outbox through the hub's own ingest, exported by the hub's own export:
    the two sides of the one serialiser agree, record by record."""
    outbox = Outbox(box)
    pending = outbox.pending(1, 100)
    outbox.close()
    messages = [(wire.topic("chu-nord", "bloc-3", wire.RECORD_TOPIC[p.kind]),
                 wire.batch_from_json(p.kind, DEVICE, "chu-nord", "bloc-3",
                                      journal_of(box), "2026-01-05T08:00:00Z",
                                      [p.item], p.seq, p.seq)) for p in pending]
    store = open_store(tmp_path / "hub")
    try:
        core(store).handle_batch(messages, T0)
        lines = list(export_lines(store.conn, DEVICE))  # the hub's
    finally:
        store.close()
    assert len(lines) == 12
    export = tmp_path / "hub-export.jsonl"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    acknowledge(box, 12)
    code, out = verify(box, export, capsys)
    assert code == 0, out
    assert "12 record(s) identical" in out


def journal_of(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0])
    finally:
        conn.close()


def test_past_the_first_twenty_problems_a_count_says_why_they_follow() -> None:
    box = BoxChain("0" * 32, {}, frozenset(), 30)
    verdict = Verdict(problems=[f"seq {k}: differs" for k in range(1, 26)])
    lines = render(box, verdict, 0).splitlines()
    assert [line for line in lines if line.startswith("MISMATCH")] == [
        f"MISMATCH seq {k}: differs" for k in range(1, 21)]
    assert lines[20].startswith("... and 5 more: the first mismatch is where the copies part")
    assert lines[-1].endswith("25 problem(s)")
