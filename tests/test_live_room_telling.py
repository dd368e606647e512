"""An unpaced room tells its publisher at most every ``TELL_EVERY_S`` of real time
(:class:`sim.live_room.AtMostEvery`); tests/test_scenarios_through_hub.py plays the library
so, every record arriving at the hub."""

from __future__ import annotations

import types

import pytest

from sim import live_room
from sim.live_room import AtMostEvery


def test_a_step_is_told_unless_one_was_told_within_the_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(live_room, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    told: list[object] = []
    hook = AtMostEvery(told.append, 0.01)
    for t, agent in [(100.0, "a"), (100.004, "b"), (100.0099, "c"), (100.01, "d"),
                     (100.5, "e"), (100.505, "f")]:
        now[0] = t
        hook(agent)
    assert told == ["a", "d", "e"]
