"""Storing RDSRs (#17 item 2): a file once by SOP Instance UID, an event once by its UID,
a study's totals one file's (never a sum), what is not an RDSR refused and kept, a
conflicting file set aside, and ``voyant-hub rdsr import``."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from hub.db.connection import connect
from hub.db.migrate_rdsr import rdsr_to_5
from hub.db.store import Store
from hub.rdsr.cli import rdsr_main
from hub.rdsr.reader import read
from hub.rdsr.store import store_bytes
from tests import rdsr_builder as b

SHARED = Path(__file__).resolve().parent / "data" / "rdsr"
SIEMENS = SHARED / "RF-RDSR-Siemens-Zee.dcm"
PHILIPS = SHARED / "RF-RDSR-Philips_Allura.dcm"
GE = SHARED / "RF-RDSR-GE-OECEliteMiniView.dcm"
TABLES = ("rdsr_files", "rdsr_studies", "rdsr_irradiation_events", "rdsr_refused")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "hub.db"
    Store.open(path).close()
    c = connect(path)
    yield c
    c.close()


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
            for t in TABLES}


def events_of(conn: sqlite3.Connection, study: str) -> int:
    return int(conn.execute("SELECT count(*) FROM rdsr_irradiation_events"
                            " WHERE study_instance_uid = ?", [study]).fetchone()[0])


def as_bytes(ds: pydicom.Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_the_three_shared_files_stored_with_their_events_and_totals(
        conn: sqlite3.Connection) -> None:
    for path, count in ((SIEMENS, 8), (PHILIPS, 3), (GE, 22)):
        raw = path.read_bytes()
        outcome = store_bytes(conn, raw, "ARTIS@10.0.0.5", peer_device="Salle 3")
        report = read(path)
        assert (outcome.status, outcome.events, outcome.new_events) == ("stored", count, count)
        assert outcome.study_instance_uid == report.study_instance_uid
        row = conn.execute("SELECT * FROM rdsr_files WHERE sop_instance_uid = ?",
                           [report.sop_instance_uid]).fetchone()
        assert (row["peer"], row["peer_device"], row["size"], row["sha256"]) == (
            "ARTIS@10.0.0.5", "Salle 3", len(raw), hashlib.sha256(raw).hexdigest())
        assert bytes(row["raw"]) == raw  # kept whole: the evidence
        assert row["observer_name"] == report.device.observer_name
        study = conn.execute("SELECT * FROM rdsr_studies WHERE study_instance_uid = ?",
                             [report.study_instance_uid]).fetchone()
        assert study["dap_gym2"] == pytest.approx(report.totals.dap_gym2)
        assert study["fluoro_time_s"] == report.totals.fluoro_time_s
        assert events_of(conn, str(report.study_instance_uid)) == count
    siemens = conn.execute("SELECT * FROM rdsr_studies WHERE serial = '123456'").fetchone()
    assert siemens["dap_gym2"] == pytest.approx(1.6e-5)  # 0.16 Gy·cm², in Gy·m²
    assert siemens["start_utc"] == "2016-05-12T08:06:47.812Z"  # Paris summer time to UTC
    first = conn.execute("SELECT * FROM rdsr_irradiation_events WHERE irradiation_event_uid"
                         " = '1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.4.0'"
                         ).fetchone()
    assert (first["start_utc"], first["pulses"], first["pulse_rate_hz"], first["type"]) == (
        "2016-05-12T08:11:54.000Z", 24, 7.5, "fluoroscopy")
    # No column but the file as received holds the patient's name or identifier.
    ds = pydicom.dcmread(PHILIPS)
    secrets = {str(ds.PatientName), str(ds.PatientID)}
    assert secrets == {"Springer^Albertus", "abc123def"}
    for table in TABLES:
        names = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
        for row in conn.execute(f"SELECT * FROM {table}"):
            shown = {name: value for name, value in zip(names, row, strict=True)
                     if name != "raw" and isinstance(value, str)}
            assert not [n for n, v in shown.items() if any(s in v for s in secrets)], table
    raw = conn.execute("SELECT raw FROM rdsr_files WHERE serial = '1'").fetchone()[0]
    assert b"Springer" in raw  # the evidence is the file as the imaging system sent it


def test_a_resent_file_is_a_success_and_changes_nothing(conn: sqlite3.Connection) -> None:
    raw = SIEMENS.read_bytes()
    assert store_bytes(conn, raw, "ARTIS@10.0.0.5").status == "stored"
    before = dump(conn)
    again = store_bytes(conn, raw, "OTHER@10.0.0.9")
    assert (again.status, again.line) == ("already_stored", "already stored (SOP Instance"
                                          f" UID {again.sop_instance_uid}, identical)")
    assert dump(conn) == before  # neither the study's total nor its events doubled


def test_the_same_report_in_another_transfer_syntax_is_already_stored(
        conn: sqlite3.Connection) -> None:
    assert store_bytes(conn, SIEMENS.read_bytes(), "import:a").status == "stored"
    before = dump(conn)
    ds = pydicom.dcmread(SIEMENS)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    other = as_bytes(ds)
    assert other != SIEMENS.read_bytes()
    outcome = store_bytes(conn, other, "ARTIS@10.0.0.5")
    assert outcome.status == "already_stored" and "encoded differently" in outcome.reason
    assert dump(conn) == before


def _study_pair() -> tuple[bytes, bytes, str]:
    """Two reports of one study: the second, later, holds the first's two events and one
    more, and its own (larger) totals."""
    study, uids = generate_uid(), [generate_uid() for _ in range(3)]
    early = b.report(b.accumulated(b.num("113722", "0.002", "Gy.m2")),
                     b.event("20260115093000", uid=uids[0]),
                     b.event("20260115093500", uid=uids[1]))
    late = b.report(b.accumulated(b.num("113722", "0.003", "Gy.m2")),
                    b.event("20260115093000", uid=uids[0]),
                    b.event("20260115093500", uid=uids[1]),
                    b.event("20260115094000", uid=uids[2]))
    early.StudyInstanceUID = late.StudyInstanceUID = study
    return as_bytes(early), as_bytes(late), study


@pytest.mark.parametrize("order", ["early_first", "late_first"])
def test_two_files_of_one_study_share_their_events_and_never_add_totals(
        conn: sqlite3.Connection, order: str) -> None:
    early, late, study = _study_pair()
    first, second = (early, late) if order == "early_first" else (late, early)
    store_bytes(conn, first, "ARTIS@10.0.0.5")
    outcome = store_bytes(conn, second, "ARTIS@10.0.0.5")
    assert outcome.status == "stored"
    assert outcome.new_events == (1 if order == "early_first" else 0)
    assert events_of(conn, study) == 3
    row = conn.execute("SELECT * FROM rdsr_studies").fetchone()
    assert row["dap_gym2"] == pytest.approx(0.003)  # the later report's, not 0.005
    assert conn.execute("SELECT count(*) FROM rdsr_files").fetchone()[0] == 2


def test_a_different_file_under_a_stored_sop_instance_uid_is_refused_and_kept(
        conn: sqlite3.Connection) -> None:
    ds = pydicom.dcmread(SIEMENS)
    store_bytes(conn, as_bytes(ds), "ARTIS@10.0.0.5")
    kept = dump(conn)
    ds.StudyInstanceUID = generate_uid()  # another study under the same SOP Instance UID
    other = as_bytes(ds)
    for times in (1, 2):  # the device sends it again: counted, not kept twice
        outcome = store_bytes(conn, other, "ARTIS@10.0.0.5")
        assert (outcome.status, outcome.kind) == ("refused", "conflict")
        assert "a different file with SOP Instance UID" in outcome.reason
        refused = conn.execute("SELECT kind, times, raw FROM rdsr_refused").fetchall()
        assert [(r["kind"], r["times"], bytes(r["raw"])) for r in refused] == [
            ("conflict", times, other)]
    assert {t: v for t, v in dump(conn).items() if t != "rdsr_refused"} == {
        t: v for t, v in kept.items() if t != "rdsr_refused"}


@pytest.mark.parametrize(("raw", "why"), [
    (b"", "not a DICOM file"),
    (b"\x00" * 128 + b"DICM" + b"\xff" * 300, "no SOP Class UID"),
    (SIEMENS.read_bytes()[:1500], "not a readable DICOM file"),
    (as_bytes(b.report(b.event(), sop_class=b.CT_IMAGE)), "is not an X-Ray Radiation Dose SR"),
])
def test_what_is_not_an_rdsr_is_refused_with_its_reason_and_kept(
        conn: sqlite3.Connection, raw: bytes, why: str) -> None:
    outcome = store_bytes(conn, raw, "ARTIS@10.0.0.5")
    assert (outcome.status, outcome.kind) == ("refused", "not_rdsr")
    assert why in outcome.reason and "\n" not in outcome.reason
    row = conn.execute("SELECT * FROM rdsr_refused").fetchone()
    assert (row["kind"], row["peer"], bytes(row["raw"])) == ("not_rdsr", "ARTIS@10.0.0.5", raw)
    assert conn.execute("SELECT count(*) FROM rdsr_files").fetchone()[0] == 0


def test_import_keeps_nothing_it_refuses(conn: sqlite3.Connection) -> None:
    outcome = store_bytes(conn, b"not dicom", "import:x.dcm", keep_refused=False)
    assert outcome.status == "refused"
    assert all(not rows for rows in dump(conn).values())


def test_hostile_uids_refused_and_events_without_uid_counted_once(
        conn: sqlite3.Connection) -> None:
    ds = b.report(b.event())
    ds.SOPInstanceUID = "9" * 65 + "\\x"
    outcome = store_bytes(conn, as_bytes(ds), "ARTIS@10.0.0.5")
    assert outcome.status == "refused" and "no valid SOP Instance UID" in outcome.reason
    ds = b.report(b.event())
    del ds.StudyInstanceUID
    assert "no valid Study Instance UID" in store_bytes(conn, as_bytes(ds), "p").reason
    # events whose UID is no UID: the same event in two reports of the study, once
    study = generate_uid()
    files = []
    for n in (1, 2):
        ds = b.report(*[b.event(f"2026011509{m}000", uid="not a uid") for m in range(n + 1)])
        ds.StudyInstanceUID = study
        files.append(as_bytes(ds))
    assert [store_bytes(conn, f, "p").new_events for f in files] == [2, 1]
    assert events_of(conn, study) == 3
    assert {r[0] for r in conn.execute("SELECT uid_derived FROM rdsr_irradiation_events")
            } == {1}


def test_an_event_uid_claimed_by_another_study_stays_with_the_first(
        conn: sqlite3.Connection) -> None:
    uid = generate_uid()
    one, two = b.report(b.event(uid=uid)), b.report(b.event(uid=uid))
    store_bytes(conn, as_bytes(one), "p")
    assert store_bytes(conn, as_bytes(two), "p").new_events == 0
    assert conn.execute("SELECT study_instance_uid FROM rdsr_irradiation_events").fetchall()[
        0][0] == one.StudyInstanceUID


def test_migration_step_is_idempotent(tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "x.db")
    rdsr_to_5(c)
    rdsr_to_5(c)
    names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= names
    c.close()


def test_import_command_a_line_per_file_and_its_exit_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "hub.db"}"\n', encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(SIEMENS.read_bytes())
    (folder / "b.dcm").write_bytes(PHILIPS.read_bytes())
    assert rdsr_main(["import", str(folder), str(GE), "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(" (")[0] for line in lines] == ["stored"] * 3
    assert lines[0].startswith(f"{folder / 'a.dcm'}: stored (study ")
    (folder / "c.txt").write_text("hello", encoding="utf-8")
    assert rdsr_main(["import", str(folder), str(tmp_path / "none"),
                      "--config", str(config)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"{folder / 'a.dcm'}: already stored (SOP Instance UID "
                         f"{read(SIEMENS).sop_instance_uid}, identical)",
                         f"{folder / 'b.dcm'}: already stored (SOP Instance UID "
                         f"{read(PHILIPS).sop_instance_uid}, identical)"]
    assert lines[2] == (f"{folder / 'c.txt'}: refused: not a DICOM file "
                        "(no DICM prefix after the preamble)")
    assert lines[3] == f"{tmp_path / 'none'}: refused: No such file or directory"
    c = connect(tmp_path / "hub.db")
    peers = {r[0] for r in c.execute("SELECT peer FROM rdsr_files")}
    c.close()
    assert peers == {"import:a.dcm", "import:b.dcm", f"import:{GE.name}"}
    assert rdsr_main(["import", str(GE), "--config", str(tmp_path / "missing.toml")]) == 2


@pytest.mark.parametrize(("pulses", "rate"), [("1e300", "7.5"), ("24", "1e-320"),
                                              ("99999999999", "7.5")])
def test_an_implausible_figure_is_set_aside_not_stored_or_crashing(
        conn: sqlite3.Connection, tmp_path: Path, pulses: str, rate: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = b.save(b.report(b.event(pulses=pulses, rate=rate)), tmp_path / "odd.dcm")
    report = read(path)
    assert report.notes and report.events[0].duration_s is not None
    assert report.events[0].duration_s < 1e9  # the exposure time left, not pulses / rate
    assert store_bytes(conn, path.read_bytes(), "import:odd.dcm").status == "stored"
    assert rdsr_main(["show", str(path), "--json"]) == 0
    assert rdsr_main(["show", str(path)]) == 0
    assert "Infinity" not in capsys.readouterr().out


def test_a_refused_file_larger_than_any_rdsr_is_kept_as_its_hash(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.rdsr import reader
    monkeypatch.setattr(reader, "MAX_BYTES", 1000)
    raw = SIEMENS.read_bytes()
    assert store_bytes(conn, raw, "scu@10.0.0.5").status == "refused"
    size, kept = conn.execute("SELECT size, raw FROM rdsr_refused").fetchone()
    assert size == len(raw) and kept is None
