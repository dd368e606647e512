"""The timeline: instants in time order, net changes in the spec's order, pulses, rounding."""

from __future__ import annotations

import pytest

from sim.scenario import Scenario, parse_scenario
from sim.timeline import Change, Instant, build_timeline, emission_periods, starting_state

HEAD = """\
name = "t"
duration_s = {duration}
seed = 1

[room]
doors = ["corridor", "control"]
background_usv_h = 0.1
probe = "serial"
probe_position = "inside"
"""


def scenario(body: str, duration: float = 100.0) -> Scenario:
    return parse_scenario(HEAD.format(duration=duration) + body, "t.toml")


def exposure(at: float, duration: float, rate: float = 40.0, extra: str = "") -> str:
    return f"[[exposure]]\nat = {at}\nduration_s = {duration}\ndose_rate_usv_h = {rate}\n{extra}\n"


def event(at: float, signal: str, value: str) -> str:
    return f'[[event]]\nat = {at}\nsignal = "{signal}"\nvalue = {value}\n\n'


def timeline(body: str, duration: float = 100.0) -> dict[float, list[tuple[str, bool | float]]]:
    return {
        i.t: [(c.signal, c.value) for c in i.changes]
        for i in build_timeline(scenario(body, duration))
    }


def test_an_exposure_presses_then_emits_then_ends_everything_together() -> None:
    assert timeline(exposure(10.0, 2.5)) == {
        10.0: [("request", True)],
        10.3: [("light.emission", True), ("emission", True), ("field.exposure", 40.0)],
        12.8: [("emission", False), ("field.exposure", 0.0), ("light.emission", False),
               ("request", False)],
    }


def test_prep_zero_puts_request_and_emission_in_one_instant() -> None:
    result = timeline(exposure(5.0, 1.0, extra="prep_s = 0"))
    assert list(result) == [5.0, 6.0]
    assert result[5.0][0] == ("request", True)
    assert ("emission", True) in result[5.0]


def test_the_starting_state_follows_the_spec_table() -> None:
    assert starting_state(scenario("").room) == {
        "generator_powered": True, "request": False, "emission": False,
        "light.powered": True, "light.emission": False, "probe.connected": True,
        "patient": False, "door.corridor": False, "door.control": False,
        "field.exposure": 0.0, "field.event": 0.0,
    }


def test_an_event_that_changes_nothing_makes_no_instant() -> None:
    body = event(1.0, "generator_powered", "true") + event(2.0, "door.corridor", "false")
    assert build_timeline(scenario(body)) == []


def test_events_at_one_instant_keep_file_order() -> None:
    body = event(7.0, "door.control", "true") + event(7.0, "door.corridor", "true")
    assert timeline(body) == {7.0: [("door.control", True), ("door.corridor", True)]}


def test_the_latest_change_wins_and_only_the_net_change_is_sent() -> None:
    """An exposure releases the request at 12.3 and an event presses it: it stays held."""
    body = exposure(10.0, 2.0) + event(12.3, "request", "true") + event(12.3, "emission", "true")
    result = timeline(body)
    assert result[12.3] == [("field.exposure", 0.0), ("light.emission", False)]


def test_within_an_instant_exposures_come_before_events() -> None:
    """The exposure lights the lamp at 10.3; the event (later in the spec's order) wins."""
    body = event(10.3, "light.emission", "false") + exposure(10.0, 2.0)
    assert ("light.emission", True) not in timeline(body)[10.3]
    assert ("emission", True) in timeline(body)[10.3]


def test_a_winner_takes_the_place_of_its_own_change() -> None:
    body = exposure(10.0, 2.0) + event(12.3, "light.emission", "true")
    body += event(12.3, "door.corridor", "true")
    assert timeline(body)[12.3] == [
        ("emission", False), ("field.exposure", 0.0), ("request", False), ("door.corridor", True),
    ]


def test_dose_rate_events_feed_their_own_field_channel() -> None:
    body = exposure(10.0, 2.0, rate=40.0) + event(11.0, "dose_rate_usv_h", "30")
    body += event(20.0, "dose_rate_usv_h", "0")
    result = timeline(body)
    assert result[11.0] == [("field.event", 30.0)]
    assert isinstance(result[11.0][0][1], float)
    assert ("field.exposure", 0.0) in result[12.3]
    assert result[20.0] == [("field.event", 0.0)]


def test_instants_after_the_end_are_not_played() -> None:
    result = timeline(exposure(90.0, 20.0), duration=100.0)
    assert list(result) == [90.0, 90.3]


def test_times_are_rounded_so_equal_instants_compare_equal() -> None:
    """0.1 + 0.2 is 0.30000000000000004 in binary; the event at 0.3 is the same instant."""
    body = exposure(0.1, 1.0, extra="prep_s = 0.2") + event(0.3, "door.corridor", "true")
    result = timeline(body)
    assert 0.3 in result and ("door.corridor", True) in result[0.3]
    assert ("emission", True) in result[0.3]


PULSED = 'pulse_hz = 7.5\npulse_width_s = 0.04'


def test_pulses_come_from_their_index_and_the_lamp_and_request_are_held() -> None:
    s = scenario(exposure(3930.0, 120.0, extra=PULSED), duration=4200.0)
    periods = emission_periods(s.exposures[0])
    assert len(periods) == 900
    assert periods[0] == (3930.3, 3930.34)
    assert periods[450][0] == 3990.3  # 3930.3 + 450/7.5, with no accumulated error
    assert all(on < off for on, off in periods)
    instants = build_timeline(s)
    lamp = [(i.t, c.value) for i in instants for c in i.changes if c.signal == "light.emission"]
    request = [(i.t, c.value) for i in instants for c in i.changes if c.signal == "request"]
    assert lamp == [(3930.3, True), (4050.3, False)]
    assert request == [(3930.0, True), (4050.3, False)]


def test_the_field_follows_the_pulses() -> None:
    instants = build_timeline(scenario(exposure(10.0, 0.3, rate=500.0, extra=PULSED)))
    field = [(i.t, c.value) for i in instants for c in i.changes if c.signal == "field.exposure"]
    assert field == [(10.3, 500.0), (10.34, 0.0), (10.433333, 500.0), (10.473333, 0.0),
                     (10.566667, 500.0), (10.6, 0.0)]


def test_the_last_pulse_is_cut_at_the_end_of_the_exposure() -> None:
    s = scenario(exposure(10.0, 1.02, extra="pulse_hz = 10.0\npulse_width_s = 0.04"))
    periods = emission_periods(s.exposures[0])
    assert len(periods) == 11
    assert periods[-1] == (11.3, 11.32)


def test_instants_are_strictly_increasing_and_never_empty() -> None:
    body = exposure(10.0, 5.0, extra="pulse_hz = 15.0\npulse_width_s = 0.03")
    body += event(12.0, "door.control", "true") + event(30.0, "door.control", "false")
    instants = build_timeline(scenario(body))
    times = [i.t for i in instants]
    assert times == sorted(set(times))
    assert all(i.changes for i in instants)


def test_instants_and_changes_are_frozen() -> None:
    instant = Instant(1.0, (Change("request", True),))
    with pytest.raises(AttributeError):
        instant.t = 2.0  # type: ignore[misc]
