"""Every scenario of the library, played against the real agent: exactly the expected alarms.

This is the backbone of the room's tests: the real agent code (mock pins,
the real serial link reading the real firmware's frames, the real monitor and
journal) on virtual time. The frames go through an in-process port
(``fast``); tests/test_sim_modes.py holds the pseudo-terminal's path to the
same reports, scenario by scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.runner import run_scenario
from sim.scenario import load_scenario
from tests.scenario_files import FILES, LIBRARY, duration_s

#: Scenarios longer than this (virtual seconds) are played once, through the broker and
#: the hub, where their expectations are checked too (tests/test_scenarios_through_hub.py).
LONG_S = 3600.0


@pytest.mark.parametrize("path", [p for p in FILES if duration_s(p) <= LONG_S],
                         ids=lambda p: p.stem)
def test_scenario_records_exactly_what_it_expects(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.expect is not None
    report = run_scenario(scenario, fast=True)
    assert scenario.expect.mismatches(report) == [], json.dumps(report["alarms"], indent=1)
    interval = scenario.rules.reading_interval_s
    assert report["readings"]["count"] == int(scenario.duration_s // interval)


def test_a_run_is_deterministic_for_its_seed() -> None:
    scenario = load_scenario(LIBRARY / "radiation_without_emission.toml")
    assert run_scenario(scenario, fast=True) == run_scenario(scenario, fast=True)


def test_report_follows_the_contract() -> None:
    report = run_scenario(load_scenario(LIBRARY / "unsolicited_emission.toml"), fast=True)
    assert set(report) >= {"scenario", "duration_s", "exposures", "alarms", "readings"}
    exposure = report["exposures"][1]
    assert set(exposure) >= {"start_s", "end_s", "duration_s", "requested", "doors_open",
                             "emission_light_ok", "max_dose_rate_usv_h", "dose_usv"}
    assert exposure["requested"] is False
    assert exposure["start_s"] == 120.0 and exposure["end_s"] == 125.0
    assert 20.0 < exposure["max_dose_rate_usv_h"] < 45.0
    assert exposure["dose_usv"] == pytest.approx(30.1 * 5 / 3600, rel=0.3)
    alarm = report["alarms"][0]
    assert set(alarm) >= {"kind", "subject", "at_s", "cleared_s"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_json_report(tmp_path: Path) -> None:
    result = run_cli("run", str(LIBRARY / "emission_after_release.toml"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [a["kind"] for a in report["alarms"]] == ["emission_after_release"]


def test_cli_table_report() -> None:
    result = run_cli("run", str(LIBRARY / "two_doors.toml"))
    assert result.returncode == 0, result.stderr
    assert "door_open_during_emission" in result.stdout


def test_cli_refuses_a_malformed_scenario_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nduration_s = 10.0\nseed = 1\n[room]\ndoors = ["a"]\n'
        "background_usv_h = 0.1\nprobe = \"serial\"\nprobe_position = \"inside\"\n"
        '[[event]]\nat = 1.0\nsignal = "door.b"\nvalue = true\n',
        encoding="utf-8",
    )
    result = run_cli("run", str(bad), "--json")
    assert result.returncode == 2
    assert str(bad) in result.stderr and "event[1].signal" in result.stderr
    assert result.stdout == ""
