"""The agent asserts its outputs at every step (Agent._drive): the relay and the alarm output
follow every raise, clear and reset, and an output moved behind its back is set right again
at the next step, even though no alarm changed (issue 18 item 3 left this as it was: a
memo of what was driven saved the simulator little and lost this)."""

from __future__ import annotations

from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.clock import ManualClock
from tests.test_agent import Room, start


def _latched(tmp_path: Path, clock: ManualClock) -> tuple[Room, Agent]:
    """A room whose agent has just latched its relay open on an unsolicited emission."""
    room = start(tmp_path, clock, relay=True)
    agent = room.agent
    assert agent is not None and agent.interlock is not None and agent.alarm_output is not None
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)  # unsolicited: critical, the relay latches
    room.run_to(2.0)
    assert not agent.interlock.energised and agent.alarm_output.is_on
    return room, agent


def test_pins_follow_alarms_across_a_reset_and_a_second_latch(
    tmp_path: Path, clock: ManualClock
) -> None:
    room, agent = _latched(tmp_path, clock)
    assert agent.interlock is not None and agent.alarm_output is not None
    room.set(emission=False, light_emission=False)
    room.run_to(4.0)
    assert not agent.alarm_output.is_on and not agent.interlock.energised  # latched
    assert agent.reset_interlock("pcr") is True
    room.run_to(5.0)  # steps with the same (empty) book keep the relay closed
    assert agent.interlock.energised and not agent.alarm_output.is_on
    room.set(emission=True, light_emission=True)
    room.run_to(6.0)
    assert not agent.interlock.energised and agent.alarm_output.is_on  # latched again
    assert agent.active_alarm_kinds == ("unsolicited_emission",)
    agent.close()


def test_an_output_moved_behind_the_agents_back_is_set_right_at_the_next_step(
    tmp_path: Path, clock: ManualClock
) -> None:
    room, agent = _latched(tmp_path, clock)
    assert agent.interlock is not None and agent.alarm_output is not None
    agent.alarm_output.show(False)  # a glitch: the lamp off while the alarm holds
    agent.interlock.device.value = True  # and the relay closed
    room.run_to(2.5)  # no alarm changes meanwhile
    assert agent.alarm_output.is_on and not agent.interlock.energised
    agent.close()
