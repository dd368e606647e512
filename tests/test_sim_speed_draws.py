"""Counts drawn a burst at a time are those drawn a frame at a time (:mod:`sim.physics`).

A burst's frames have their counts drawn in one call (:meth:`Radiation.draw_ahead`), and those
after a frame the burst guard stops at are given back (:meth:`Radiation.keep`): every count,
and every count after, must be what ``advance(t); take()`` frame by frame gives, whatever
the rate (numpy's two Poisson methods: below and above a mean of 10) and wherever it stops.
"""

from __future__ import annotations

import pytest

from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from sim.physics import Radiation

CAL = default_calibration(BUILTIN_TUBES["sbm20"])


def frames(first: int, last: int) -> list[float]:
    return [round(k * 0.1, 6) for k in range(first, last)]


def one_by_one(radiation: Radiation, times: list[float]) -> list[int]:
    out = []
    for t in times:
        radiation.advance(t)
        out.append(radiation.take())
    return out


@pytest.mark.parametrize("background", [0.0, 0.1, 40.0, 5000.0])
@pytest.mark.parametrize("taken", [1, 7, 30])
def test_counts_drawn_ahead_are_those_drawn_one_by_one(background: float, taken: int) -> None:
    ref, ahead = Radiation(CAL, background, 3), Radiation(CAL, background, 3)
    for r in (ref, ahead):
        r.advance(0.05)  # a change between two frames: the first window is in two parts
        r.set_field("field.exposure", 20.0)
    burst = frames(1, 31)
    expected = one_by_one(ref, burst[:taken])
    drawn = ahead.draw_ahead(burst)
    ahead.keep(taken)
    assert drawn[:taken] == expected
    later = frames(31, 80)
    assert one_by_one(ahead, later) == one_by_one(ref, later)
    if background > 1.0:
        assert sum(expected) > 0, "the test draws counts"


def test_giving_draws_back_matters() -> None:
    """A burst cut after 5 of 30 frames: without :meth:`Radiation.keep` putting the generator
    back, the next frames' counts would come from a generator 25 draws too far on."""
    kept, not_given_back = Radiation(CAL, 40.0, 3), Radiation(CAL, 40.0, 3)
    burst = frames(1, 31)
    kept.draw_ahead(burst)
    kept.keep(5)
    not_given_back.draw_ahead(burst)
    not_given_back._t, not_given_back._expected = burst[4], 0.0  # time put back, not the draws
    assert one_by_one(kept, burst[5:]) != one_by_one(not_given_back, burst[5:])
