"""An unpaced room tells its publisher at most every ``TELL_EVERY_S`` of real time
(:class:`sim.live_room.AtMostEvery`), then after its last step (the records themselves
reach the hub either way: tests/test_scenarios_through_hub.py); a paced or controlled room
after every step."""

from __future__ import annotations

from typing import Any, cast

from edge_agent.agent import Agent
from sim.inject import RoomControl
from sim.live_room import TELL_EVERY_S, AtMostEvery, step_hook


def test_a_step_is_told_unless_one_was_told_within_the_interval() -> None:
    now = [100.0]
    told: list[Agent] = []
    hook = AtMostEvery(told.append, 0.01, clock=lambda: now[0])
    agents = {name: cast(Agent, name) for name in "abcdef"}
    for t, name in [(100.0, "a"), (100.004, "b"), (100.0099, "c"), (100.01, "d"),
                    (100.5, "e"), (100.505, "f")]:
        now[0] = t
        hook(agents[name])
    assert told == [agents["a"], agents["d"], agents["e"]]


def test_only_an_unpaced_uncontrolled_room_is_told_at_most_every_interval() -> None:
    def tell(agent: Agent) -> None:
        return None

    control = cast(RoomControl, object())
    assert step_hook(tell, 1.0, None) is tell
    assert step_hook(tell, None, control) is tell
    assert step_hook(tell, 5.0, control) is tell
    unpaced: Any = step_hook(tell, None, None)
    assert isinstance(unpaced, AtMostEvery)
    assert (unpaced.tell, unpaced.every_s) == (tell, TELL_EVERY_S)
