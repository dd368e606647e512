"""Retention (#17 item 5): after ``[dicom] retention_days`` a file's patient identity and its
bytes go, a refused file's bytes too; the study, its figures, the UIDs and the sha256 stay,
marked ``rdsr_purged``; each batch audited; run on a virtual clock, by the patients job."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest

from hub import jobs
from hub.config import parse_config
from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr import retention
from hub.rdsr.store import store_bytes
from tests import rdsr_builder as b

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    Store.open(tmp_path / "hub.db").close()
    return tmp_path / "hub.db"


@pytest.fixture
def conn(path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(path)
    yield c
    c.close()


def _file(dap: str = "0.07") -> bytes:
    ds = b.report(b.accumulated(b.num("113722", dap, "Gy.m2")), b.event())
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "MARTIN^Paul", "IPP-777", "19600101"
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _stock(conn: sqlite3.Connection) -> tuple[bytes, str]:
    raw = _file()
    outcome = store_bytes(conn, raw, "ARTIS@10.0.0.5", now=T0)
    assert store_bytes(conn, b"not dicom at all", "ARTIS@10.0.0.5",
                       now=T0 + timedelta(days=2)).status == "refused"
    return raw, str(outcome.sop_instance_uid)


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def test_nothing_goes_before_the_period_ends(conn: sqlite3.Connection) -> None:
    _stock(conn)
    done = retention.purge(conn, 365, T0 + timedelta(days=365))
    assert (done.files, done.refused) == (0, 0)
    assert _count(conn, "SELECT count(*) FROM rdsr_patients") == 1
    assert _count(conn, "SELECT count(*) FROM audit WHERE action = 'rdsr.purge'") == 0


def test_after_the_period_the_identity_and_the_bytes_go_the_figures_stay(
        conn: sqlite3.Connection) -> None:
    raw, sop = _stock(conn)
    before = dict(conn.execute("SELECT * FROM rdsr_studies").fetchone())
    events = [dict(r) for r in conn.execute("SELECT * FROM events")]
    done = retention.purge(conn, 365, T0 + timedelta(days=365, seconds=1))
    assert (done.files, done.refused) == (1, 0)  # the refused file came two days later
    assert _count(conn, "SELECT count(*) FROM rdsr_patients") == 0
    row = conn.execute("SELECT raw, sha256, study_instance_uid FROM rdsr_files").fetchone()
    assert bytes(row["raw"]) == b"" and row["sha256"] and row["study_instance_uid"]
    assert dict(conn.execute("SELECT * FROM rdsr_studies").fetchone()) == before
    assert [dict(r) for r in conn.execute("SELECT * FROM events")] == events
    assert _count(conn, "SELECT count(*) FROM rdsr_irradiation_events") == 1
    assert [tuple(r) for r in conn.execute("SELECT * FROM rdsr_purged")] == [
        ("file", sop, "2027-01-15T12:00:01.000Z", 365)]
    [audited] = conn.execute("SELECT username, action, target, detail FROM audit"
                             " WHERE action = 'rdsr.purge'").fetchall()
    assert (audited["username"], audited["target"]) == ("retention", "")
    assert json.loads(audited["detail"]) == {"files": 1, "refused": 0, "retention_days": 365,
                                             "received_before": "2026-01-15T12:00:01.000Z"}
    later = retention.purge(conn, 365, T0 + timedelta(days=368))
    assert (later.files, later.refused) == (0, 1)
    assert conn.execute("SELECT raw FROM rdsr_refused").fetchone()[0] is None
    again = retention.purge(conn, 365, T0 + timedelta(days=400))
    assert (again.files, again.refused) == (0, 0)
    assert _count(conn, "SELECT count(*) FROM audit WHERE action = 'rdsr.purge'") == 2
    # the same file again: already stored (its hash), its identity not brought back
    assert store_bytes(conn, raw, "ARTIS@10.0.0.5",
                       now=T0 + timedelta(days=401)).status == "already_stored"
    assert _count(conn, "SELECT count(*) FROM rdsr_patients") == 0


def test_batches_each_audited(conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        store_bytes(conn, _file(f"0.0{n + 1}"), "ARTIS@10.0.0.5", now=T0)
    monkeypatch.setattr(retention, "BATCH", 2)
    assert retention.purge(conn, 30, T0 + timedelta(days=31)).files == 3
    assert [json.loads(r[0])["files"] for r in conn.execute(
        "SELECT detail FROM audit WHERE action = 'rdsr.purge' ORDER BY id")] == [2, 1]


def test_the_patients_job_purges_on_its_clock(path: Path, conn: sqlite3.Connection) -> None:
    config = parse_config({"store": {"path": str(path)}, "dicom": {"retention_days": 30}})
    assert jobs.check_patients(str(path), config, T0) is None  # no RDSR yet
    store_bytes(conn, _file(), "ARTIS@10.0.0.5", now=T0)
    assert jobs.check_patients(str(path), config, T0 + timedelta(days=29)) == {
        "thresholds": 1, "files_purged": 0, "refused_purged": 0}  # its event (0.07 Gy·m²)
    assert jobs.check_patients(str(path), config, T0 + timedelta(days=31)) == {
        "thresholds": 0, "files_purged": 1, "refused_purged": 0}
    assert "patients" in jobs.NAMES and jobs.PATIENTS_EVERY_S == 900.0


def test_a_period_under_a_day_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retention.purge(conn, 0, T0)


def test_the_operators_names_go_with_the_file(conn: sqlite3.Connection) -> None:
    """Operators on: the names a file's events brought are purged with its identity."""
    from hub.rdsr import operators_settings
    from hub.web.auth import User

    operators_settings.enable(conn, "yes", User(1, "admin", "admin", "Admin"))
    ds = b.report(b.event("20260115093000", b.operator("MARTIN^Paul"), uid="1.2.9.1"))
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    store_bytes(conn, out.getvalue(), "ARTIS@10.0.0.5", now=T0)
    assert _count(conn, "SELECT count(*) FROM rdsr_event_operators") == 1
    retention.purge(conn, 365, T0 + timedelta(days=366))
    assert _count(conn, "SELECT count(*) FROM rdsr_event_operators") == 0
    assert _count(conn, "SELECT count(*) FROM rdsr_irradiation_events") == 1
