"""Tube profiles and calibrations: conversions, dead time, saturation, uncertainty."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from edge_agent.dose.tube import (
    BUILTIN_TUBES,
    MAX_LIVE_TIME_FRACTION,
    Calibration,
    TubeProfile,
    default_calibration,
    rate_with_uncertainty,
)

SBM20 = BUILTIN_TUBES["sbm20"]


@pytest.fixture
def cal() -> Calibration:
    return default_calibration(SBM20)


def test_sbm20_is_the_project_default_profile() -> None:
    assert SBM20.sensitivity_cpm_per_usv_h == 150.0
    assert SBM20.dead_time_s == pytest.approx(190e-6)
    assert SBM20.reference_quality == "Cs-137"


def test_default_calibration_is_named_after_tube_and_quality(cal: Calibration) -> None:
    assert cal.name == "sbm20/Cs-137"
    assert cal.beam_quality == "Cs-137"
    assert cal.tube is SBM20
    assert default_calibration(BUILTIN_TUBES["lnd712"]).name == "lnd712/Co-60"


def test_dose_rate_conversion_both_ways(cal: Calibration) -> None:
    assert cal.cps_per_usv_h == pytest.approx(2.5)
    assert cal.true_cps_for(4.0) == pytest.approx(10.0)
    assert cal.usv_h(10.0) == pytest.approx(4.0)
    for usv_h in (0.05, 1.0, 333.3):
        assert cal.usv_h(cal.true_cps_for(usv_h)) == pytest.approx(usv_h)


def test_calibration_per_beam_quality_changes_the_reading() -> None:
    scatter = Calibration("sbm20/RQR5", SBM20, "RQR5 70 kV scatter", 750.0, "example")
    assert scatter.usv_h(25.0) == pytest.approx(2.0)
    assert default_calibration(SBM20).usv_h(25.0) == pytest.approx(10.0)


def test_dead_time_correction_matches_the_formula(cal: Calibration) -> None:
    assert cal.true_cps(1000.0) == pytest.approx(1000.0 / (1.0 - 1000.0 * 190e-6))
    assert cal.measured_cps(5000.0) == pytest.approx(5000.0 / (1.0 + 5000.0 * 190e-6))
    assert cal.true_cps(0.0) == 0.0


@pytest.mark.parametrize("true_cps", [0.25, 10.0, 2500.0, 5000.0, 50_000.0, 400_000.0])
def test_dead_time_round_trip(cal: Calibration, true_cps: float) -> None:
    assert cal.true_cps(cal.measured_cps(true_cps)) == pytest.approx(true_cps, rel=1e-9)


def test_correction_is_capped_at_and_past_one_over_tau(cal: Calibration) -> None:
    tau = SBM20.dead_time_s
    cap = cal.true_cps(MAX_LIVE_TIME_FRACTION / tau)
    assert math.isfinite(cap)
    assert cal.true_cps(1.0 / tau) == cap
    assert cal.true_cps(10.0 / tau) == cap
    rates = np.linspace(0.0, 2.0 / tau, 2001)
    corrected = [cal.true_cps(float(m)) for m in rates]
    assert all(b >= a for a, b in itertools.pairwise(corrected))


def test_saturation_flag_at_half_of_one_over_tau(cal: Calibration) -> None:
    assert cal.saturation_cps == pytest.approx(0.5 / 190e-6)
    assert not cal.is_saturated(2631.0)
    assert cal.is_saturated(2632.0)
    assert not cal.is_saturated(cal.measured_cps_for(2000.0))  # the inside default threshold
    assert cal.is_saturated(cal.measured_cps_for(2200.0))


def test_invalid_profiles_and_rates_are_refused(cal: Calibration) -> None:
    with pytest.raises(ValueError):
        TubeProfile("bad", "", 0.0, 1e-4)
    with pytest.raises(ValueError):
        TubeProfile("bad", "", 100.0, 0.5)
    with pytest.raises(ValueError):
        Calibration("bad", SBM20, "Cs-137", -1.0)
    with pytest.raises(ValueError):
        cal.true_cps(-1.0)
    with pytest.raises(ValueError):
        cal.measured_cps(-1.0)


def test_rate_with_uncertainty_poisson_and_dead_time(cal: Calibration) -> None:
    value, sigma = rate_with_uncertainty(100, 10.0, cal)
    live = 1.0 - 10.0 * 190e-6
    assert value == pytest.approx(10.0 / live / 2.5)
    assert sigma == pytest.approx(1.0 / live**2 / 2.5)


def test_rate_with_uncertainty_zero_counts_gives_one_count_sigma(cal: Calibration) -> None:
    value, sigma = rate_with_uncertainty(0, 60.0, cal)
    assert value == 0.0
    assert sigma == pytest.approx(1.0 / 60.0 / 2.5)


def test_rate_with_uncertainty_at_saturation_is_unbounded(cal: Calibration) -> None:
    value, sigma = rate_with_uncertainty(10_000, 1.0, cal)
    assert math.isfinite(value)
    assert sigma == math.inf


def test_rate_with_uncertainty_refuses_bad_input(cal: Calibration) -> None:
    with pytest.raises(ValueError):
        rate_with_uncertainty(-1, 1.0, cal)
    with pytest.raises(ValueError):
        rate_with_uncertainty(1, 0.0, cal)


def test_one_sigma_covers_about_68_percent(cal: Calibration) -> None:
    rng = np.random.default_rng(7)
    true_usv_h, seconds = 3.0, 10.0
    mean = cal.measured_cps_for(true_usv_h) * seconds
    inside = 0
    for k in rng.poisson(mean, 4000).tolist():
        value, sigma = rate_with_uncertainty(k, seconds, cal)
        inside += abs(value - true_usv_h) <= sigma
    assert 0.64 <= inside / 4000 <= 0.72
