"""Each signal rule of the monitor on its own, and its edges (no probe here)."""

from __future__ import annotations

import pytest

from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.monitor.monitor import Monitor
from edge_agent.monitor.records import ExposureClosed, ExposureOpened
from tests.conftest import alarms, play

EPS = 1e-3


def monitor(clock: ManualClock, doors: tuple[str, ...] = ("corridor",), **rules: float) -> Monitor:
    return Monitor(Rules(**rules), doors, clock)


def exposure(start: float, end: float, prep: float = 0.3) -> list[tuple[float, dict[str, bool]]]:
    """A well-behaved exposure: request, then emission and lamp, all ending together."""
    return [
        (start - prep, {"request": True}),
        (start, {"emission": True, "light.emission": True}),
        (end, {"emission": False, "light.emission": False, "request": False}),
    ]


def kinds(result: list[dict[str, object]]) -> list[object]:
    return [a["kind"] for a in result]


def test_normal_exposure_raises_nothing_and_is_recorded(clock: ManualClock) -> None:
    out = play(monitor(clock), clock, exposure(10.0, 12.5), until=20.0)
    assert alarms(out) == []
    closed = [o.exposure for o in out if isinstance(o, ExposureClosed)]
    assert len(closed) == 1
    e = closed[0]
    assert (e.start, e.end, e.requested, e.doors_open, e.emission_light_ok) == (
        10.0, 12.5, True, set(), True,
    )


def test_request_released_exactly_as_emission_ends_is_no_alarm(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.0, {"emission": True, "light.emission": True}),
              (5.0, {"request": False}), (5.0, {"emission": False, "light.emission": False})]
    assert alarms(play(monitor(clock), clock, events, until=10.0)) == []


def test_request_and_emission_at_the_same_instant_are_not_unsolicited(clock: ManualClock) -> None:
    events = [(1.0, {"emission": True, "light.emission": True, "request": True}),
              (3.0, {"emission": False, "light.emission": False, "request": False})]
    assert alarms(play(monitor(clock), clock, events, until=5.0)) == []


def test_unsolicited_emission_raised_at_once_cleared_at_end(clock: ManualClock) -> None:
    events = [(120.0, {"emission": True, "light.emission": True}),
              (125.0, {"emission": False, "light.emission": False})]
    result = alarms(play(monitor(clock), clock, events, until=130.0))
    assert result == [{"kind": "unsolicited_emission", "subject": None, "at": 120.0,
                       "cleared": 125.0}]


def test_emission_after_release_after_grace(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.3, {"emission": True, "light.emission": True}),
              (4.0, {"request": False}), (4.8, {"emission": False, "light.emission": False})]
    result = alarms(play(monitor(clock), clock, events, until=10.0))
    assert kinds(result) == ["emission_after_release"]
    assert 4.5 < result[0]["at"] <= 4.6  # type: ignore[operator]
    assert result[0]["cleared"] == 4.8


def test_emission_lasting_exactly_the_release_grace_is_no_alarm(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.3, {"emission": True, "light.emission": True}),
              (4.0, {"request": False}), (4.5, {"emission": False, "light.emission": False})]
    assert alarms(play(monitor(clock), clock, events, until=10.0)) == []


def test_door_open_when_emission_starts(clock: ManualClock) -> None:
    events = [(0.5, {"door.corridor": True}), *exposure(2.0, 4.0),
              (6.0, {"door.corridor": False})]
    result = alarms(play(monitor(clock), clock, events, until=10.0))
    assert result == [{"kind": "door_open_during_emission", "subject": "corridor", "at": 2.0,
                       "cleared": 4.0}]


def test_door_opening_during_emission_clears_when_closed(clock: ManualClock) -> None:
    events = [*exposure(2.0, 10.0), (4.0, {"door.corridor": True}),
              (5.0, {"door.corridor": False})]
    result = alarms(play(monitor(clock), clock, events, until=12.0))
    assert result == [{"kind": "door_open_during_emission", "subject": "corridor", "at": 4.0,
                       "cleared": 5.0}]


def test_several_doors_each_its_own_alarm_cleared_when_all_closed(clock: ManualClock) -> None:
    m = monitor(clock, doors=("corridor", "control"))
    events = [*exposure(2.0, 10.0), (3.0, {"door.corridor": True}),
              (4.0, {"door.control": True}), (5.0, {"door.corridor": False}),
              (6.0, {"door.control": False})]
    result = alarms(play(m, clock, events, until=12.0))
    assert [(a["subject"], a["at"], a["cleared"]) for a in result] == [
        ("corridor", 3.0, 6.0), ("control", 4.0, 6.0)]


def test_door_opened_between_exposures_is_no_alarm(clock: ManualClock) -> None:
    events = [*exposure(2.0, 4.0), (4.1, {"door.corridor": True}),
              (8.0, {"door.corridor": False}), *exposure(10.0, 11.0)]
    assert alarms(play(monitor(clock), clock, events, until=15.0)) == []


def test_bouncing_door_contact_between_exposures_is_no_alarm(clock: ManualClock) -> None:
    bounces = [(4.2 + i * 0.002, {"door.corridor": i % 2 == 0}) for i in range(10)]
    events = [*exposure(2.0, 4.0), *bounces, *exposure(10.0, 11.0)]
    assert alarms(play(monitor(clock), clock, events, until=15.0)) == []


def test_emission_light_fault_after_light_grace(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.3, {"emission": True}),
              (3.0, {"emission": False, "request": False})]
    out = play(monitor(clock), clock, events, until=5.0)
    result = alarms(out)
    assert kinds(result) == ["emission_light_fault"]
    assert 1.5 < result[0]["at"] <= 1.6  # type: ignore[operator]
    assert result[0]["cleared"] == 3.0
    closed = [o.exposure for o in out if isinstance(o, ExposureClosed)]
    assert closed[0].emission_light_ok is False


def test_emission_lamp_slow_within_grace_is_no_alarm(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.3, {"emission": True}),
              (1.45, {"light.emission": True}),
              (3.0, {"emission": False, "request": False, "light.emission": False})]
    assert alarms(play(monitor(clock), clock, events, until=5.0)) == []


def test_emission_light_stuck(clock: ManualClock) -> None:
    events = [(5.0, {"light.emission": True}), (9.0, {"light.emission": False})]
    result = alarms(play(monitor(clock), clock, events, until=12.0))
    assert kinds(result) == ["emission_light_stuck"]
    assert 5.2 < result[0]["at"] <= 5.3  # type: ignore[operator]
    assert result[0]["cleared"] == 9.0


def test_emission_lamp_staying_lit_after_an_exposure_is_stuck(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (1.3, {"emission": True, "light.emission": True}),
              (3.0, {"emission": False, "request": False})]
    result = alarms(play(monitor(clock), clock, events, until=5.0))
    assert kinds(result) == ["emission_light_stuck"]
    assert 3.2 < result[0]["at"] <= 3.3 + 1e-9  # type: ignore[operator]


def test_powered_light_fault_both_ways(clock: ManualClock) -> None:
    events = [(2.0, {"light.powered": False}), (3.0, {"light.powered": True}),
              (6.0, {"generator_powered": False}), (6.1, {"light.powered": False})]
    result = alarms(play(monitor(clock), clock, events, until=10.0))
    assert [(a["kind"], a["cleared"]) for a in result] == [("powered_light_fault", 3.0)]
    assert 2.2 < result[0]["at"] <= 2.3  # type: ignore[operator]


def test_emission_while_generator_reads_unpowered(clock: ManualClock) -> None:
    events = [(1.0, {"generator_powered": False, "light.powered": False}),
              *exposure(3.0, 5.0)]
    result = alarms(play(monitor(clock), clock, events, until=8.0))
    assert kinds(result) == ["emission_while_unpowered"]
    assert 3.2 < result[0]["at"] <= 3.3  # type: ignore[operator]
    assert result[0]["cleared"] == 5.0


def test_long_exposure(clock: ManualClock) -> None:
    result = alarms(play(monitor(clock), clock, exposure(10.0, 620.0), until=630.0))
    assert [a["kind"] for a in result] == ["request_stuck", "long_exposure"]
    long = result[1]
    assert 610.0 < long["at"] <= 610.1  # type: ignore[operator]
    assert long["cleared"] == 620.0


def test_request_stuck_cleared_on_release(clock: ManualClock) -> None:
    events = [(1.0, {"request": True}), (700.0, {"request": False})]
    result = alarms(play(monitor(clock), clock, events, until=710.0))
    assert kinds(result) == ["request_stuck"]
    assert 601.0 < result[0]["at"] <= 601.1  # type: ignore[operator]
    assert result[0]["cleared"] == 700.0


def test_fluoroscopy_time_exceeded_over_several_runs(clock: ManualClock) -> None:
    events: list[tuple[float, dict[str, bool]]] = []
    start = 100.0
    for _ in range(7):  # 7 runs of 540 s, 60 s apart: 3600 s reached 360 s into run 7
        events += exposure(start, start + 540.0)
        start += 600.0
    result = alarms(play(monitor(clock), clock, events, until=start + 2000.0))
    assert kinds(result) == ["fluoroscopy_time_exceeded"]
    crossing = 100.0 + 6 * 600.0 + 360.0
    assert crossing < result[0]["at"] <= crossing + 0.1  # type: ignore[operator]
    last_end = 100.0 + 6 * 600.0 + 540.0
    assert result[0]["cleared"] == pytest.approx(last_end + 1800.0)


def test_procedure_ends_after_gap_and_count_restarts(clock: ManualClock) -> None:
    events = exposure(10.0, 500.0) + exposure(2400.0, 2900.0) + exposure(4800.0, 5300.0)
    assert alarms(play(monitor(clock, procedure_emission_limit_s=1200.0), clock, events,
                       until=6000.0)) == []


def test_pulsed_fluoroscopy_is_one_exposure(clock: ManualClock) -> None:
    events: list[tuple[float, dict[str, bool]]] = [
        (1.0, {"request": True})]
    for k in range(40):  # 4 pulses/s, 10 ms each: gaps of 0.24 s, above light_grace
        t = round(1.3 + k * 0.25, 6)
        events += [(t, {"emission": True, "light.emission": True}),
                   (round(t + 0.01, 6), {"emission": False})]
    events.append((11.3, {"request": False, "light.emission": False}))
    out = play(monitor(clock), clock, events, until=15.0)
    assert alarms(out) == []
    opened = [o for o in out if isinstance(o, ExposureOpened)]
    closed = [o.exposure for o in out if isinstance(o, ExposureClosed)]
    assert len(opened) == 1 and len(closed) == 1
    assert closed[0].pulses == 40
    assert closed[0].end == pytest.approx(1.3 + 39 * 0.25 + 0.01)


def test_overlapping_alarms_in_one_exposure(clock: ManualClock) -> None:
    events = [(0.5, {"door.corridor": True}), (2.0, {"emission": True}),
              (6.0, {"emission": False}), (7.0, {"door.corridor": False})]
    result = alarms(play(monitor(clock), clock, events, until=10.0))
    assert sorted(kinds(result)) == [  # type: ignore[type-var]
        "door_open_during_emission", "emission_light_fault", "unsolicited_emission"]
    assert all(a["cleared"] == 6.0 for a in result)


def test_one_alarm_per_condition_then_a_new_one(clock: ManualClock) -> None:
    events = [(1.0, {"emission": True, "light.emission": True}),
              (2.0, {"emission": False, "light.emission": False}),
              (5.0, {"emission": True, "light.emission": True}),
              (6.0, {"emission": False, "light.emission": False})]
    result = alarms(play(monitor(clock), clock, events, until=10.0))
    assert [(a["at"], a["cleared"]) for a in result] == [(1.0, 2.0), (5.0, 6.0)]


def test_start_with_emission_on_is_a_resumed_exposure(clock: ManualClock) -> None:
    m = Monitor(Rules(), ("corridor",), clock,
                initial={"emission": True, "light.emission": True, "request": True})
    out = play(m, clock, [(3.0, {"emission": False, "light.emission": False,
                                 "request": False})], until=5.0)
    assert alarms(out) == []
    opened = [o.exposure for o in out if isinstance(o, ExposureOpened)]
    assert opened[0].resumed and opened[0].requested


def test_start_with_emission_on_and_no_request_is_unsolicited(clock: ManualClock) -> None:
    m = Monitor(Rules(), ("corridor",), clock, initial={"emission": True, "light.emission": True})
    out = play(m, clock, [(3.0, {"emission": False, "light.emission": False})], until=5.0)
    assert kinds(alarms(out)) == ["unsolicited_emission"]


def test_start_with_emission_on_and_a_door_open_raises_the_door_at_start(
    clock: ManualClock,
) -> None:
    """The door rule is judged with the others from the start, not at the first input."""
    m = Monitor(Rules(), ("corridor",), clock, initial={
        "emission": True, "light.emission": True, "request": True, "door.corridor": True})
    out = play(m, clock, [(3.0, {"emission": False, "light.emission": False,
                                 "request": False})], until=5.0)
    assert alarms(out) == [{"kind": "door_open_during_emission", "subject": "corridor",
                            "at": 0.0, "cleared": 3.0}]
    closed = [o.exposure for o in out if isinstance(o, ExposureClosed)]
    assert closed[0].doors_open == {"corridor"}


def test_monitor_refuses_time_going_back(clock: ManualClock) -> None:
    m = monitor(clock)
    clock.advance_to(5.0)
    m.tick(5.0)
    with pytest.raises(ValueError, match="out of order"):
        m.on_inputs(4.0, {"request": True})
