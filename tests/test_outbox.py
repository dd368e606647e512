"""The journal's outbox: every record queued in order, in the wire contract's shape."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from edge_agent.clock import iso_utc
from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from edge_agent.evidence import InvalidRecord
from edge_agent.journal import Journal
from edge_agent.metrics import oldest_record_metrics
from edge_agent.monitor.readings import OneSecondMean, ReadingAccumulator
from edge_agent.monitor.records import AlarmRecord, ExposureRecord, Reading
from edge_agent.outbox import Oldest, Outbox, oldest_record, with_seq
from edge_agent.probe.sample import ProbeSample
from edge_agent.send_state import by_kind
from sim.runner import Simulation
from sim.scenario import load_scenario
from tests.scenario_files import LIBRARY
from wire import contract as wire
from wire.chain import item_hash
from wire.records import MAX_DOSE_RATE_USV_H, READING_RATES

DATA = Path(__file__).resolve().parent / "data"
WALL = 1_767_600_000.0


def play(tmp_path: Path, name: str) -> Path:
    sim = Simulation(load_scenario(LIBRARY / f"{name}.toml"), tmp_path, fast=True)
    try:
        sim.run()
    finally:
        sim.close()
    return tmp_path / "journal.db"


def batches(path: Path) -> list[bytes]:
    """The outbox as the publisher sends it: records of a kind in order, as stored."""
    outbox = Outbox(path)
    out = []
    for run in by_kind(outbox.pending(1, 10_000)):
        out.append(wire.batch_from_json(
            run[0].kind, "sim.room", "sim", "room", outbox.journal_id, "2026-01-05T08:00:00Z",
            [r.item for r in run], run[0].seq, run[-1].seq, outbox.oldest()))
    outbox.close()
    return out


def topic_of(payload: bytes) -> str:
    """The topic a batch travels on (a batch of changes: the exposures topic)."""
    return f"voyant/v1/sim/room/{wire.RECORD_TOPIC[json.loads(payload)['kind']]}"


def records(path: Path) -> list[wire.Record | wire.RefusedItem]:
    """Every record of the outbox as the hub validates it, one by one."""
    out: list[wire.Record | wire.RefusedItem] = []
    for payload in batches(path):
        out += wire.decode_chain(topic_of(payload), payload).records
    return out


def test_every_record_is_queued_in_order_and_valid(tmp_path: Path) -> None:
    path = play(tmp_path, "unsolicited_emission")
    decoded = [wire.decode(topic_of(b), b)[1] for b in batches(path)]
    seqs = [item.seq for batch in decoded for item in batch.items]  # type: ignore[union-attr]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # each once, every one
    for batch in decoded:  # each batch in order, its holes the other kinds' records
        numbers = [item.seq for item in batch.items]  # type: ignore[union-attr]
        assert numbers == sorted(set(numbers))
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


def test_a_probe_fault_journals_its_readings_without_data_as_null_rates(tmp_path: Path) -> None:
    path = play(tmp_path, "probe_fault")
    got = records(path)
    assert [r for r in got if isinstance(r, wire.RefusedItem)] == []  # the hub takes them all
    readings = [r for r in got if isinstance(r, wire.ReadingItem)]
    empty = [r for r in readings if r.seconds_covered == 0]
    assert len(empty) >= 2 and all(r.counts == 0 and r.frames == 0 for r in empty)
    assert all(getattr(r, name) is None for r in empty for name in READING_RATES)
    assert all(r.mean_usv_h is not None for r in readings if r.seconds_covered > 0)
    outbox = Outbox(path)
    stored = " ".join(p.item for p in outbox.pending(1, 1000))
    outbox.close()
    assert "NaN" not in stored and "Infinity" not in stored
    journal = Journal(path, durable=False)
    rows = journal.db.execute("SELECT cpm, mean_usv_h FROM readings WHERE seconds_covered = 0")
    assert set(rows.fetchall()) == {(None, None)}
    journal.close()


def test_a_reading_interval_without_samples_has_no_rates_and_saturation_stays_bounded() -> None:
    cal = default_calibration(BUILTIN_TUBES["sbm20"])
    acc, one_s = ReadingAccumulator(cal, 10.0, 0.0, 0.1), OneSecondMean(cal)
    for k in range(100):  # far past the tube's dead-time limit: saturated
        sample = ProbeSample(end=0.1 * (k + 1), duration=0.1, counts=65_000)
        acc.add(sample, one_s.add(sample), 1.0)
    saturated, empty = acc.emit(), acc.emit()
    assert saturated.saturated and saturated.mean_sigma_usv_h == MAX_DOSE_RATE_USV_H
    assert saturated.max_sigma_usv_h == MAX_DOSE_RATE_USV_H and saturated.mean_usv_h is not None
    assert empty.seconds_covered == 0 and empty.counts == 0
    assert (empty.cpm, empty.mean_usv_h, empty.mean_sigma_usv_h, empty.max_usv_h,
            empty.max_sigma_usv_h) == (None, None, None, None, None)


def test_a_record_that_breaks_the_contract_writes_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", durable=False)
    journal.start_run(WALL)
    nan = float("nan")
    bad = Reading(0.0, 10.0, 3, 10.0, 18.0, 0.0003, nan, 0.06, 0.8, 0.5, False, "cal", 100, 0)
    with pytest.raises(InvalidRecord, match=r"readings record 1 .*mean_usv_h"):
        journal.reading(bad, lambda t: WALL + t)
    assert journal.readings_count() == 0 and journal.outbox_state()["last_seq"] == 0
    good = Reading(0.0, 10.0, 3, 10.0, 18.0, 0.0003, 0.1, 0.06, 0.8, 0.5, False, "cal", 100, 0)
    journal.reading(good, lambda t: WALL + t)
    assert journal.outbox_state()["last_seq"] == 1  # the refused one took no number
    journal.close()


def test_closing_records_repeat_their_opening_and_never_end_before_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", durable=False)
    journal.start_run(WALL)
    exposure = ExposureRecord(1, 5.0, True, 1)
    journal.exposure_opened(exposure, lambda t: WALL + t, "cal", clock_synced=True)
    alarm = AlarmRecord(1, "door_open_during_emission", "corridor", 6.0, 5.5, exposure=1)
    journal.alarm_raised(alarm, lambda t: WALL + t, clock_synced=None)
    exposure.end, alarm.cleared = 8.0, 7.0
    stepped_back = lambda t: WALL - 3600.0 + t  # noqa: E731 (NTP stepped the clock back)
    journal.exposure_closed(exposure, stepped_back, clock_synced=False)
    journal.alarm_cleared(alarm, stepped_back, clock_synced=True)
    got = records(tmp_path / "j.db")
    opened, closed = (r for r in got if isinstance(r, wire.ExposureItem))
    raised, cleared = (r for r in got if isinstance(r, wire.AlarmItem))
    assert closed.start == opened.start == iso_utc(WALL + 5.0) and closed.end == closed.start
    assert closed.duration_s == 3.0 and closed.calibration == "cal"  # measured on the monotonic
    assert (opened.clock_synced, closed.clock_synced) == (True, False)
    assert (cleared.at, cleared.since, cleared.exposure) == (raised.at, raised.since, 1)
    assert cleared.cleared == raised.at and cleared.clock_synced is None
    journal.close()


def fixture_copy(tmp_path: Path) -> Path:
    """The journal an agent before typed records left behind (tests/data/README.md)."""
    path = tmp_path / "journal.db"
    shutil.copy(DATA / "journal_v3.db", path)
    return path


def test_a_journal_of_the_previous_agent_is_repaired_where_that_is_certain(
    tmp_path: Path,
) -> None:
    path = fixture_copy(tmp_path)
    before = {seq: json.loads(item) for seq, item in
              sqlite3.connect(path).execute("SELECT seq, item FROM outbox")}
    journal = Journal(path, durable=False)  # upgraded at open
    journal.start_run(WALL + 100.0)  # closes what the dead agent left open
    journal.close()
    got = records(path)
    assert [r for r in got if isinstance(r, wire.RefusedItem)] == []
    assert sorted(r.seq for r in got) == list(range(4, 20))  # 4..17 as they were, 18, 19 new
    readings = {r.seq: r for r in got if isinstance(r, wire.ReadingItem)}
    for seq in (5, 8, 9, 15):  # the probe fault's NaN readings: no data, counts kept
        assert math.isnan(before[seq]["mean_usv_h"])
        assert readings[seq].seconds_covered == 0 and readings[seq].mean_usv_h is None
        assert readings[seq].counts == before[seq]["counts"]
    assert readings[14].saturated and readings[14].mean_sigma_usv_h == MAX_DOSE_RATE_USV_H
    assert readings[14].mean_usv_h == before[14]["mean_usv_h"]
    assert readings[11].model_dump(exclude={"seq", "prev"}) == before[11]  # valid: unchanged
    got.sort(key=lambda r: r.seq)
    interrupted = [(r.seq, type(r).__name__, r.event) for r in got if r.seq >= 18]
    assert interrupted == [(18, "ExposureItem", "interrupted"), (19, "AlarmItem", "interrupted")]
    alarm = got[-1]
    assert isinstance(alarm, wire.AlarmItem) and (alarm.run, alarm.number, alarm.exposure) == (
        2, 1, 1)
    outbox = Outbox(path)
    assert outbox.oldest() == 4 and all(p.item.startswith('{"seq":') for p in outbox.pending(
        1, 100))
    assert oldest_record(outbox.conn) == Oldest(4, "alarms", None)  # queued: unknown
    outbox.close()


def test_a_row_that_cannot_be_repaired_is_left_for_the_hub_to_quarantine(
    tmp_path: Path,
) -> None:
    path = fixture_copy(tmp_path)
    conn = sqlite3.connect(path)
    with conn:  # covered 10 s, yet NaN: which rate was right is not known
        conn.execute("UPDATE outbox SET item = replace(item, '\"counts\":4,\"seconds_covered\""
                     ":10.0,\"cpm\":24.000000000000046', '\"counts\":4,\"seconds_covered\":10.0,"
                     "\"cpm\":NaN') WHERE seq = 11")
    conn.close()
    Journal(path, durable=False).close()
    outbox = Outbox(path)
    (row,) = outbox.pending(11, 1)
    outbox.close()
    assert row.item.startswith('{"seq":11,') and '"cpm":NaN' in row.item  # numbered, as it was
    refused = [r for r in records(path) if isinstance(r, wire.RefusedItem)]
    assert [(r.seq, r.reason.split(":")[0]) for r in refused] == [(11, "cpm")]


def test_the_metrics_show_the_oldest_record_waiting_and_its_age(tmp_path: Path) -> None:
    def values(path: Path, now: float) -> dict[str, float]:
        return {m.name: m.samples[0][1] for m in oldest_record_metrics(str(path), now)}

    journal = Journal(tmp_path / "j.db", durable=False)
    journal.start_run(WALL)
    assert values(tmp_path / "j.db", WALL) == {"voyant_outbox_oldest_seq": 0.0,
                                               "voyant_outbox_oldest_age_seconds": 0.0}
    alarm = AlarmRecord(1, "door_open_during_emission", "corridor", 6.0, 5.5)
    journal.alarm_raised(alarm, lambda t: WALL + t)  # made at WALL + 6
    journal.close()
    assert values(tmp_path / "j.db", WALL + 3606.0) == {
        "voyant_outbox_oldest_seq": 1.0, "voyant_outbox_oldest_age_seconds": 3600.0}
    old = values(fixture_copy(tmp_path), WALL)  # queued by an older agent: age unknown
    assert old["voyant_outbox_oldest_seq"] == 4.0
    assert math.isnan(old["voyant_outbox_oldest_age_seconds"])


def test_a_close_whose_opening_never_reached_the_journal_is_still_journaled(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.db", durable=False)
    journal.start_run(WALL)
    exposure = ExposureRecord(3, 5.0, False, 1, end=7.5)
    journal.exposure_closed(exposure, lambda t: WALL + t, calibration="cal")
    alarm = AlarmRecord(2, "unsolicited_emission", None, 5.3, 5.0, exposure=3, cleared=7.5)
    journal.alarm_cleared(alarm, lambda t: WALL + t)
    (closed,), (cleared,) = journal.exposures(), journal.alarms()
    assert (closed["number"], closed["state"], closed["calibration"]) == (3, "closed", "cal")
    assert (cleared["number"], cleared["state"], cleared["exposure"]) == (
        2, "cleared", closed["id"])
    journal.close()
    got = records(tmp_path / "j.db")
    assert [(type(r).__name__, r.event, r.seq) for r in got] == [  # type: ignore[union-attr]
        ("ExposureItem", "closed", 1), ("AlarmItem", "cleared", 2)]
    assert isinstance(got[0], wire.ExposureItem) and got[0].duration_s == 2.5


def test_a_row_sent_before_the_upgrade_hashes_the_same_when_sent_again(tmp_path: Path) -> None:
    """What the previous agent's publisher sent (its row, the seq put first) and what the
    upgraded journal sends again are the same record to the hub's chain: no false conflict.
    Only rows that needed a repair differ, and the hub had refused those."""
    path = fixture_copy(tmp_path)
    sent_before = {seq: item_hash(with_seq(seq, item)) for seq, item in sqlite3.connect(
        path).execute("SELECT seq, item FROM outbox") if "NaN" not in item
        and "Infinity" not in item}
    Journal(path, durable=False).close()  # upgraded at open
    after = dict(sqlite3.connect(path).execute("SELECT seq, item FROM outbox").fetchall())
    assert sent_before and {seq: item_hash(after[seq]) for seq in sent_before} == sent_before
