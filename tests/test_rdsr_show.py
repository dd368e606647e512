"""``voyant-hub rdsr show FILE [--json]`` (#17 item 1): the fixed JSON form with every key
always present, a readable summary, exit 2 with one line for what is not an RDSR."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from hub.rdsr import show
from tests import rdsr_builder as b

SHARED = Path(__file__).resolve().parent / "data" / "rdsr"
FILES = sorted(SHARED.glob("*.dcm"))

#: The spec's keys (rdsr-show.md); extra keys are allowed, none of these may be absent.
TOP = {"sop_instance_uid", "sop_class", "study_instance_uid", "scope", "device", "start",
       "timezone_assumed", "planes", "totals", "events", "missing"}
DEVICE = {"manufacturer", "model", "serial", "observer_name"}
TOTALS = {"dap_gym2", "kar_gy", "fluoro_dap_gym2", "fluoro_kar_gy", "fluoro_time_s",
          "acquisition_dap_gym2", "acquisition_kar_gy", "acquisition_time_s",
          "peak_skin_dose_gy", "per_plane"}
PER_PLANE = {"dap_gym2", "kar_gy", "fluoro_time_s"}
EVENT = {"uid", "start", "plane", "type", "protocol", "duration_s", "xray_on_s", "pulses",
         "pulse_rate_hz", "pulse_width_ms", "dap_gym2", "kar_gy", "kvp", "ma", "operators"}


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="voyant-hub")
    show.register(parser.add_subparsers(dest="command", required=True))
    return show.run(parser.parse_args(["rdsr", "show", *argv]))


def _json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert _run(str(path), "--json") == 0
    out = capsys.readouterr()
    assert out.err == ""
    parsed: dict[str, Any] = json.loads(out.out)
    return parsed


def _has_the_fixed_form(doc: dict[str, Any]) -> None:
    assert doc.keys() >= TOP and doc["device"].keys() >= DEVICE
    assert doc["totals"].keys() >= TOTALS
    for figures in doc["totals"]["per_plane"].values():
        assert figures.keys() >= PER_PLANE
    for event in doc["events"]:
        assert event.keys() >= EVENT
        for person in event["operators"]:
            assert {"name", "role"} <= person.keys()
    assert isinstance(doc["missing"], list) and isinstance(doc["timezone_assumed"], bool)


def test_each_shared_file_in_the_fixed_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(FILES) == 3, SHARED
    docs = {path.name: _json(path, capsys) for path in FILES}
    for doc in docs.values():
        _has_the_fixed_form(doc)
    siemens = docs["RF-RDSR-Siemens-Zee.dcm"]
    assert siemens["start"] == "2016-05-12T10:06:47.812+02:00"
    assert siemens["timezone_assumed"] is True and siemens["planes"] == ["single"]
    assert siemens["totals"]["dap_gym2"] == 1.6e-05 and siemens["totals"]["fluoro_time_s"] == 28
    assert siemens["totals"]["per_plane"]["single"]["kar_gy"] == 0.00252
    assert siemens["missing"] == ["peak_skin_dose_gy"]
    first = siemens["events"][0]
    assert first["start"] == "2016-05-12T10:11:54+02:00"
    assert (first["duration_s"], first["xray_on_s"], first["pulses"]) == (3.2, 0.1008, 24)
    assert docs["RF-RDSR-Philips_Allura.dcm"]["start"] == "2016-03-15T08:43:36.482+01:00"
    assert len(docs["RF-RDSR-GE-OECEliteMiniView.dcm"]["events"]) == 22


def test_what_the_file_does_not_give_is_null_not_absent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = b.report(b.event(pulses=None, rate=None), study_date=None, study_time=None,
                  device=False)
    doc = _json(b.save(ds, tmp_path / "thin.dcm"), capsys)
    _has_the_fixed_form(doc)
    assert doc["device"] == dict.fromkeys(DEVICE)
    assert doc["start"] is None and doc["totals"]["dap_gym2"] is None
    assert doc["totals"]["per_plane"] == {}
    assert doc["events"][0]["pulses"] is None and doc["events"][0]["operators"] == []
    assert {"start", "device.serial", "dap_gym2", "events.pulses"} <= set(doc["missing"])


def test_operators_and_biplane_in_json(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    ds = b.report(
        b.accumulated(b.num("113722", "500", "Gy.cm2"), plane_code="113620"),
        b.accumulated(b.num("113722", "250", "Gy.cm2"), plane_code="113621"),
        b.event("20260715101500", b.operator("Curie^Marie"), plane_code="113621"))
    doc = _json(b.save(ds, tmp_path / "bi.dcm"), capsys)
    _has_the_fixed_form(doc)
    assert doc["planes"] == ["a", "b"]
    assert doc["totals"]["dap_gym2"] == pytest.approx(0.075)  # 750 Gy·cm²
    assert doc["totals"]["per_plane"]["a"]["dap_gym2"] == pytest.approx(0.05)
    assert doc["events"][0]["operators"] == [
        {"name": "Curie Marie", "role": "irradiation_administering", "person_id": None}]
    assert doc["events"][0]["start"] == "2026-07-15T10:15:00+02:00"


def test_the_text_summary_reads_in_engineer_units(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ds = b.report(b.accumulated(b.num("113722", "0.05", "Gy.m2"), b.num("113725", "5", "Gy"),
                                b.num("113730", "3725", "s")),
                  b.event(), b.event("20260115094500"))
    assert _run(str(b.save(ds, tmp_path / "r.dcm"))) == 0
    out = capsys.readouterr().out
    assert "Device:  Acme Arc 9, serial SN-42, observer ROOM-1" in out
    assert "Start:   2026-01-15T09:30:00+01:00 (no UTC offset in the file: Europe/Paris" in out
    assert "DAP 500 Gy·cm² | Ka,r 5000 mGy | fluoroscopy 62 min 05 s" in out
    event_lines = [line for line in out.splitlines() if line.lstrip()[:2] in ("1.", "2.")]
    assert len(event_lines) == 2
    assert event_lines[1].startswith("  2. 09:45:00 | fluoroscopy | plane single | duration 3.2 s")
    assert "24 pulses @ 7.5/s | DAP 0.01 Gy·cm² | Ka,r 0.14 mGy" in event_lines[0]


@pytest.mark.parametrize("content", [b"plain text", b"\0" * 128 + b"DICM" + b"\xff" * 64])
def test_not_an_rdsr_exits_2_with_one_line(tmp_path: Path, content: bytes,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x\nname.dcm"
    path.write_bytes(content)
    assert _run(str(path), "--json") == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith(f"{tmp_path}/x name.dcm: not an RDSR: ")


def test_another_sop_class_is_refused_by_name(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = b.save(b.report(b.event(), sop_class=b.CT_IMAGE), tmp_path / "ct.dcm")
    assert show.rdsr_main(["show", str(path)]) == 2  # as hub.cli hands it ``rdsr ...``
    assert "(CT Image Storage) is not an X-Ray Radiation Dose SR" in capsys.readouterr().err
