"""An imaging device's clock offset (#17 item 3): the median of event minus emission starts
over pairs matched one to one within 15 minutes, a drift beyond the tolerance."""

from __future__ import annotations

import math
import random

import pytest

from hub.rdsr.clock import WINDOW_S, Offset, consensus, estimate, pair, split_offset


def test_the_offset_is_the_median_of_an_odd_count() -> None:
    pairs = [(0.0, 10.0), (100.0, 130.0), (200.0, 212.0)]  # differences 10, 30, 12
    assert estimate(pairs, 120) == Offset(12.0, 3, False)


def test_the_offset_is_the_median_of_an_even_count() -> None:
    pairs = [(0.0, 10.0), (100.0, 130.0), (200.0, 212.0), (300.0, 1300.0)]
    assert estimate(pairs, 120) == Offset(21.0, 4, False)  # (12 + 30) / 2; 1000 moves nothing


def test_no_pair_no_estimate() -> None:
    assert estimate([], 120) is None
    assert pair([], [100.0]) == [] and pair([100.0], []) == []
    assert estimate(pair([0.0], [WINDOW_S + 1]), 120) is None  # too far to pair


@pytest.mark.parametrize(("seconds", "drift"), [(120.0, False), (120.5, True), (-121.0, True),
                                                (-119.0, False), (0.0, False)])
def test_the_drift_flag_is_beyond_the_tolerance_either_way(seconds: float,
                                                          drift: bool) -> None:
    found = estimate([(1000.0, 1000.0 + seconds)], 120)
    assert found is not None and found.drift is drift and found.seconds == seconds


def test_pairs_follow_the_offset_most_events_agree_on_one_to_one() -> None:
    # Three presses a minute apart, the device's clock 4 minutes ahead: each event's
    # nearest emission is the wrong press (the last one), but all three agree on +240 s.
    emissions = [1000.0, 1060.0, 1120.0]
    events = [1240.0, 1300.0, 1361.0]
    assert consensus(emissions, events) == pytest.approx(240.0, abs=1.0)
    assert pair(emissions, events) == [(1000.0, 1240.0), (1060.0, 1300.0), (1120.0, 1361.0)]
    # Two events and one emission: only one pair.
    assert len(pair([100.0], [90.0, 95.0])) == 1
    # Nothing within the window: no consensus, no pair.
    assert consensus([0.0], [10_000.0]) is None
    assert pair([0.0], [10_000.0]) == []


def test_a_three_minute_offset_is_recovered_from_noisy_emissions_and_events() -> None:
    """A day of 40 emissions 10 to 20 minutes apart; the device's clock 3 minutes ahead,
    each event a few seconds off (the pedal before the RDSR's start), a few events with no
    emission and a few emissions with no event (the wrong pairs the median outvotes)."""
    rng = random.Random(17)
    emissions, t = [], 1_767_250_000.0
    for _ in range(40):
        t += rng.uniform(600, 1200)
        emissions.append(t)
    events = [e + 180 + rng.uniform(-4, 4) for e in emissions[5:]]  # 5 emissions unreported
    events += [emissions[10] + 400.0, emissions[20] - 500.0]  # events with no emission
    rng.shuffle(events)
    found = estimate(pair(emissions, events), 120)
    assert found is not None and found.drift
    assert abs(found.seconds - 180) < 4 and found.pairs >= 35
    assert estimate(pair(emissions, events), 200) == Offset(found.seconds, found.pairs, False)


@pytest.mark.parametrize(("seconds", "said"), [(130.4, ("+", 2, 10)), (-59.5, ("−", 1, 0)),
                                               (0.4, ("", 0, 0)), (-0.4, ("", 0, 0)),
                                               (2.5, ("+", 0, 3))])
def test_the_offset_as_the_page_says_it(seconds: float, said: tuple[str, int, int]) -> None:
    assert split_offset(seconds) == said


@pytest.mark.parametrize("gaps", [(2.0, 6.0), (3.0, 8.0), (10.0, 30.0)])
def test_presses_closer_than_the_agreement_window_give_an_unbiased_offset(
        gaps: tuple[float, float]) -> None:
    """Presses a few seconds apart, the device's clock 130 s ahead and its starts to the
    second: a consensus as wide as the gaps between presses mixes each press with its
    neighbours (it was 4 to 5 s off); within 1 s now."""
    rng = random.Random(2024)
    emissions, t = [], 1_767_250_000.0
    for _ in range(80):
        t += rng.uniform(*gaps)
        emissions.append(t)
    events = [float(math.floor(e + 130.0 + rng.uniform(-0.2, 0.2))) for e in emissions[3:]]
    found = estimate(pair(emissions[:-2], events), 120)
    assert found is not None and abs(found.seconds - 130.0) < 1.0, found
    centre = consensus(emissions, events)
    assert centre is not None and abs(centre - 130.0) < 1.0
