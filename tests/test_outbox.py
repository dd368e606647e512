"""The journal's outbox: every record queued in order, in the wire contract's shape."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.journal import Journal
from edge_agent.outbox import Outbox
from edge_agent.publisher import _leading_run
from sim.runner import Simulation
from sim.scenario import load_scenario
from wire import contract as wire

LIBRARY = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


def play(tmp_path: Path, name: str) -> Path:
    sim = Simulation(load_scenario(LIBRARY / f"{name}.toml"), tmp_path)
    try:
        sim.run()
    finally:
        sim.close()
    return tmp_path / "journal.db"


def batches(path: Path) -> list[bytes]:
    outbox = Outbox(path)
    rows = outbox.pending(1, 10_000)
    out = []
    while rows:
        run = _leading_run(rows)
        rows = rows[len(run):]
        items = [{"seq": r.seq, **json.loads(r.item)} for r in run]
        out.append(wire.batch_payload(run[0].kind, "sim.room", "sim", "room", outbox.journal_id,
                                      "2026-01-05T08:00:00Z", items))
    outbox.close()
    return out


def test_every_record_is_queued_in_order_and_valid(tmp_path: Path) -> None:
    path = play(tmp_path, "unsolicited_emission")
    decoded = [wire.decode(f"voyant/v1/sim/room/{json.loads(b)['kind']}", b)[1]
               for b in batches(path)]
    seqs = [item.seq for batch in decoded for item in batch.items]  # type: ignore[union-attr]
    assert seqs == list(range(1, len(seqs) + 1))
    journal = Journal(path, durable=False)
    kinds = [type(b).__name__ for b in decoded]
    assert "ExposureBatch" in kinds and "AlarmBatch" in kinds
    readings = sum(len(b.items) for b in decoded if isinstance(b, wire.ReadingBatch))
    assert readings == journal.readings_count()
    events = [(i.event, i.number) for b in decoded if isinstance(b, wire.ExposureBatch)
              for i in b.items]
    assert events == [("opened", 1), ("closed", 1), ("opened", 2), ("closed", 2)]
    alarm = [i for b in decoded if isinstance(b, wire.AlarmBatch) for i in b.items]
    assert [(a.event, a.kind, a.exposure) for a in alarm] == [
        ("raised", "unsolicited_emission", 2), ("cleared", "unsolicited_emission", 2)]
    journal.close()


def test_acknowledged_records_leave_and_numbers_are_never_reused(tmp_path: Path) -> None:
    path = play(tmp_path, "unsolicited_emission")
    outbox = Outbox(path)
    last = outbox.last_seq()
    assert outbox.acked() == 0 and outbox.backlog() == last
    outbox.acknowledge(last)
    assert outbox.backlog() == 0 and outbox.acked() == last
    outbox.close()
    journal = Journal(path, durable=False)
    journal.start_run(1_767_600_000.0)
    journal.close()
    # A second run of the same journal continues the sequence.
    play(tmp_path, "unsolicited_emission")
    outbox = Outbox(path)
    assert outbox.pending(1, 1)[0].seq == last + 1
    outbox.close()


def test_an_exposure_open_at_a_crash_is_queued_as_interrupted(tmp_path: Path) -> None:
    from edge_agent.monitor.records import ExposureRecord

    journal = Journal(tmp_path / "j.db", durable=False)
    journal.start_run(1000.0)
    journal.exposure_opened(ExposureRecord(1, 5.0, True, 1), lambda t: 1000.0 + t, "cal")
    journal.alive(1010.0)
    journal.close()  # the agent dies: no close of the exposure
    journal = Journal(tmp_path / "j.db", durable=False)
    found = journal.start_run(1100.0)
    assert found.interrupted_exposures == 1
    rows = Outbox(tmp_path / "j.db").pending(1, 10)
    items = [json.loads(r.item) for r in rows]
    assert [(i["event"], i["run"], i["number"]) for i in items] == [
        ("opened", 1, 1), ("interrupted", 1, 1)]
    assert items[1]["end"] is not None and items[1]["duration_s"] == 5.0
    journal.close()
