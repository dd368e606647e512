"""CUSUM statistics, their thresholds, and the two statistical alarm detectors."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import pytest

from edge_agent.dose import arl, arl_pure, thresholds
from edge_agent.dose.arl import shared_thresholds
from edge_agent.dose.detector import (
    YEAR_S,
    CusumBank,
    HighRateDetector,
    PoissonCusum,
    RiseDetector,
    Verdict,
    cusum_mtbfa_s,
    cusum_threshold,
)
from edge_agent.dose.tube import BUILTIN_TUBES, Calibration, default_calibration

FRAME = 0.1
CAL: Calibration = default_calibration(BUILTIN_TUBES["sbm20"])


def frames(usv_h: float, seconds: float, rng: np.random.Generator) -> list[int]:
    """Poisson counts per 100 ms frame in a field of ``usv_h`` (dead time applied)."""
    counts: list[int] = rng.poisson(
        CAL.measured_cps_for(usv_h) * FRAME, round(seconds / FRAME)
    ).tolist()
    return counts


def feed(det: RiseDetector | HighRateDetector, counts: Iterable[int]) -> list[tuple[int, str]]:
    """(frame index, verdict) of every change of state."""
    out: list[tuple[int, str]] = []
    for i, k in enumerate(counts):
        verdict: Verdict = det.update(k, FRAME)
        if verdict is not None:
            out.append((i, verdict))
    return out


@pytest.fixture(scope="module", autouse=True)
def numpy_thresholds() -> Iterator[None]:
    """What the shipped table lacks (a detector over 10 µSv/h) is computed with numpy here:
    the plain-Python engine gives the same (tests/test_arl_table.py), 20 times slower."""
    thresholds.use(arl)
    yield
    thresholds.use(arl_pure)


@pytest.fixture(scope="module")
def rise() -> RiseDetector:
    return RiseDetector(CAL, 0.1)


@pytest.fixture
def fresh_rise(rise: RiseDetector) -> RiseDetector:
    """A new detector (thresholds are cached, so this is cheap)."""
    return RiseDetector(CAL, 0.1)


# -- PoissonCusum ----------------------------------------------------------------------


def test_cusum_on_a_hand_computed_sequence() -> None:
    # ln(r1/r0) = 1 per count, drift (r1 - r0)·dt = e - 1 per 1 s frame
    cusum = PoissonCusum(1.0, math.e, threshold=3.0)
    drift = math.e - 1.0
    expected = [3 - drift, 0.0, 0.0, 5 - drift, 5 - 2 * drift + 1]
    signals = [cusum.update(k, 1.0) for k in (3, 0, 0, 5, 1)]
    assert cusum.statistic == pytest.approx(expected[-1])
    assert signals == [False, False, False, True, False]
    cusum.reset()
    assert cusum.statistic == 0.0


def test_cusum_trace_step_by_step() -> None:
    cusum = PoissonCusum(2.0, 8.0, threshold=10.0)
    w, d = math.log(4.0), 6.0 * 0.5
    trace = []
    for k in (4, 2, 0, 9):
        cusum.update(k, 0.5)
        trace.append(cusum.statistic)
    s1 = 4 * w - d
    s2 = s1 + 2 * w - d
    s3 = max(0.0, s2 - d)
    assert trace == pytest.approx([s1, s2, s3, s3 + 9 * w - d])


def test_reverse_cusum_detects_a_drop() -> None:
    cusum = PoissonCusum(math.e, 1.0, threshold=2.0)  # weight -1 per count, +(e-1) per s
    assert not cusum.update(0, 1.0)
    assert cusum.statistic == pytest.approx(math.e - 1.0)
    assert cusum.update(0, 1.0)
    cusum.reset()
    cusum.update(3, 1.0)
    assert cusum.statistic == 0.0


def test_cusum_refuses_equal_rates() -> None:
    with pytest.raises(ValueError):
        PoissonCusum(1.0, 1.0, 5.0)


def test_bank_matches_independent_cusums() -> None:
    rng = np.random.default_rng(3)
    r0, rates = 0.25, [1.0, 3.0, 12.0]
    bank = CusumBank(r0, rates, [50.0, 50.0, 50.0], FRAME)
    singles = [PoissonCusum(r0, r, 50.0) for r in rates]
    for i, k in enumerate(rng.poisson(0.5, 3000).tolist()):
        dt = FRAME if i % 7 else 0.13  # also a frame of another length
        bank.update(k, dt)
        for single in singles:
            single.update(k, dt)
        assert bank.statistics == pytest.approx([s.statistic for s in singles], abs=1e-9)


def test_bank_reports_which_cusum_fired() -> None:
    bank = CusumBank(0.25, [1.0, 50.0], [100.0, 5.0], FRAME)
    assert bank.update(8, FRAME)
    assert bank.fired == 1


# -- thresholds --------------------------------------------------------------------------


def lindley_alarms(r0: float, r1: float, h: float, frames_total: int, seed: int) -> int:
    """Alarms of the per-frame CUSUM on background counts, restarted after each (vectorised)."""
    rng = np.random.default_rng(seed)
    chains = 4000
    w, d = math.log(r1 / r0), (r1 - r0) * FRAME
    s = np.zeros(chains)
    alarms = 0
    for _ in range(frames_total // chains // 500):
        block = rng.poisson(r0 * FRAME, (500, chains))
        for k in block:
            s = np.maximum(s + k * w - d, 0.0)
            hit = s >= h
            alarms += int(hit.sum())
            s[hit] = 0.0
    return alarms


@pytest.mark.parametrize(
    ("r1", "target_s"),
    [(1.0, 3600.0), (12.75, 3600.0), (50.0, 600.0)],
    ids=["smooth", "mid", "lattice"],
)
def test_threshold_gives_the_target_mtbfa_on_generated_data(r1: float, target_s: float) -> None:
    r0 = 0.25
    h = cusum_threshold(r0, r1, target_s, FRAME)
    model = cusum_mtbfa_s(r0, r1, h, FRAME)
    assert model >= target_s
    total = 24_000_000  # 2.4e6 s of background per case
    alarms = lindley_alarms(r0, r1, h, total, seed=11)
    assert alarms > 100
    measured = total * FRAME / alarms
    assert measured == pytest.approx(model, rel=4.0 / math.sqrt(alarms))


def test_threshold_is_the_smallest_one_meeting_the_target() -> None:
    r0, r1 = 0.25, 2.5
    h = cusum_threshold(r0, r1, 3600.0, FRAME)
    assert cusum_mtbfa_s(r0, r1, h, FRAME) >= 3600.0
    assert cusum_mtbfa_s(r0, r1, h - 0.05, FRAME) < 3600.0
    assert cusum_threshold(r0, r1, 36_000.0, FRAME) > h


def test_shared_thresholds_keep_the_bank_budget() -> None:
    r0 = CAL.measured_cps_for(0.1)
    rates = tuple(CAL.measured_cps_for(0.1 + r) for r in (0.3, 1.2, 4.8, 19.2))
    hs = shared_thresholds(r0, rates, 10 * YEAR_S, FRAME)
    rate_sum = sum(1.0 / cusum_mtbfa_s(r0, r, h, FRAME) for r, h in zip(rates, hs, strict=True))
    assert 0.8 / (10 * YEAR_S) <= rate_sum <= 1.001 / (10 * YEAR_S)


# -- RiseDetector ----------------------------------------------------------------------------


def test_rise_bank_is_geometric_and_thresholds_are_set(rise: RiseDetector) -> None:
    assert rise.rises_usv_h[0] == pytest.approx(0.3)
    assert rise.rises_usv_h[-1] >= 300.0
    ratios = {round(b / a, 6) for a, b in zip(rise.rises_usv_h, rise.rises_usv_h[1:], strict=False)}
    assert ratios == {2.0}
    assert all(h > 0.0 for h in rise.bank.thresholds)


@pytest.mark.parametrize(("step", "within_s"), [(1.0, 15.0), (5.0, 2.0), (100.0, 0.3)])
def test_rise_raises_on_a_step(fresh_rise: RiseDetector, step: float, within_s: float) -> None:
    rng = np.random.default_rng(5)
    before = frames(0.1, 60.0, rng)
    assert feed(fresh_rise, before) == []
    events = feed(fresh_rise, frames(0.1 + step, within_s, rng))
    assert events and events[0][1] == "raised"
    assert fresh_rise.active


def test_rise_stays_quiet_on_a_long_background_run(fresh_rise: RiseDetector) -> None:
    rng = np.random.default_rng(21)
    for _ in range(6):  # six hours, an hour at a time
        assert feed(fresh_rise, frames(0.1, 3600.0, rng)) == []


def test_rise_clears_when_back_to_background(fresh_rise: RiseDetector) -> None:
    rng = np.random.default_rng(8)
    feed(fresh_rise, frames(20.1, 5.0, rng))
    assert fresh_rise.active
    events = feed(fresh_rise, frames(0.1, 300.0, rng))
    assert [v for _, v in events] == ["cleared"]
    assert events[0][0] * FRAME < 180.0
    assert not fresh_rise.active
    assert fresh_rise.estimate_usv_h is None


def test_no_chatter_at_a_rate_hovering_near_the_detection_level(fresh_rise: RiseDetector) -> None:
    rng = np.random.default_rng(13)
    hovering: list[int] = []
    for minute in range(120):  # two hours, 0.2 and 0.4 µSv/h above background in turn
        hovering += frames(0.1 + (0.2 if minute % 2 else 0.4), 60.0, rng)
    events = feed(fresh_rise, hovering)
    assert [v for _, v in events] == ["raised"]


def test_pause_forgets_statistics(fresh_rise: RiseDetector) -> None:
    fresh_rise.update(3, FRAME)
    assert any(fresh_rise.bank.statistics)
    fresh_rise.pause()
    assert not any(fresh_rise.bank.statistics)
    assert not fresh_rise.active


def test_pause_splits_evidence(fresh_rise: RiseDetector) -> None:
    # 6 counts in one frame raise, so do 3 + 3 in two frames; not across a pause
    probe = RiseDetector(CAL, 0.1)
    assert probe.update(6, FRAME) == "raised"
    probe = RiseDetector(CAL, 0.1)
    assert probe.update(3, FRAME) is None
    assert probe.update(3, FRAME) == "raised"
    assert fresh_rise.update(3, FRAME) is None
    fresh_rise.pause()
    assert fresh_rise.update(3, FRAME) is None


def test_pause_keeps_an_active_alarm_and_restarts_its_clearing(fresh_rise: RiseDetector) -> None:
    assert fresh_rise.update(30, FRAME) == "raised"
    for _ in range(200):
        assert fresh_rise.update(0, FRAME) is None
    progress = fresh_rise.clearing.statistic
    assert progress > 0.0
    fresh_rise.pause()
    assert fresh_rise.active
    assert fresh_rise.clearing.statistic == 0.0
    zero_frames = 0
    while fresh_rise.update(0, FRAME) is None:
        zero_frames += 1
    assert zero_frames >= 200  # the clearing started over


def test_estimate_of_the_excess(fresh_rise: RiseDetector) -> None:
    rng = np.random.default_rng(4)
    feed(fresh_rise, frames(20.1, 100.0, rng))
    assert fresh_rise.active
    estimate = fresh_rise.estimate_usv_h
    assert estimate is not None
    assert estimate == pytest.approx(20.0, rel=0.05)


def test_small_rises_are_dropped_over_a_high_background() -> None:
    det = RiseDetector(CAL, 10.0, rises_usv_h=(0.3, 1.0, 3.0, 10.0))
    assert det.rises_usv_h == (1.0, 3.0, 10.0)
    with pytest.raises(ValueError):
        RiseDetector(CAL, 10.0, rises_usv_h=(0.1,))


# -- HighRateDetector --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inside() -> HighRateDetector:
    return HighRateDetector(CAL, 2000.0)


@pytest.mark.parametrize("threshold", [2.5, 2000.0], ids=["outside", "inside"])
def test_high_rate_raises_above_and_clears_below(threshold: float) -> None:
    det = HighRateDetector(CAL, threshold)
    rng = np.random.default_rng(17)
    assert feed(det, frames(0.6 * threshold, 600.0, rng)) == []
    events = feed(det, frames(2.0 * threshold, 30.0, rng))
    assert [v for _, v in events] == ["raised"]
    events = feed(det, frames(0.3 * threshold, 120.0, rng))
    assert [v for _, v in events] == ["cleared"]


def test_high_rate_does_not_raise_at_six_tenths_for_an_hour(inside: HighRateDetector) -> None:
    rng = np.random.default_rng(19)
    assert feed(inside, frames(1200.0, 3600.0, rng)) == []
    assert not inside.active


def test_high_rate_near_saturation() -> None:
    det = HighRateDetector(CAL, 2000.0)
    rng = np.random.default_rng(23)
    assert CAL.is_saturated(CAL.measured_cps_for(2500.0))
    events = feed(det, frames(2500.0, 10.0, rng))  # measured rate past 1/(2τ)
    assert [v for _, v in events] == ["raised"]
    assert events[0][0] * FRAME < 5.0
    estimate = det.estimate_usv_h
    assert estimate is not None
    assert estimate == pytest.approx(2500.0, rel=0.05)
    events = feed(det, frames(1000.0, 30.0, rng))
    assert [v for _, v in events] == ["cleared"]


def test_high_rate_does_not_chatter_around_its_threshold() -> None:
    det = HighRateDetector(CAL, 2.5)
    rng = np.random.default_rng(29)
    field: list[int] = []
    for minute in range(60):
        field += frames(2.4 if minute % 2 else 3.4, 60.0, rng)
    events = feed(det, field)
    assert [v for _, v in events] == ["raised"]


def test_high_rate_refuses_a_threshold_in_saturation() -> None:
    with pytest.raises(ValueError, match="saturation"):
        HighRateDetector(CAL, 50_000.0)
