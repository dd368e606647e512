"""The simulator's RDSRs (#17 item 7): what the imaging system would have written for a
scenario, read back by the hub's own reader into the figures written; the ``[rdsr]``
table refused clearly when wrong; ``voyant-sim run --rdsr-dir``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from hub.rdsr.reader import read, read_bytes
from hub.workdays import PARIS
from sim.cli import main
from sim.rdsr_events import plan_studies, runs
from sim.rdsr_scenario import plan_keys
from sim.rdsr_writer import FAKE_PATIENT, study_files, write_rdsrs
from sim.runner import EPOCH
from sim.scenario import parse_scenario
from sim.scenario_toml import ScenarioError
from tests.scenario_files import LIBRARY

ROOT = Path(__file__).resolve().parent.parent

HEAD = """name = "rdsr"
duration_s = 400.0
seed = 5

[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "gpio"
probe_position = "inside"

[[exposure]]
at = 10.0
duration_s = 4.0
dose_rate_usv_h = 200.0
pulse_hz = 7.5
pulse_width_s = 0.008

[[exposure]]
at = 16.0
duration_s = 2.0
dose_rate_usv_h = 200.0
pulse_hz = 10.0
pulse_width_s = 0.01

[[exposure]]
at = 40.0
duration_s = 2.0
dose_rate_usv_h = 800.0
prep_s = 1.0

[[event]]
at = 300.0
signal = "emission"
value = true

[[event]]
at = 303.0
signal = "emission"
value = false
"""
DEVICE = """
[[rdsr.device]]
name = "artis"
manufacturer = "Siemens"
model = "AXIOM-Artis"
observer_name = "SIM-ARTIS-1"
serial = "SIM-1"
clock_offset_s = {offset}
utc_offset = {utc}
"""
STUDY = """
[[rdsr.study]]
device = "artis"
from_s = 5.0
to_s = 100.0
operator = "MARTIN^Claire"
"""


def scenario(offset: float = 0.0, utc: bool = False, study: str = STUDY) -> str:
    return HEAD + DEVICE.format(offset=offset, utc=str(utc).lower()) + study


def test_a_study_is_read_back_into_the_figures_written() -> None:
    played = parse_scenario(scenario(offset=-90.5), "s.toml")
    [(planned, raw)] = study_files(played)
    report = read_bytes(raw)
    assert report.sop_class == "xray_radiation_dose_sr" and report.scope == "study"
    d = report.device
    assert (d.manufacturer, d.model, d.serial, d.observer_name) == (
        "Siemens", "AXIOM-Artis", "SIM-1", "SIM-ARTIS-1")
    assert report.timezone_assumed and report.planes == ("single",)
    assert report.notes == () and report.missing == (
        "peak_skin_dose_gy", "events.pulses", "events.pulse_rate_hz", "events.pulse_width_ms")
    assert report.missing_in_events == {"pulses": 1, "pulse_rate_hz": 1, "pulse_width_ms": 1}
    # One event per press (two fluoroscopy runs, an acquisition); the unsolicited emission
    # at 300 s is outside the study's span.
    assert [e.type for e in report.events] == ["fluoroscopy", "fluoroscopy",
                                               "stationary_acquisition"]
    for event, want in zip(report.events, planned.events, strict=True):
        true_start = datetime.fromtimestamp(EPOCH + want.start_s, UTC)
        assert event.start == true_start - timedelta(seconds=90.5)  # the device's clock
        assert event.start is not None and event.start.tzinfo is PARIS
        assert (event.duration_s, event.xray_on_s, event.pulses, event.pulse_rate_hz,
                event.pulse_width_ms, event.dap_gym2, event.kar_gy, event.kvp, event.ma) == (
            want.duration_s, want.xray_on_s, want.pulses, want.pulse_rate_hz,
            want.pulse_width_ms, want.dap_gym2, want.kar_gy, want.kvp, want.ma)
        assert [(o.name, o.role) for o in event.operators] == [
            ("MARTIN Claire", "irradiation_administering")]
    first, second, shot = report.events
    assert (first.pulses, first.pulse_rate_hz, first.duration_s) == (30, 7.5, 3.87467)
    assert (second.pulses, second.pulse_rate_hz) == (20, 10.0)
    assert (shot.duration_s, shot.xray_on_s, shot.kar_gy) == (2.0, 2.0, 0.01)
    t = report.totals
    assert (t.fluoro_time_s, t.acquisition_time_s) == (planned.fluoro_time_s, 2.0)
    assert t.fluoro_time_s == pytest.approx(29 / 7.5 + 0.008 + 1.91)
    assert (t.dap_gym2, t.kar_gy, t.fluoro_dap_gym2, t.fluoro_kar_gy, t.acquisition_dap_gym2,
            t.acquisition_kar_gy) == (
        planned.dap_gym2, planned.kar_gy, planned.fluoro_dap_gym2, planned.fluoro_kar_gy,
        planned.acquisition_dap_gym2, planned.acquisition_kar_gy)
    assert t.dap_gym2 == pytest.approx(sum(e.dap_gym2 or 0 for e in report.events))
    assert t.kar_gy == pytest.approx(t.fluoro_kar_gy + t.acquisition_kar_gy)  # type: ignore[operator]


def test_times_can_carry_their_utc_offset_and_the_patient_is_plainly_fake() -> None:
    [(_planned, raw)] = study_files(parse_scenario(scenario(offset=240, utc=True)))
    report = read_bytes(raw)
    assert not report.timezone_assumed
    first = report.events[0].start
    assert first is not None and first.utcoffset() == timedelta(hours=1)  # January: +0100
    assert first == datetime.fromtimestamp(EPOCH + 10.3 + 240, timezone(timedelta(hours=1)))
    assert report.start == datetime.fromtimestamp(EPOCH + 5 + 240, UTC)
    ds = pydicom.dcmread(BytesIO(raw))
    assert (str(ds.PatientName), ds.PatientID, ds.TimezoneOffsetFromUTC) == (
        FAKE_PATIENT, "SIM-PATIENT-1", "+0100")


def test_the_same_play_gives_the_same_file_and_another_start_another_study() -> None:
    played = parse_scenario(scenario())
    assert study_files(played) == study_files(played)
    [(_, first)] = study_files(played)
    [(_, later)] = study_files(played, EPOCH + 86_400)
    assert read_bytes(first).study_instance_uid != read_bytes(later).study_instance_uid


def test_fluoroscopy_presses_close_together_are_grouped_as_some_vendors_do() -> None:
    grouped = STUDY.replace('operator = "MARTIN^Claire"', "fluoro_group_gap_s = 5.0")
    [planned] = plan_studies(parse_scenario(scenario(study=grouped)))
    fluoro, shot = planned.events
    assert (fluoro.type, shot.type) == ("fluoroscopy", "stationary_acquisition")
    assert (fluoro.start_s, fluoro.pulses, len(fluoro.runs)) == (10.3, 50, 2)
    # the on-time, as Philips writes it: each press's span added, not first to last press
    assert fluoro.duration_s == pytest.approx(3.87467 + 1.91)
    # the fluoroscopy time is the presses' own spans, the gap between them left out
    assert planned.fluoro_time_s == pytest.approx(3.87467 + 1.91)


def test_runs_follow_the_request_and_a_train_on_its_own_is_one_run() -> None:
    text = scenario() + "".join(
        f"\n[[event]]\nat = {t}\nsignal = \"emission\"\nvalue = {v}\n"
        for t, v in ((320.0, "true"), (320.5, "false"), (321.5, "true"), (322.0, "false"),
                     (330.0, "true"), (330.5, "false")))
    found = runs(parse_scenario(text))
    assert [(r.start, len(r.periods), r.requested) for r in found] == [
        (10.3, 30, True), (16.3, 20, True), (41.0, 1, True), (300.0, 1, False),
        (320.0, 2, False), (330.0, 1, False)]


def test_the_command_writes_the_files_and_refuses_a_scenario_without_studies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text(scenario(), encoding="utf-8")
    out = tmp_path / "rdsr"
    assert main(["run", str(path), "--json", "--rdsr-dir", str(out)]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out)["scenario"] == "rdsr"  # stdout stays the report alone
    assert said.err == f"voyant-sim: wrote {out / 's-study1-artis.dcm'}\n"
    assert len(read(out / "s-study1-artis.dcm").events) == 3
    bare = tmp_path / "bare.toml"
    bare.write_text(HEAD, encoding="utf-8")
    assert main(["run", str(bare), "--rdsr-dir", str(out)]) == 2
    refused = capsys.readouterr()
    assert "--rdsr-dir needs an [rdsr] table" in refused.err and refused.out == ""
    assert main(["run", str(path), "--rdsr-dir", str(bare)]) == 1  # a file, not a folder
    assert capsys.readouterr().err == f"voyant-sim: --rdsr-dir {bare}: File exists\n"


def test_write_rdsrs_names_each_file_after_the_scenario_study_and_device(
        tmp_path: Path) -> None:
    two = scenario() + STUDY.replace("5.0", "200.0").replace("100.0", "350.0")
    paths = write_rdsrs(parse_scenario(two, tmp_path / "day.toml"), tmp_path / "out")
    assert [p.name for p in paths] == ["day-study1-artis.dcm", "day-study2-artis.dcm"]
    assert [len(read(p).events) for p in paths] == [3, 1]  # the train at 300 s in study 2


@pytest.mark.parametrize(("change", "said"), [
    (("[[rdsr.study]]\ndevice = \"artis\"", "[[rdsr.study]]\ndevice = \"ziehm\""),
     ':51: rdsr.study[1].device: unknown device "ziehm"; expected the name of an'
     ' [[rdsr.device]]: "artis"'),
    (("to_s = 100.0", "to_s = 3.0"),
     ":53: rdsr.study[1].to_s: expected the study's end after from_s = 5.0, got 3.0"),
    (("to_s = 100.0", "to_s = 500.0"),
     ":53: rdsr.study[1].to_s: expected a time within the scenario (0 to duration_s = 400.0),"
     " got 500.0"),
    (("clock_offset_s = 0.0", "clock_offset_s = \"4 min\""),
     ":47: rdsr.device[1].clock_offset_s: expected the device's clock minus true time in"
     ' seconds (a number from -86400.0 to 86400.0), got "4 min" (a string)'),
    (("clock_offset_s = 0.0", "clock_offset_s = 90000"), "rdsr.device[1].clock_offset_s:"),
    (("utc_offset = false", "utc_offset = 1"),
     ":48: rdsr.device[1].utc_offset: expected true or false, got 1"),
    (("serial = \"SIM-1\"", "serial = \"SIM\\\\1\""),
     ":46: rdsr.device[1].serial: expected at most 64 characters, without a backslash"),
    (("name = \"artis\"", "name = \"../artis\""),
     ':42: rdsr.device[1].name: expected a name of letters, digits, - and _'),
    (("observer_name = \"SIM-ARTIS-1\"\n", "observer_name = \"SIM-ARTIS-1\"\nroom = \"a b\"\n"),
     ':46: rdsr.device[1].room: expected a Voyant room name'),
    (("operator = ", "operater = "),
     ":54: rdsr.study[1].operater: unknown key; expected one of device, from_s, to_s,"),
    (("[[rdsr.study]]", "[rdsr.study]"),
     "rdsr.study: expected [[rdsr.study]] entries (an array of tables), got one [rdsr.study]"
     " table"),
])
def test_each_mistake_is_refused_naming_line_key_and_expectation(
        change: tuple[str, str], said: str) -> None:
    text = scenario().replace(*change)
    assert text != scenario()
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.toml")
    assert said in str(caught.value)


def test_devices_and_studies_are_refused_when_they_cannot_be_told_apart() -> None:
    twice = scenario() + DEVICE.format(offset=0, utc="false").replace('"artis"', '"other"')
    with pytest.raises(ScenarioError, match=r"rdsr.device\[2\].observer_name: rdsr.device"
                       r"\[1\] has the same observer_name and serial"):
        parse_scenario(twice)
    overlap = scenario() + STUDY.replace("5.0", "90.0").replace("100.0", "120.0")
    with pytest.raises(ScenarioError, match=r"rdsr.study\[2\].from_s: overlaps rdsr.study\[1\]"
                       r" of the same device, which spans \[5.0, 100.0\] s"):
        parse_scenario(overlap)
    with pytest.raises(ScenarioError, match=r"rdsr\.study: required key is missing"):
        parse_scenario(HEAD + DEVICE.format(offset=0, utc="false"))
    with pytest.raises(ScenarioError, match=r"rdsr.study: expected at least one \[\[rdsr.study"):
        parse_scenario(HEAD + DEVICE.format(offset=0, utc="false").replace(
            "[[rdsr.device]]", "[rdsr]\nstudy = []\n\n[[rdsr.device]]"))


def test_every_key_of_the_extension_is_documented() -> None:
    docs = (ROOT / "docs" / "simulator-rdsr.md").read_text(encoding="utf-8")
    for table, keys in plan_keys().items():
        assert f"[{table}]" in docs or f"[[{table}]]" in docs
        assert [k for k in keys if f"`{k}`" not in docs] == [], table
    library = sorted(p.name for p in LIBRARY.glob("rdsr_*.toml"))
    assert len(library) == 4 and [n for n in library if n not in docs] == []
