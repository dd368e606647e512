"""``voyant-hub verify`` and ``journal export``: the store checked at rest, reading only."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.chain import export as export_module
from hub.chain.export import export_lines
from hub.chain.status import device_status
from hub.chain.verify import report, verify
from hub.cli import main
from tests.hub_factory import DEVICE, JOURNAL, T0, core, open_store, reading
from tests.test_hub_chain import KINDS, chained, change, mixed, send, send_all
from wire.chain import record_hash


def ingest(path: Path, *batches: Callable[[Any], None]) -> Path:
    """A store at ``path`` filled by the real ingest: the eight mixed records, then more."""
    store = open_store(path)
    hub = core(store)
    send_all(hub, mixed())
    for more in batches:
        more(hub)
    store.close()
    return path / "hub.db"


def run(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    config = db.parent / "hub.toml"
    config.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    status = main(["verify", "--config", str(config), *args])
    return status, capsys.readouterr().out


def altered(db: Path, tmp_path: Path, sql: str) -> Path:
    copy = tmp_path / "copy" / "hub.db"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    conn.execute(sql)
    conn.commit()
    conn.close()
    return copy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_intact_store_is_intact_and_verify_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    before = digest(db)
    status, out = run(db, capsys)
    assert status == 0, out
    head = record_hash(mixed()[-1])
    assert f"{DEVICE} {JOURNAL}: 8 records checked" in out
    assert f"head 8 {head}: intact" in out and out.rstrip().endswith("intact")
    assert digest(db) == before


def test_an_altered_row_is_found_with_its_place(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    for sql, kind in [("UPDATE readings SET cpm = 99.0 WHERE seq = 2", "readings"),
                      ("UPDATE changes SET value = 0 WHERE seq = 4", "changes"),
                      ("UPDATE alarms SET subject = 'lab' WHERE last_seq = 7", "alarms")]:
        copy = altered(db, tmp_path / kind, sql)
        status, out = run(copy, capsys)
        assert status == 1, out
        seq = {"readings": 2, "changes": 4, "alarms": 7}[kind]
        assert f"BROKEN {DEVICE} {JOURNAL} seq {seq} {kind}: the {kind} row's" in out, out


def test_a_row_made_up_in_the_store_is_found(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    copy = altered(db, tmp_path, "INSERT INTO readings SELECT device, site, room, journal, 42,"
                   " run, start, \"end\", counts, seconds_covered, cpm, dose_usv, mean_usv_h,"
                   " mean_sigma_usv_h, max_usv_h, max_sigma_usv_h, saturated, calibration,"
                   " frames, frames_lost, clock_synced, clock_implausible FROM readings"
                   " WHERE seq = 1")
    status, out = run(copy, capsys)
    assert status == 1
    assert "seq 42 readings: a readings row with no readings record received" in out


def test_an_altered_record_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    copy = altered(db, tmp_path, "UPDATE received SET body = replace(body, '\"counts\":12',"
                   " '\"counts\":13') WHERE seq = 3")
    status, out = run(copy, capsys)
    assert status == 1
    assert (f"BROKEN {DEVICE} {JOURNAL} seq 3 readings: altered: the stored record does not"
            " match its hash") in out


def test_a_store_rewritten_with_its_chain_recomputed_is_caught_by_the_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Even a record rewritten with a hash made to match breaks the next link."""
    db = ingest(tmp_path)
    items = mixed()
    forged = {**items[2], "counts": 13}
    copy = altered(db, tmp_path, f"UPDATE received SET hash = '{record_hash(forged)}',"
                   f" body = '{json.dumps(forged, sort_keys=True, separators=(',', ':'))}'"
                   " WHERE seq = 3")
    status, out = run(copy, capsys)
    assert status == 1
    assert "seq 4 changes: prev is not the hash of seq 3" in out
    assert "seq 3 readings: the readings row's counts is 12, the record says 13" in out


def test_a_restored_journal_sending_other_records_is_found(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def restored(hub: Any) -> None:  # the box's journal restored: seq 2 and 3 made again
        again = chained([reading(1), reading(2, cpm=80.0), reading(3, cpm=81.0)])
        hub.handle_batch([send("readings", again)], T0 + 60)

    db = ingest(tmp_path, restored)
    status, out = run(db, capsys)
    assert status == 1
    assert f"BROKEN {DEVICE} {JOURNAL} seq 2 readings: conflict: a copy received" in out
    assert "seq 3 readings: conflict" in out and "seq 1 readings: conflict" not in out


def test_a_declared_lost_gap_is_stated_not_a_break(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def after_a_loss(hub: Any) -> None:  # 9..11 lost for good; 12.. says prev of 11
        later = chained([reading(12), reading(13)], prev="a" * 64)
        hub.handle_batch([send("readings", later, oldest=12)], T0 + 60)

    db = ingest(tmp_path, after_a_loss)
    status, out = run(db, capsys)
    assert status == 0, out
    assert "10 records checked, 0 quarantined, 3 declared lost" in out
    assert "head 13" in out and ": gap" in out
    assert out.rstrip().endswith("intact, with the gaps stated")
    lines = [json.loads(line) for line in export_lines(sqlite3.connect(db), DEVICE)]
    assert [(e["status"], e.get("seq", e.get("first"))) for e in lines][7:] == [
        ("stored", 8), ("lost", 9), ("stored", 12), ("stored", 13)]


def test_an_undeclared_hole_and_one_in_flight(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def early(hub: Any) -> None:  # 11..12 arrive before 9..10: still on their way
        hub.handle_batch([send("readings", chained([reading(11), reading(12)], "b" * 64))],
                         T0 + 60)

    db = ingest(tmp_path, early)
    status, out = run(db, capsys)
    assert status == 0 and "9..10 still in flight" in out, out
    copy = altered(db, tmp_path, "DELETE FROM received WHERE seq = 5")
    status, out = run(copy, capsys)
    assert status == 1
    assert "seq 5 gap: undeclared gap: seq 5..5 missing" in out


def test_a_head_signed_in_a_report_must_still_be_the_stores(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    conn = sqlite3.connect(db)
    [(point,)] = conn.execute("SELECT id FROM points WHERE device = ?", (DEVICE,)).fetchall()
    for version, signed in [(1, record_hash(mixed()[-1])), (2, "c" * 64)]:
        content = {"chain_heads": [{"device": DEVICE, "journal": JOURNAL, "seq": 8,
                                    "hash": signed}]}
        conn.execute(
            "INSERT INTO reports (point_id, device, site, room, quarter, version, status,"
            " content, content_sha256, created_at, updated_at) VALUES (?, ?, 's', 'r',"
            " '2026-Q1', ?, 'signed', ?, '', '', '')",
            (point, DEVICE, version, json.dumps(content)))
    conn.commit()
    conn.close()
    status, out = run(db, capsys)
    assert status == 1
    assert "seq 8 head: differs from signed report 2: signed hash cccc" in out
    assert "signed report 1" not in out


def test_from_and_to_are_paris_days_of_the_store(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)  # stored at T0: 2026-01-05 08:00 in Paris
    status, out = run(db, capsys, "--from", "2026-01-05", "--to", "2026-01-05")
    assert status == 0 and "8 records checked" in out
    status, out = run(db, capsys, "--from", "2026-01-06")
    assert status == 0 and "0 records checked" in out and "no chained record" in out


def test_an_older_store_is_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    assert main(["verify", "--config", str(config)]) == 1
    assert "schema version 1" in capsys.readouterr().err


def test_journal_export_writes_json_lines(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = ingest(tmp_path)
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    out = tmp_path / "export.jsonl"
    assert main(["journal", "export", DEVICE, "--config", str(config), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    items = mixed()
    assert [(e["seq"], e["kind"], e["status"], e["hash"]) for e in lines] == [
        (i["seq"], k, "stored", record_hash(i)) for i, k in zip(items, KINDS, strict=True)]
    assert lines[3]["record"] == items[3] and lines[0]["device"] == DEVICE
    assert main(["journal", "export", "chu-nord.nowhere", "--config", str(config)]) == 1


def test_verify_in_python(tmp_path: Path) -> None:
    """The API the CLI prints from: one check per journal, quarantined records counted."""
    def refused(hub: Any) -> None:
        items = chained([{**reading(9), "counts": -1}, change(10)], prev=record_hash(
            mixed()[-1]))
        hub.handle_batch([send("readings", items[:1]), send("changes", items[1:])], T0 + 5)

    db = ingest(tmp_path, refused)
    conn = sqlite3.connect(db)
    [check] = verify(conn)
    conn.close()
    assert (check.records, check.quarantined, check.state) == (9, 1, "intact")
    assert report([check])[1] == 0


def export(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        return [json.loads(line) for line in export_lines(conn, DEVICE)]
    finally:
        conn.close()


def test_a_record_without_prev_after_the_chain_is_a_break(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def older(hub: Any) -> None:  # an older agent's journal put back: no prev any more
        hub.handle_batch([send("readings", [reading(9)])], T0 + 60)

    db = ingest(tmp_path, older)
    status, out = run(db, capsys)
    assert status == 1 and f"BROKEN {DEVICE} {JOURNAL} seq 9 readings: the chain stops" in out
    copy = altered(db, tmp_path, "DELETE FROM chain_breaks")  # verify finds it itself
    status, out = run(copy, capsys)
    assert status == 1 and "seq 9 readings: the chain stops" in out, out


@pytest.mark.parametrize("body", ["[1]", "not json", "null"])
def test_a_stored_body_that_is_no_json_object_is_a_problem_and_exported(
        body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = altered(ingest(tmp_path), tmp_path, f"UPDATE received SET body = '{body}' WHERE seq = 2")
    status, out = run(db, capsys)
    assert status == 1
    assert "seq 2 readings: altered: the stored record is not a JSON object the chain" in out
    lines = export(db)
    assert [e["seq"] for e in lines] == list(range(1, 9))
    assert lines[1]["record"] == ([1] if body == "[1]" else None if body == "null" else body)


def test_the_export_stops_at_the_acknowledgement_and_keeps_the_journal_its_own(
        tmp_path: Path) -> None:
    def after_a_loss(hub: Any) -> None:  # 9..11 lost, 12..13 stored, 15..16 in flight
        later = chained([reading(12), reading(13)], prev="a" * 64)
        hub.handle_batch([send("readings", later, oldest=12)], T0 + 60)
        early = chained([reading(15), reading(16)], prev="b" * 64)
        hub.handle_batch([send("readings", early)], T0 + 61)

    db = ingest(tmp_path, after_a_loss)
    # Kept from a message naming another device (never counted): not this journal's record.
    db = altered(db, tmp_path, "INSERT INTO quarantine (device, site, room, journal, seq,"
                 " kind, received_at, reason, item, counted) VALUES"
                 f" ('{DEVICE}', 's', 'r', '{JOURNAL}', 10, 'readings',"
                 " '2026-01-05T07:00:00.000Z', 'not its own', '{}', 0)")
    lines = export(db)
    assert [(e["status"], e.get("seq", e.get("first"))) for e in lines][7:] == [
        ("stored", 8), ("lost", 9), ("stored", 12), ("stored", 13)]


def test_lost_ranges_are_read_alike_by_export_badge_and_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``data_gap`` whose bounds are not integers declares nothing, for every reader."""
    db = ingest(tmp_path)
    store = open_store(tmp_path)
    with store.transaction():
        store.open_event("data_gap", DEVICE, "s", "r", f"{JOURNAL}:9", "2026-01-05T07:00:00Z",
                         {"journal": JOURNAL, "first": "9", "last": 10, "lost": True})
    badge = device_status(store.conn, DEVICE)
    store.close()
    assert badge.state == "intact" and badge.place is None
    assert [e["status"] for e in export(db)] == ["stored"] * 8
    status, out = run(db, capsys)
    assert status == 0 and "0 declared lost" in out, out


def test_a_failed_export_says_so_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = ingest(tmp_path)
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")

    def failing(*_args: Any) -> Any:
        yield "{}"
        raise RuntimeError("a row the export cannot read")

    monkeypatch.setattr(export_module, "export_lines", failing)
    assert main(["journal", "export", DEVICE, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "export failed after 1 line(s): RuntimeError: a row the export cannot read" in err
    assert "Traceback" not in err


def test_the_export_streams_its_lines(tmp_path: Path) -> None:
    """The first line is out before the journal is read: one ordered cursor, nothing built
    in memory first (a box's years of records)."""
    def more(hub: Any) -> None:
        items = chained([reading(s) for s in range(9, 409)], prev=record_hash(mixed()[-1]))
        hub.handle_batch([send("readings", items)], T0 + 60)

    conn = sqlite3.connect(ingest(tmp_path, more))
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 100)
    lines = export_lines(conn, DEVICE)
    next(lines)
    first = steps[0]
    rest = sum(1 for _ in lines)
    conn.close()
    assert rest == 407 and first * 3 < steps[0], (first, steps[0])


def test_a_record_quarantined_before_the_chain_without_a_hash_is_not_altered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store upgraded before the upgrade filled ``quarantine.hash``: a refused record of
    an agent without the chain (no ``prev``) has nothing to be compared with."""
    store = open_store(tmp_path)
    core(store).handle_batch([send("readings", [reading(1), {**reading(2), "counts": -1},
                                                reading(3)])], T0)
    store.close()
    db = altered(tmp_path / "hub.db", tmp_path, "UPDATE quarantine SET hash = NULL")
    status, out = run(db, capsys)
    assert status == 0 and "1 quarantined" in out, out
