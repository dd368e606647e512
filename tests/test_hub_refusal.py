"""The hub's refusal model: per-record validation, quarantine, lost records, stalls.

Fed straight to the ingest core (no broker): the seams with real processes
are in ``test_evidence_flow.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db.store import Store
from hub.errors import StoreReplaced
from hub.ingest.core import IngestCore
from hub.ingest.quarantine import listing, quarantine_main, replay
from tests.hub_factory import (
    DEVICE,
    JOURNAL,
    T0,
    acked,
    alarm,
    alarms,
    batch,
    core,
    open_store,
    reading,
    readings,
    status,
)
from wire import contract as wire
from wire.contract import READINGS

UPGRADE = datetime(2026, 1, 6, tzinfo=UTC)


@pytest.fixture
def hub(store: Store) -> IngestCore:
    return core(store)


def rows(store: Store, sql: str, *params: Any) -> list[dict[str, Any]]:
    return list(store.db.query(sql, params))


def nan_reading(seq: int) -> dict[str, Any]:
    """What the agent before this change journaled while its probe was silent."""
    return {**reading(seq), "counts": 0, "seconds_covered": 0.0, "cpm": float("nan"),
            "mean_usv_h": float("nan"), "mean_sigma_usv_h": float("nan"),
            "max_usv_h": float("nan"), "max_sigma_usv_h": float("nan"), "dose_usv": 0.0}


def seqs(store: Store, table: str = "readings") -> list[int]:
    return [r["seq"] for r in rows(store, f"SELECT seq FROM {table} ORDER BY seq")]


# -- one bad record never blocks the others ----------------------------------------------------


def test_a_refused_record_is_quarantined_whole_and_the_rest_stored_and_acked(
    hub: IngestCore, store: Store
) -> None:
    items = [reading(1), reading(2), nan_reading(3), reading(4), reading(5)]
    acks = hub.handle_batch([batch(READINGS, items)], T0)
    assert acked(acks) == [(DEVICE, JOURNAL, 5)]
    assert seqs(store) == [1, 2, 4, 5]
    (q,) = rows(store, "SELECT * FROM quarantine")
    assert (q["device"], q["journal"], q["seq"], q["kind"], q["counted"]) == (
        DEVICE, JOURNAL, 3, "readings", 1)
    assert "cpm: Input should be a finite number" in q["reason"]
    kept = json.loads(q["item"].replace("NaN", '"NaN"'))
    assert set(kept) == set(items[2]) and q["item"].count("NaN") == 5  # whole, as received
    (event,) = rows(store, "SELECT * FROM events WHERE kind = 'record_quarantined'")
    assert event["severity"] == "warning" and event["ref"] == "2026-01-05"  # the Paris day
    assert json.loads(event["detail"])["count"] == 1
    assert hub.stats()["records_quarantined"] == 1


@pytest.mark.parametrize("kind", [READINGS, wire.ALARMS])
def test_a_record_holding_a_lone_surrogate_is_quarantined_not_the_whole_message(
    hub: IngestCore, store: Store, kind: str
) -> None:
    """JSON's ``\\ud800`` escape decodes to text SQLite cannot store: the record is kept as
    received (the escape written again), the others stored and acknowledged; the whole
    message was refused as an internal error, and sent again for ever."""
    lone = "\ud800"
    good = [reading(1), reading(2)] if kind == READINGS else [alarm(1, 1, "raised"),
                                                               alarm(2, 2, "raised")]
    spoilt = [{**good[0], "seq": 3, "calibration" if kind == READINGS else "detail": lone},
              {**good[1], "seq": 4, lone: 1}]
    acks = hub.handle_batch([batch(kind, [*good, *spoilt])], T0)
    assert acked(acks) == [(DEVICE, JOURNAL, 4)]
    assert rows(store, "SELECT * FROM rejected") == []
    kept = rows(store, "SELECT seq, reason, item FROM quarantine ORDER BY seq")
    assert [q["seq"] for q in kept] == [3, 4]
    assert [json.loads(q["item"]) for q in kept] == spoilt  # the same records read back
    assert "\\ud800" in kept[0]["item"] and all(q["reason"] for q in kept)


def test_one_quarantine_event_per_device_and_paris_day(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([batch(READINGS, [nan_reading(1)])], T0)
    hub.handle_batch([batch(READINGS, [reading(2), nan_reading(3)])], T0 + 60)
    # 2026-01-05T23:30Z is already the 6th in Paris (UTC+1)
    hub.handle_batch([batch(READINGS, [nan_reading(4)])], T0 + 16.5 * 3600)
    events = rows(store, "SELECT ref, detail FROM events WHERE kind = 'record_quarantined'"
                         " ORDER BY id")
    assert [(e["ref"], json.loads(e["detail"])["count"]) for e in events] == [
        ("2026-01-05", 2), ("2026-01-06", 1)]
    assert hub.upto(DEVICE, JOURNAL) == 4


def test_a_resent_quarantined_record_is_a_duplicate(hub: IngestCore, store: Store) -> None:
    for _ in range(3):
        hub.handle_batch([batch(READINGS, [reading(1), nan_reading(2)])], T0)
    assert len(rows(store, "SELECT * FROM quarantine")) == 1
    assert hub.stats()["duplicates"] == 4


def test_a_refused_record_after_a_jump_never_moves_the_ack(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([readings(1, 2)], T0)
    acks = hub.handle_batch([batch(READINGS, [nan_reading(10), reading(11)])], T0 + 1)
    assert acks == [] and hub.upto(DEVICE, JOURNAL) == 2
    assert rows(store, "SELECT seq, counted FROM quarantine") == [{"seq": 10, "counted": 0}]
    acks = hub.handle_batch([readings(3, 9)], T0 + 2)  # the hole fills: now it counts
    assert acked(acks) == [(DEVICE, JOURNAL, 11)]
    assert rows(store, "SELECT seq, counted FROM quarantine") == [{"seq": 10, "counted": 1}]


def test_a_waiting_quarantined_record_survives_a_restart(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    core(store).handle_batch([readings(1, 2), batch(READINGS, [nan_reading(4)])], T0)
    store.close()
    store = open_store(tmp_path)
    again = core(store, T0 + 5)
    assert acked(again.handle_batch([readings(3, 3)], T0 + 5)) == [(DEVICE, JOURNAL, 4)]
    store.close()


def test_a_valid_resend_of_a_waiting_refused_record_is_stored(
    hub: IngestCore, store: Store
) -> None:
    hub.handle_batch([readings(1, 1), batch(READINGS, [nan_reading(3)])], T0)
    acks = hub.handle_batch([readings(2, 3)], T0 + 1)  # an upgraded agent repaired it
    assert acked(acks) == [(DEVICE, JOURNAL, 3)] and seqs(store) == [1, 2, 3]


def test_a_broken_envelope_is_refused_whole(hub: IngestCore, store: Store) -> None:
    topic, payload = batch(READINGS, [reading(1), reading(2)])
    body = json.loads(payload)
    body["items"][1]["seq"] = "2"  # unattributable: no sequence number to quarantine under
    assert hub.handle_batch([(topic, json.dumps(body).encode())], T0) == []
    assert rows(store, "SELECT count(*) AS n FROM quarantine") == [{"n": 0}]
    assert "items.1.seq" in rows(store, "SELECT reason FROM rejected")[0]["reason"]


# -- replay after an upgrade -------------------------------------------------------------------


class _Stricter(wire.ReadingItem):
    """An older hub's contract that refused a calibration name today's accepts."""

    def model_post_init(self, context: Any) -> None:
        if self.calibration == "sbm20/x-ray-60kV":
            raise ValueError("calibration: unknown")


def test_replay_stores_what_today_s_contract_accepts(
    hub: IngestCore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(wire.ITEM_MODELS, READINGS, _Stricter)
    items = [reading(1), reading(2, calibration="sbm20/x-ray-60kV"), nan_reading(3), reading(4)]
    hub.handle_batch([batch(READINGS, items)], T0)
    assert seqs(store) == [1, 4]
    monkeypatch.undo()  # the upgrade
    assert replay(store, None, UPGRADE) == (1, 1, 0)
    assert seqs(store) == [1, 2, 4]
    left = listing(store, None, include_replayed=False, limit=10)
    assert [r["seq"] for r in left] == [3] and "finite" in str(left[0]["reason"])
    assert rows(store, "SELECT kind FROM received WHERE seq = 2") == [{"kind": "readings"}]
    assert replay(store, DEVICE, UPGRADE) == (0, 1, 0)  # idempotent


def test_the_quarantine_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "hub.db"
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    store = Store.open(db)
    core(store).handle_batch([batch(READINGS, [reading(1), nan_reading(2)])], T0)
    store.close()
    assert quarantine_main(["list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"{DEVICE} {JOURNAL}:2 readings" in out and "[counted]" in out
    assert "1 quarantined record(s)" in out
    assert quarantine_main(["list", "--config", str(config), "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["seq"] == 2
    assert quarantine_main(["replay", "--config", str(config)]) == 0
    assert "0 stored, 1 still refused" in capsys.readouterr().out
    assert quarantine_main(["list", "--config", str(tmp_path / "missing.toml")]) == 2


# -- what no one holds any more ----------------------------------------------------------------


def test_a_restored_store_declares_exactly_what_is_lost_and_keeps_flowing(
    tmp_path: Path,
) -> None:
    """The hub held 1..200 and had acknowledged 150 when its store was put back to a copy
    holding 1..100 and an early alarm (seq 120). The agent deleted 1..150 and holds 151..."""
    store = open_store(tmp_path)
    hub = core(store)
    hub.handle_batch([readings(1, 100), alarms(alarm(120, 1, "raised"))], T0)
    store.close()
    shutil.copy(tmp_path / "hub.db", tmp_path / "copy.db")
    store = open_store(tmp_path)
    hub = core(store, T0 + 1)
    hub.handle_batch([readings(101, 119), readings(121, 200)], T0 + 1)
    store.close()
    shutil.copy(tmp_path / "copy.db", tmp_path / "hub.db")  # the restore
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"hub.db{suffix}").unlink(missing_ok=True)
    store = open_store(tmp_path)
    hub = core(store, T0 + 2)
    assert hub.upto(DEVICE, JOURNAL) == 100
    # the agent resends what it still holds (151..200), then new records
    acks = hub.handle_batch([readings(151, 200, oldest=151), readings(201, 210, oldest=151)],
                            T0 + 2)
    assert acked(acks) == [(DEVICE, JOURNAL, 210)]
    (gap,) = rows(store, "SELECT * FROM events WHERE kind = 'data_gap'")
    detail = json.loads(gap["detail"])
    assert (detail["first"], detail["last"], detail["missing"], detail["lost"]) == (
        101, 150, 49, True)  # 50 numbers, one of them (the alarm, 120) still held
    assert gap["condition_cleared_at"] is not None
    assert hub.stats()["records_lost"] == 49
    # said once: the same oldest again changes nothing
    hub.handle_batch([readings(211, 211, oldest=151)], T0 + 3)
    assert len(rows(store, "SELECT * FROM events WHERE kind = 'data_gap'")) == 1
    store.close()


def test_an_open_gap_event_becomes_the_lost_declaration(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([status("online", T0), readings(1, 10), readings(21, 30)], T0)
    hub.tick(T0 + 61)
    (gap,) = rows(store, "SELECT * FROM events WHERE kind = 'data_gap'")
    assert gap["condition_cleared_at"] is None
    acks = hub.handle_batch([readings(31, 31, oldest=16)], T0 + 62)  # 16..20 still come
    assert acked(acks) == [(DEVICE, JOURNAL, 15)]
    (gap,) = rows(store, "SELECT * FROM events WHERE kind = 'data_gap'")
    assert json.loads(gap["detail"])["missing"] == 5 and gap["condition_cleared_at"]
    assert acked(hub.handle_batch([readings(16, 20)], T0 + 63)) == [(DEVICE, JOURNAL, 31)]


def test_the_status_says_what_the_agent_still_holds(hub: IngestCore, store: Store) -> None:
    hub.handle_batch([readings(1, 5)], T0)
    acks = hub.handle_batch([status("online", T0 + 1, oldest=41)], T0 + 1)
    assert hub.upto(DEVICE, JOURNAL) == 40 and acked(acks) == [(DEVICE, JOURNAL, 40)]
    detail = json.loads(rows(store, "SELECT detail FROM events WHERE kind = 'data_gap'")[0][
        "detail"])
    assert detail["missing"] == 35


def test_an_oldest_beyond_the_batch_is_refused(hub: IngestCore, store: Store) -> None:
    assert hub.handle_batch([readings(1, 3, oldest=10)], T0) == []
    assert "oldest" in rows(store, "SELECT reason FROM rejected")[0]["reason"]
    assert hub.upto(DEVICE, JOURNAL) == 0


# -- a store that is not the one opened ---------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced", "read-only"])
def test_no_ack_rests_on_a_store_that_is_not_the_one_opened(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    hub = core(store)
    assert acked(hub.handle_batch([readings(1, 2)], T0)) == [(DEVICE, JOURNAL, 2)]
    path = tmp_path / "hub.db"
    if how == "deleted":
        path.unlink()
    elif how == "replaced":
        shutil.copy(path, tmp_path / "other.db")
        (tmp_path / "other.db").replace(path)
    else:  # a remounted read-only disk (root ignores file modes, so ask access() there)
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path)
                            and mode == os.W_OK else real(p, mode))
    with pytest.raises(StoreReplaced):
        hub.tick(T0 + 1)  # a quiet hub: no message needed to notice
    with pytest.raises(StoreReplaced):
        hub.handle_batch([readings(3, 4)], T0 + 1)
    store.close()


# -- a stalled acknowledgement ----------------------------------------------------------------


def test_ack_stalled_is_raised_while_a_device_sends_and_cleared_when_the_ack_moves(
    store: Store,
) -> None:
    hub = core(store, ack_stall_s=300.0)
    hub.handle_batch([status("online", T0), readings(1, 1)], T0)
    for minute in range(1, 7):  # an old agent (no ``oldest``) resends above a hole
        now = T0 + 60 * minute
        hub.handle_batch([status("online", T0), readings(5, 6)], now)
        hub.tick(now)
    (stall,) = rows(store, "SELECT * FROM events WHERE kind = 'ack_stalled'")
    assert stall["severity"] == "warning" and stall["ref"] == JOURNAL
    assert stall["condition_cleared_at"] is None
    assert rows(store, "SELECT count(*) AS n FROM events WHERE kind = 'data_gap'") == [{"n": 1}]
    hub.handle_batch([readings(2, 4)], T0 + 400)
    hub.tick(T0 + 401)
    (stall,) = rows(store, "SELECT * FROM events WHERE kind = 'ack_stalled'")
    assert stall["condition_cleared_at"] is not None


def test_a_silent_device_is_not_stalled(store: Store) -> None:
    hub = core(store, ack_stall_s=300.0)
    hub.handle_batch([status("online", T0, heartbeat_s=3600), readings(1, 1), readings(5, 6)], T0)
    hub.tick(T0 + 1000)  # nothing sent since: offline, maybe, or a gap; not a stall
    assert rows(store, "SELECT count(*) AS n FROM events WHERE kind = 'ack_stalled'") == [
        {"n": 0}]


@pytest.mark.parametrize("restart", [False, True])
def test_a_refused_record_inside_a_hole_is_no_missing_record(store: Store, restart: bool) -> None:
    """6 and 7 late, 8 refused, 9 valid: once 6 and 7 arrive nothing is missing, and no
    data_gap opens (nor after a restart of the hub in between)."""
    hub = core(store, gap_timeout_s=30.0)
    hub.handle_batch([readings(1, 5)], T0)
    hub.handle_batch([batch(READINGS, [nan_reading(8), reading(9)])], T0 + 1)
    if restart:
        hub = core(store, now=T0 + 2, gap_timeout_s=30.0)
    hub.handle_batch([readings(6, 7)], T0 + 3)
    for t in range(4, 200, 5):
        hub.tick(T0 + t)
    assert hub.upto(DEVICE, JOURNAL) == 9 and hub.seqs[(DEVICE, JOURNAL)].gaps == []
    assert rows(store, "SELECT count(*) AS n FROM events WHERE kind = 'data_gap'") == [{"n": 0}]


def test_a_time_in_other_digits_is_refused(hub: IngestCore, store: Store) -> None:
    """The pattern engine's \\d matches fullwidth digits, which int() reads and the pages'
    date functions do not: the contract takes ASCII digits only."""
    fullwidth = {**reading(1), "start": "\uff12\uff10\uff12\uff16-01-05T07:00:40Z"}
    hub.handle_batch([batch(READINGS, [fullwidth])], T0)
    (q,) = rows(store, "SELECT seq, reason FROM quarantine")
    assert q["seq"] == 1 and "start" in q["reason"]


def test_end_before_start_is_judged_by_time_not_by_text() -> None:
    """``…:00.5Z`` is after ``…:00Z`` although ``.`` sorts before ``Z``."""
    later = {**reading(1), "start": "2026-01-05T07:00:00Z", "end": "2026-01-05T07:00:00.5Z"}
    earlier = {**reading(1), "start": "2026-01-05T07:00:00.9Z", "end": "2026-01-05T07:00:00Z"}
    wire.ReadingItem.model_validate(later)
    with pytest.raises(ValueError, match="before start"):
        wire.ReadingItem.model_validate(earlier)
