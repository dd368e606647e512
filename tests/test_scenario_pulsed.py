"""The six pulse-rate scenarios: generated, realistic presses, the window of one pulse period."""

from __future__ import annotations

import itertools

import pytest

from sim import pulsed
from sim.scenario import load_scenario
from sim.timeline import emission_periods

FILES = {hz: pulsed.path_for(hz) for hz in pulsed.RATES}


def test_the_six_rates_of_the_issue_are_in_the_library() -> None:
    assert sorted(FILES) == [0.5, 1.0, 2.0, 3.0, 7.5, 15.0]
    assert all(path.exists() for path in FILES.values())


def test_the_files_are_regenerated_byte_for_byte() -> None:
    for hz, path in FILES.items():
        assert path.read_bytes() == pulsed.render(hz).encode("utf-8"), path.name
    assert pulsed.main(["--check"]) == 0


@pytest.mark.parametrize("hz", list(FILES), ids=lambda hz: f"{hz:g}hz")
def test_presses_are_real_procedures_under_the_real_thresholds(hz: float) -> None:
    s = load_scenario(FILES[hz])
    assert dict(s.agent) == {} and s.room.probe == "gpio"
    presses = s.exposures
    assert len(presses) >= 30
    assert all(e.pulse_hz == hz for e in presses)
    lengths = [e.prep_s + e.duration_s for e in presses]
    assert min(lengths) < 10 and max(lengths) > 300  # seconds to minutes
    assert max(lengths) < min(s.rules.max_request_s, s.rules.max_exposure_s)
    gaps = [b.at - a.end for a, b in itertools.pairwise(presses)]
    assert min(gaps) > 0 and max(gaps) < s.rules.procedure_gap_s  # one procedure


@pytest.mark.parametrize("hz", list(FILES), ids=lambda hz: f"{hz:g}hz")
def test_the_expected_window_is_one_pulse_period_from_the_crossing(hz: float) -> None:
    """Recomputed from the played pulses: spans (first rise to last fall) summed to 3600 s."""
    s = load_scenario(FILES[hz])
    total, crossing = 0.0, None
    for press in s.exposures:
        periods = emission_periods(press)
        span = periods[-1][1] - periods[0][0]
        if crossing is None and total + span >= s.rules.procedure_emission_limit_s:
            crossing = periods[0][0] + s.rules.procedure_emission_limit_s - total
        total += span
    assert crossing is not None and crossing < s.duration_s
    assert s.expect is not None
    [alarm] = s.expect.alarms
    assert (alarm.kind, alarm.still_active) == ("fluoroscopy_time_exceeded", True)
    assert alarm.at_s == pytest.approx((crossing, crossing + 1 / hz + 0.1), abs=1e-6)
    # Pulse gaps count: the plain sum of pulse widths is far below the limit.
    on = sum(b - a for press in s.exposures for a, b in emission_periods(press))
    assert on < s.rules.procedure_emission_limit_s / 2


def test_a_file_name_per_rate() -> None:
    assert {p.name for p in FILES.values()} == {
        f"fluoroscopy_pulsed_{n}hz.toml" for n in ("0_5", "1", "2", "3", "7_5", "15")
    }
