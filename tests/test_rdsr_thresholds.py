"""The HAS patient thresholds (#17 item 5): a study passing DAP 500 Gy·cm² (strictly: 0.05
Gy·m² passes nothing), Ka,r 5 Gy or, where the report gives one, a peak skin dose of 3 Gy
raises one ``patient_dose_threshold`` event, revised (never doubled) by a later file of the
study, in its box's room or "imaging:N" until mapped; per-site limits; the config's words."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import UID

from hub.config import parse_config
from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr import thresholds
from hub.rdsr.config import PatientThresholds
from hub.rdsr.store import store_bytes
from hub.web import event_words
from hub.web.i18n import translations
from tests import rdsr_builder as b
from wire.errors import ConfigError

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    Store.open(tmp_path / "hub.db").close()
    c = connect(tmp_path / "hub.db")
    yield c
    c.close()


def rdsr(dap: tuple[str, str] | None = None, kar: str | None = None,
         psd: str | None = None, events: int = 1, study: str | None = None,
         serial: str = "SN-42", uids: str | None = None) -> bytes:
    """A report with those totals; ``uids``: its events' UIDs' stem (a later file of the
    same study names the same events), else new ones."""
    figures = []
    if dap is not None:
        figures.append(b.num("113722", *dap))
    if kar is not None:
        figures.append(b.num("113725", kar, "Gy"))
    extra = [b.num("128531", psd, "Gy")] if psd is not None else []
    ds = b.report(b.accumulated(*figures), *extra,
                  *(b.event(f"2026011509{30 + n:02d}00", uid=f"{uids}.{n}" if uids else None)
                    for n in range(events)))
    ds.ContentSequence[4].TextValue = serial
    if study is not None:
        ds.StudyInstanceUID = study
    ds.PatientName, ds.PatientID = "DUPONT^Jeanne", "PAT-4242"
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def events(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in conn.execute(
        "SELECT * FROM events WHERE kind = 'patient_dose_threshold' ORDER BY id")]


def store(conn: sqlite3.Connection, raw: bytes, **kw: Any) -> str:
    outcome = store_bytes(conn, raw, "ARTIS@10.0.0.5", now=NOW,
                          **{"limits": PatientThresholds(), **kw})
    assert outcome.status in ("stored", "already_stored")
    return str(outcome.study_instance_uid)


@pytest.mark.parametrize("dap,raised", [
    (("0.05", "Gy.m2"), False), (("500", "Gy.cm2"), False), (("50", "mGy.m2"), False),
    (("0.0500001", "Gy.m2"), True), (("500.01", "Gy.cm2"), True)])
def test_dap_passes_500_gycm2_only_when_strictly_above(conn: sqlite3.Connection,
                                                        dap: tuple[str, str],
                                                        raised: bool) -> None:
    store(conn, rdsr(dap=dap))
    assert bool(events(conn)) is raised
    stored = conn.execute("SELECT dap_gym2 FROM rdsr_studies").fetchone()[0]
    assert stored == pytest.approx(0.05, rel=1e-4)  # kept in Gy·m²


def test_kerma_and_the_event_in_french_units(conn: sqlite3.Connection) -> None:
    store(conn, rdsr(dap=("0.04", "Gy.m2"), kar="5"))
    assert events(conn) == []
    study = store(conn, rdsr(dap=("0.0612", "Gy.m2"), kar="5.2"))
    [event] = events(conn)
    assert (event["severity"], event["ref"], event["device"]) == (
        "warning", f"study:{study}", "imaging:1")
    assert [(p["what"], p["value"], p["limit"]) for p in event["detail"]["passed"]] == [
        ("dap", 612.0, 500.0), ("kar", 5.2, 5.0)]
    assert "PAT-4242" not in json.dumps(event) and "DUPONT" not in json.dumps(event)
    fr = dict(event_words.detail_lines(translations("fr").gettext, "fr", event["detail"], {}))
    assert fr["Seuils dépassés"] == "PDS 612 Gy·cm² (seuil 500) · Ka,r 5,2 Gy (seuil 5)"
    assert "médecin" in fr["Suivi par"] and "physicien médical" in fr["Suivi par"]
    assert "non le conseiller en radioprotection (CRP)" in fr["Suivi par"]
    en = dict(event_words.detail_lines(translations("en").gettext, "en", event["detail"], {}))
    assert en["Thresholds passed"] == "DAP 612 Gy·cm² (threshold 500) · Ka,r 5.2 Gy (threshold 5)"


def test_peak_skin_dose_only_where_the_report_gives_one(conn: sqlite3.Connection) -> None:
    store(conn, rdsr(dap=("0.01", "Gy.m2"), kar="1"))  # no peak skin dose: nothing
    store(conn, rdsr(dap=("0.01", "Gy.m2"), kar="1", psd="3"))  # 3 Gy: not above
    assert events(conn) == []
    store(conn, rdsr(dap=("0.01", "Gy.m2"), kar="1", psd="3.4"))
    [event] = events(conn)
    assert event["detail"]["passed"] == [{"what": "peak_skin_dose", "value": 3.4, "limit": 3.0}]


def _map(conn: sqlite3.Connection, serial: str, box: str, site: str) -> None:
    conn.execute("INSERT OR IGNORE INTO devices (device, site, room) VALUES (?, ?, 'salle-3')",
                 [box, site])
    conn.execute("UPDATE rdsr_devices SET device = ? WHERE serial = ?", [box, serial])


def test_a_site_sets_its_own_limits(conn: sqlite3.Connection) -> None:
    limits = PatientThresholds.model_validate(
        {"sites": {"chu-nord": {"dap_gycm2": 300}, "chu-sud": {"kar_gy": 2}}})
    assert limits.limits("chu-nord") == (300.0, 5.0, 3.0)
    assert limits.limits(None) == limits.limits("elsewhere") == (500.0, 5.0, 3.0)
    study = store(conn, rdsr(dap=("400", "Gy.cm2"), serial="SN-1"), limits=limits)
    assert events(conn) == []  # unmapped: the defaults
    _map(conn, "SN-1", "box-nord", "chu-nord")
    assert thresholds.check_all(conn, limits, NOW) == 1
    [event] = events(conn)
    assert (event["device"], event["site"], event["room"]) == ("box-nord", "chu-nord",
                                                                "salle-3")
    assert event["ref"] == f"study:{study}"
    assert event["detail"]["passed"] == [{"what": "dap", "value": 400.0, "limit": 300.0}]
    store(conn, rdsr(dap=("400", "Gy.cm2"), kar="2.5", serial="SN-2"))  # defaults: nothing
    _map(conn, "SN-2", "box-sud", "chu-sud")
    store(conn, rdsr(dap=("100", "Gy.cm2"), kar="2.5", serial="SN-2"), limits=limits)
    assert [e["site"] for e in events(conn)] == ["chu-nord", "chu-sud"]
    assert thresholds.check_all(conn, limits, NOW) == 1  # the first chu-sud study now
    assert thresholds.check_all(conn, limits, NOW) == 0  # and then nothing changes


def test_a_resent_file_changes_nothing(conn: sqlite3.Connection) -> None:
    raw = rdsr(dap=("0.07", "Gy.m2"))
    store(conn, raw)
    before = events(conn)
    assert store_bytes(conn, raw, "ARTIS@10.0.0.5", now=datetime(2026, 2, 1, tzinfo=UTC),
                       limits=PatientThresholds()).status == "already_stored"
    assert events(conn) == before and len(before) == 1
    assert thresholds.check_all(conn, PatientThresholds(), NOW) == 0


def test_a_later_file_of_the_study_revises_the_one_event(conn: sqlite3.Connection) -> None:
    study = store(conn, rdsr(dap=("0.06", "Gy.m2"), kar="4", events=1, study="1.2.3.99",
                             uids="1.2.3.98"))
    [first] = events(conn)
    later = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    store_bytes(conn, rdsr(dap=("0.08", "Gy.m2"), kar="6", events=2, study=study,
                           uids="1.2.3.98"),
                "ARTIS@10.0.0.5", now=later, limits=PatientThresholds())
    [event] = events(conn)
    assert event["id"] == first["id"] and event["opened_at"] == first["opened_at"]
    assert [(p["what"], p["value"]) for p in event["detail"]["passed"]] == [
        ("dap", 800.0), ("kar", 6.0)]
    assert event["detail"]["revised_at"] == "2026-01-15T13:00:00.000Z"
    # the study's totals: the most complete file's, never a sum
    assert conn.execute("SELECT dap_gym2 FROM rdsr_studies").fetchone()[0] == pytest.approx(0.08)
    # an earlier, less complete file arriving last takes nothing away
    store_bytes(conn, rdsr(dap=("0.055", "Gy.m2"), events=1, study=study, uids="1.2.3.98"),
                "ARTIS@10.0.0.5", now=later, limits=PatientThresholds())
    assert events(conn)[0]["detail"] == event["detail"]


def test_without_the_sites_limits_the_store_leaves_it_to_the_job(
        conn: sqlite3.Connection) -> None:
    """A caller that does not pass the site's limits: no event against others' limits;
    the patients job's check raises it."""
    store(conn, rdsr(dap=("0.07", "Gy.m2")), limits=None)
    assert events(conn) == []
    assert thresholds.check_all(conn, PatientThresholds(), NOW) == 1
    assert len(events(conn)) == 1


def test_a_limit_raised_later_withdraws_nothing(conn: sqlite3.Connection) -> None:
    store(conn, rdsr(dap=("0.06", "Gy.m2")))
    higher = PatientThresholds(dap_gycm2=1000)
    assert thresholds.check_all(conn, higher, NOW) == 0
    assert len(events(conn)) == 1


@pytest.mark.parametrize("table,expected", [
    ({"retention_days": 0}, "dicom.retention_days: 0 would keep patients' identities for ever"),
    ({"retention_days": -3}, "dicom.retention_days: Input should be greater than or equal"),
    ({"patient_thresholds": {"dap_gycm2": 0}},
     "dicom.patient_thresholds.dap_gycm2: Input should be greater than 0"),
    ({"patient_thresholds": {"kar_gy": "five"}},
     "dicom.patient_thresholds.kar_gy: Input should be a valid number"),
    ({"patient_thresholds": {"sites": {"chu": {"dap": 300}}}},
     "dicom.patient_thresholds.sites.chu.dap: unknown key"),
    ({"patient_thresholds": {"sites": {"a\nb": {"kar_gy": 2}}}},
     "dicom.patient_thresholds: sites: 'a\\nb' is no site name"),
    ({"patient_thresholds": {"peak_skin_dose_gy": float("nan")}},
     "dicom.patient_thresholds.peak_skin_dose_gy: Input should be a finite number"),
])
def test_each_mistake_in_the_configuration_is_named(table: dict[str, Any],
                                                     expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"dicom": table}, "hub.toml")
    assert f"hub.toml: {expected}" in str(caught.value)


def test_the_defaults_are_the_has_thresholds_and_a_year() -> None:
    dicom = parse_config({}, "hub.toml").dicom
    assert dicom.patient_thresholds.limits(None) == (500.0, 5.0, 3.0)
    assert dicom.retention_days == 365


@pytest.mark.filterwarnings("ignore:The PN component length")
def test_a_file_naming_no_patient_keeps_no_identity(conn: sqlite3.Connection) -> None:
    ds = b.report(b.accumulated(b.num("113722", "0.01", "Gy.m2")), b.event())
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    store(conn, out.getvalue())
    assert conn.execute("SELECT count(*) FROM rdsr_patients").fetchone()[0] == 0
    hostile = rdsr(dap=("0.01", "Gy.m2"))
    ds = pydicom.dcmread(BytesIO(hostile))
    ds.PatientName = "X" * 300 + "\x1b[31m"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4.5.6")
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    store(conn, out.getvalue())
    name = conn.execute("SELECT patient_name FROM rdsr_patients").fetchone()[0]
    assert len(name) == 200 and "\x1b" not in name


def _step(study: str, planes: dict[str, tuple[str, str]],
          events: list[tuple[str, str, str, str]]) -> bytes:
    """One report of ``study`` (one performed procedure step): its own totals per plane
    (``{"113620": (dap Gy·cm², Ka,r Gy)}``) and its own events (start, plane, dap Gy·m²,
    Ka,r Gy), each with a new UID."""
    ds = b.report(*(b.accumulated(b.num("113722", dap, "Gy.cm2"), b.num("113725", kar, "Gy"),
                                  plane_code=code) for code, (dap, kar) in planes.items()),
                  *(b.event(start, plane_code=code, dap=(dap, "Gy.m2"), kar=(kar, "Gy"))
                    for start, code, dap, kar in events))
    ds.StudyInstanceUID = study
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_two_reports_of_one_study_with_distinct_events_add_up(
        conn: sqlite3.Connection) -> None:
    """GE and Philips scope a report per performed procedure step: 300 + 300 Gy·cm² given,
    each report's totals saying 300, is a study of 600: the event is raised."""
    study = "1.2.3.600"
    first = _step(study, {"113622": ("300", "1")}, [("20260115093000", "113622", "0.03", "1")])
    store(conn, first)
    assert events(conn) == []  # 300 so far
    store(conn, _step(study, {"113622": ("300", "1")},
                      [("20260115101500", "113622", "0.03", "1")]))
    [event] = events(conn)
    assert event["detail"]["passed"] == [{"what": "dap", "value": 600.0, "limit": 500.0}]
    # the file sent again (and the job after it) counts nothing twice
    assert store_bytes(conn, first, "ARTIS@10.0.0.5", now=NOW,
                       limits=PatientThresholds()).status == "already_stored"
    assert thresholds.check_all(conn, PatientThresholds(), NOW) == 0
    assert events(conn) == [event]


def test_cumulative_reports_of_the_same_events_are_not_added(
        conn: sqlite3.Connection) -> None:
    """A later cumulative report repeats the first one's event: 2 × 300 is still 300."""
    study, step = "1.2.3.300", ("20260115093000", "113622", "0.03", "1")
    ds = pydicom.dcmread(BytesIO(_step(study, {"113622": ("300", "1")}, [step])))
    store(conn, _raw(ds))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.300.2")
    store(conn, _raw(ds))  # the same event UID: a cumulative re-issue
    assert thresholds.check_all(conn, PatientThresholds(), NOW) == 0
    assert events(conn) == []


def _raw(ds: pydicom.Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_biplane_kerma_is_compared_plane_by_plane(conn: sqlite3.Connection) -> None:
    """Each plane's Ka,r is at its own reference point: 3 + 2.5 Gy on planes A and B is no
    5.5 Gy anywhere; the DAP's threshold is the whole procedure's: 300 + 250 Gy·cm² is 550."""
    store(conn, _step("1.2.3.55", {"113620": ("300", "3"), "113621": ("250", "2.5")},
                      [("20260115093000", "113620", "0.0001", "0.01")]))
    [event] = events(conn)
    assert event["detail"]["passed"] == [{"what": "dap", "value": 550.0, "limit": 500.0}]
    store(conn, _step("1.2.3.56", {"113620": ("100", "1.5"), "113621": ("100", "5.5")},
                      [("20260115093000", "113621", "0.0001", "0.01")]))
    second = events(conn)[1]
    assert second["detail"]["passed"] == [
        {"what": "kar", "value": 5.5, "limit": 5.0, "plane": "b"}]
    fr = dict(event_words.detail_lines(translations("fr").gettext, "fr", second["detail"], {}))
    assert fr["Seuils dépassés"] == "Ka,r 5,5 Gy, plan B (seuil 5)"
    en = dict(event_words.detail_lines(translations("en").gettext, "en", second["detail"], {}))
    assert en["Thresholds passed"] == "Ka,r 5.5 Gy, plane B (threshold 5)"


def test_a_planes_events_over_two_reports_pass_on_that_plane(
        conn: sqlite3.Connection) -> None:
    """Plane B's events of two procedure steps, 3 Gy each, are 6 Gy at plane B's reference
    point though each report says 3; plane A's 1 + 1 Gy stays under."""
    study = "1.2.3.66"
    for n, start in enumerate(("20260115093000", "20260115101500")):
        store(conn, _step(study, {"113620": ("10", "1"), "113621": ("10", "3")},
                          [(start, "113620", "0.001", "1"),
                           (start[:-2] + f"{n + 10}", "113621", "0.001", "3")]))
    [event] = events(conn)
    assert event["detail"]["passed"] == [
        {"what": "kar", "value": 6.0, "limit": 5.0, "plane": "b"}]
