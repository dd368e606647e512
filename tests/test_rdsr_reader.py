"""Reading RDSRs (#17 item 1): the three vendors' files into the figures they hold, units
converted by their UCUM code, times given their zone, odd files read as far as they go,
what is not an RDSR refused with its reason, hostile bytes never a traceback."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID

from hub.rdsr import RdsrError, read, read_bytes
from hub.rdsr import tree as rdsr_tree
from tests import rdsr_builder as b

SHARED = Path(__file__).resolve().parent / "data" / "rdsr"
SIEMENS = SHARED / "RF-RDSR-Siemens-Zee.dcm"
PHILIPS = SHARED / "RF-RDSR-Philips_Allura.dcm"
GE = SHARED / "RF-RDSR-GE-OECEliteMiniView.dcm"



def test_siemens_artis_eight_pulsed_fluoroscopy_events_and_its_totals() -> None:
    r = read(SIEMENS)
    assert r.sop_class == "xray_radiation_dose_sr" and r.scope == "study"
    assert (r.device.manufacturer, r.device.model, r.device.serial, r.device.observer_name) == (
        "Siemens", "AXIOM-Artis", "123456", "AXIS01366")
    assert r.start is not None and r.start.isoformat() == "2016-05-12T10:06:47.812000+02:00"
    assert r.timezone_assumed  # no offset in the file: Paris, summer time
    assert r.planes == ("single",)
    t = r.totals
    assert t.dap_gym2 == pytest.approx(1.6e-5) and t.kar_gy == pytest.approx(0.00252)
    assert t.fluoro_time_s == 28.0 and t.acquisition_time_s == 0.0
    assert t.fluoro_dap_gym2 == pytest.approx(1.6e-5) and t.acquisition_dap_gym2 == 0.0
    assert t.peak_skin_dose_gy is None and r.missing == ("peak_skin_dose_gy",)
    assert len(r.events) == 8
    assert {e.pulse_rate_hz for e in r.events} == {7.5}
    assert {e.type for e in r.events} == {"fluoroscopy"}
    # 211 pulses at 7.5/s: the events' durations add up to the 28 s the totals give
    assert sum(e.duration_s or 0 for e in r.events) == pytest.approx(28.0, abs=0.5)
    first = r.events[0]
    assert first.uid == "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.4.0"
    assert first.start is not None and first.start.isoformat() == "2016-05-12T10:11:54+02:00"
    assert (first.protocol, first.plane, first.pulses, first.pulse_width_ms) == (
        "FL - Ang", "single", 24, 4.2)
    assert first.duration_s == pytest.approx(3.2)  # 24 pulses / 7.5 per second
    assert first.xray_on_s == pytest.approx(0.1008)  # Exposure Time 100.8 ms
    assert first.dap_gym2 == pytest.approx(1e-6) and first.kar_gy == pytest.approx(0.00014)
    assert (first.kvp, first.ma, first.operators) == (77.0, 95.1, ())
    # the DAP of the events adds up to the total (Siemens writes "Gym2" for Gy.m2)
    assert sum(e.dap_gym2 or 0 for e in r.events) == pytest.approx(1.6e-5)


def test_philips_allura_one_fluoroscopy_two_acquisitions_winter_time() -> None:
    r = read(PHILIPS)
    assert (r.device.manufacturer, r.device.model, r.device.serial, r.device.observer_name) == (
        "Philips Medical Systems", "Allura Xper", "1", "RAD LAB5")
    assert r.scope == "performed_procedure_step"
    assert r.start is not None and r.start.isoformat() == "2016-03-15T08:43:36.482000+01:00"
    assert r.timezone_assumed
    t = r.totals
    assert t.dap_gym2 == pytest.approx(0.00015356864017)  # 1.536 Gy·cm²
    assert t.kar_gy == pytest.approx(0.00427128035068)
    assert (t.fluoro_time_s, t.acquisition_time_s) == (13.0, 14.75)
    assert t.fluoro_dap_gym2 == pytest.approx(1.0558274005e-05)
    assert t.acquisition_dap_gym2 == pytest.approx(0.00014301036616)
    assert [e.type for e in r.events] == [
        "fluoroscopy", "stationary_acquisition", "stationary_acquisition"]
    fluoro, acq = r.events[0], r.events[1]
    assert fluoro.duration_s == 13.066  # Irradiation Duration, given: it wins
    assert (fluoro.pulses, fluoro.pulse_rate_hz, fluoro.xray_on_s) == (98, 7.5, None)
    assert fluoro.start is not None and fluoro.start.isoformat() == (
        "2016-03-15T08:44:13.294000+01:00")
    assert (acq.protocol, acq.pulses, acq.pulse_rate_hz, acq.duration_s) == (
        "Abdomen 2fps 25%", 12, 2.0, 6.25)
    assert acq.dap_gym2 == pytest.approx(6.4148712533e-05) and acq.kvp == 80.0
    assert r.missing == ("peak_skin_dose_gy", "events.protocol", "events.xray_on_s")
    assert r.missing_in_events == {"protocol": 1, "xray_on_s": 3}


def test_ge_oec_mini_view_22_continuous_fluoroscopy_events() -> None:
    r = read(GE)
    assert r.device.manufacturer == "GE Hualun Medical Systems, Co. Ltd"
    assert (r.device.model, r.device.serial) == ("OEC Elite MiniView", "MiniView1234")
    assert r.start is not None and r.start.isoformat() == "2019-03-08T10:58:16.821000+01:00"
    assert len(r.events) == 22 and {e.type for e in r.events} == {"fluoroscopy"}
    t = r.totals
    assert t.dap_gym2 == pytest.approx(1.3316568e-6) and t.kar_gy == pytest.approx(2.2034578e-4)
    assert t.fluoro_time_s == 11.18 and t.acquisition_dap_gym2 == 0.0
    # Exposure Time under its current code (113824): the events make the 11.18 s
    assert sum(e.xray_on_s or 0 for e in r.events) == pytest.approx(11.18)
    assert 0.41 in {e.xray_on_s for e in r.events}  # 410 ms, not 0.41000000000000003
    first = r.events[0]
    assert (first.duration_s, first.xray_on_s, first.pulses, first.kvp, first.ma) == (
        1.61, 1.61, None, 56.0, 0.0927)
    assert first.dap_gym2 == pytest.approx(2.1887442e-7)
    assert r.missing_in_events == {"protocol": 22, "pulses": 22, "pulse_rate_hz": 22,
                                   "pulse_width_ms": 22}


@pytest.mark.parametrize(("value", "unit", "expected"), [
    ("500", "Gy.cm2", 0.05), ("5000", "dGy.cm2", 0.05), ("0.05", "Gy.m2", 0.05),
    ("50000", "cGy.cm2", 0.05), ("500000", "mGy.cm2", 0.05)])
def test_dap_arrives_in_gy_m2_whatever_its_unit(tmp_path: Path, value: str, unit: str,
                                                 expected: float) -> None:
    ds = b.report(b.accumulated(b.num("113722", value, unit), b.num("113725", "5000", "mGy")),
                  b.event(dap=(value, unit)))
    r = read(b.save(ds, tmp_path / "u.dcm"))
    assert r.totals.dap_gym2 == pytest.approx(expected)  # 500 Gy·cm² = 0.05 Gy·m²
    assert r.events[0].dap_gym2 == pytest.approx(expected)
    assert r.totals.kar_gy == pytest.approx(5.0)


def test_a_unit_not_understood_is_set_aside_and_said(tmp_path: Path) -> None:
    ds = b.report(b.accumulated(b.num("113722", "3", "furlong.cm2")), b.event())
    r = read(b.save(ds, tmp_path / "u.dcm"))
    assert r.totals.dap_gym2 is None and "dap_gym2" in r.missing
    assert any("unit not understood ('furlong.cm2')" in note for note in r.notes)


@pytest.mark.parametrize(("day", "offset"), [
    ("20260115", "+01:00"), ("20260715", "+02:00"),
    ("20260329", "+02:00"), ("20261025", "+01:00")])  # the two change days, after 03:00
def test_a_time_without_offset_is_paris_time_of_its_own_date(tmp_path: Path, day: str,
                                                            offset: str) -> None:
    ds = b.report(b.accumulated(), b.event(day + "101500"), study_date=day,
                  study_time="100000.25")
    r = read(b.save(ds, tmp_path / "t.dcm"))
    assert r.timezone_assumed
    assert r.start is not None
    assert r.start.isoformat() == f"{day[:4]}-{day[4:6]}-{day[6:]}T10:00:00.250000{offset}"
    start = r.events[0].start
    assert start is not None and start.utcoffset() == timedelta(
        hours=int(offset[1:3]))


def test_an_offset_in_the_file_is_kept_and_nothing_assumed(tmp_path: Path) -> None:
    ds = b.report(b.accumulated(), b.event("20260715101500+0530"), tz_offset="-0500")
    r = read(b.save(ds, tmp_path / "t.dcm"))
    assert not r.timezone_assumed
    assert r.start is not None and r.start.isoformat() == "2026-01-15T09:30:00-05:00"
    assert r.events[0].start is not None
    assert r.events[0].start.isoformat() == "2026-07-15T10:15:00+05:30"


def test_biplane_totals_per_plane_and_summed(tmp_path: Path) -> None:
    ds = b.report(
        b.accumulated(b.num("113722", "0.002", "Gy.m2"), b.num("113725", "1.2", "Gy"),
                      b.num("113730", "600", "s"), plane_code="113620"),
        b.accumulated(b.num("113722", "0.001", "Gy.m2"), b.num("113725", "0.8", "Gy"),
                      b.num("113730", "5", "min"), plane_code="113621"),
        b.event(plane_code="113620"), b.event(plane_code="113621"),
        b.text("121106", "<vendor><xml comment='1'/></vendor>"))
    r = read(b.save(ds, tmp_path / "bi.dcm"))
    assert r.planes == ("a", "b")
    assert r.totals.dap_gym2 == pytest.approx(0.003) and r.totals.kar_gy == pytest.approx(2.0)
    assert r.totals.fluoro_time_s == 900.0
    assert r.totals.per_plane["a"].dap_gym2 == 0.002
    assert r.totals.per_plane["b"].fluoro_time_s == 300.0
    assert [e.plane for e in r.events] == ["a", "b"]


def test_operators_named_with_their_role(tmp_path: Path) -> None:
    ds = b.report(b.accumulated(), b.event(
        "20260115093000", b.operator("Curie^Marie", person_id="RPPS-1"),
        b.operator("Roentgen^Wilhelm", role="113850")))
    r = read(b.save(ds, tmp_path / "op.dcm"))
    ops = r.events[0].operators
    assert [(o.name, o.role, o.person_id) for o in ops] == [
        ("Curie Marie", "irradiation_administering", "RPPS-1"),
        ("Roentgen Wilhelm", "irradiation_authorizing", None)]


@pytest.mark.parametrize("bad", [b"abc     ", b"NaN     ", b"1_000   ", b"-5      ",
                                 b"1e999   "])
def test_a_numeric_value_that_is_no_number_is_noted(tmp_path: Path, bad: bytes) -> None:
    path = b.save(b.report(b.accumulated(b.num("113722", "777.777", "Gy.m2")), b.event()),
                  tmp_path / "n.dcm")
    r = read(b.replace_bytes(path, b"777.777 ", bad))
    assert r.totals.dap_gym2 is None and "dap_gym2" in r.missing
    assert any(n.startswith("accumulated dose (single): ") for n in r.notes)
    assert len(r.events) == 1 and r.events[0].dap_gym2 == pytest.approx(1e-6)


def test_a_report_missing_most_things_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    ds = b.report(b.event(pulses=None, rate=None), study_date=None, study_time=None,
                  device=False)
    del ds.StudyInstanceUID
    r = read(b.save(ds, tmp_path / "thin.dcm"))
    assert r.start is None and r.totals.dap_gym2 is None and len(r.events) == 1
    assert r.planes == ("single",)  # from the event, there being no accumulated data
    for key in ("study_instance_uid", "device.serial", "device.manufacturer", "start",
                "dap_gym2", "fluoro_time_s", "events.pulses", "events.pulse_rate_hz"):
        assert key in r.missing
    assert r.events[0].duration_s == pytest.approx(0.1008)  # only the exposure time left


def test_enhanced_rdsr_is_read_too(tmp_path: Path) -> None:
    ds = pydicom.dcmread(SIEMENS)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID(b.ENHANCED_RDSR)
    r = read(b.save(ds, tmp_path / "enh.dcm"))
    assert r.sop_class == "enhanced_xray_radiation_dose_sr" and len(r.events) == 8


def test_a_huge_tree_is_read_up_to_its_budget(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    deep = b.container("999999", [])
    for _ in range(40):  # nested far deeper than any template
        deep = b.container("999999", [deep])
    ds = b.report(b.accumulated(b.num("113722", "1", "Gy.m2")),
                  *[b.event(f"20260115{10 + n // 60:02d}{n % 60:02d}00", deep)
                    for n in range(20)])
    path = b.save(ds, tmp_path / "huge.dcm")
    assert len(read(path).events) == 20
    monkeypatch.setattr(rdsr_tree, "MAX_ITEMS", 300)
    r = read(path)
    assert r.notes[-1] == "the content tree holds more than 300 items: read up to there"
    assert r.totals.dap_gym2 == 1.0 and len(r.events) == 20


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p.write_text("not dicom at all"), "not a DICOM file"),
    (lambda p: b.save(b.report(b.event(), sop_class=b.CT_IMAGE), p),
     "SOP class 1.2.840.10008.5.1.4.1.1.2 (CT Image Storage) is not an X-Ray Radiation"),
    (lambda p: b.save(_without_content(), p), "no content tree"),
    (lambda p: p.write_bytes(SIEMENS.read_bytes()[:140]), "no SOP Class UID"),
    (lambda p: p.write_bytes(SIEMENS.read_bytes()[:700]), "no content tree"),  # cut short
])
def test_what_is_not_an_rdsr_is_refused_with_its_reason(tmp_path: Path, make: object,
                                                        reason: str) -> None:
    path = tmp_path / "x.dcm"
    make(path)  # type: ignore[operator]
    with pytest.raises(RdsrError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read(path)


def _without_content() -> pydicom.Dataset:
    ds = b.report()
    del ds.ContentSequence
    return ds


def test_hostile_bytes_never_escape_as_another_exception() -> None:
    """Mutated copies of a real file: each is read (partly) or refused, nothing else."""
    data = SIEMENS.read_bytes()
    rng = random.Random(17)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 40)):
            mutated[rng.randrange(132, len(mutated))] = rng.randrange(256)
        if rng.random() < 0.3:
            mutated = mutated[: rng.randrange(132, len(mutated))]
        try:
            read_bytes(bytes(mutated))
            outcomes["read"] += 1
        except RdsrError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["read"] > 0 and outcomes["refused"] > 0
