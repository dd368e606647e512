"""Exposures and procedures as the generator counts them: pulse trains, fluoroscopy time,
and the procedure's end by the gap rule or by the patient input (no probe here)."""

from __future__ import annotations

import pytest

from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.monitor.monitor import Monitor
from edge_agent.monitor.records import ExposureClosed, ExposureRecord, Output
from tests.conftest import alarms, play

Events = list[tuple[float, dict[str, bool]]]


def monitor(clock: ManualClock, patient: bool = False, **rules: float) -> Monitor:
    return Monitor(Rules(**rules), ("corridor",), clock, patient_input=patient)


def press(at: float, length: float, hz: float, width: float = 0.02) -> Events:
    """One press of pulsed fluoroscopy: request and lamp held, emission in pulses from at + 0.3."""
    events: Events = [(at, {"request": True})]
    start, end = at + 0.3, at + 0.3 + length
    k = 0
    while (on := round(start + k / hz, 6)) < end:
        changes = {"emission": True} | ({"light.emission": True} if k == 0 else {})
        events += [(on, changes), (round(min(on + width, end), 6), {"emission": False})]
        k += 1
    events.append((round(end, 6), {"request": False, "light.emission": False}))
    return events


def train(start: float, count: int, period: float, width: float = 0.02) -> Events:
    """Pulses with no request, the emission lamp held through the train."""
    events: Events = []
    for k in range(count):
        on = round(start + k * period, 6)
        events += [(on, {"emission": True, "light.emission": True}),
                   (round(on + width, 6), {"emission": False})]
    events.append((events[-1][0], {"emission": False, "light.emission": False}))
    return events


def closed(out: list[Output]) -> list[ExposureRecord]:
    return [o.exposure for o in out if isinstance(o, ExposureClosed)]


def test_half_a_pulse_per_second_under_one_request_is_one_exposure(clock: ManualClock) -> None:
    out = play(monitor(clock), clock, press(10.0, 60.0, hz=0.5), until=100.0)
    assert alarms(out) == []  # the lamp held through 2 s gaps is not emission_light_stuck
    [exposure] = closed(out)
    assert (exposure.start, exposure.end, exposure.pulses) == (10.3, pytest.approx(68.32), 30)


def test_a_new_press_between_pulses_is_a_new_exposure(clock: ManualClock) -> None:
    events = press(10.0, 9.0, hz=1.0) + press(20.0, 9.0, hz=1.0)
    out = play(monitor(clock), clock, events, until=40.0)
    assert [(e.start, e.pulses) for e in closed(out)] == [(10.3, 9), (20.3, 9)]
    assert {e.procedure for e in closed(out)} == {1}


def test_fluoroscopy_time_counts_spans_and_is_seen_at_the_next_pulse(clock: ManualClock) -> None:
    # Two presses at 0.5 pulse/s: spans 58.02 s (first rise to last fall), then the limit
    # of 100 s is reached 41.98 s into the second, in a gap: seen at the next pulse.
    events = press(10.0, 59.0, hz=0.5) + press(100.0, 59.0, hz=0.5)
    result = alarms(play(monitor(clock, procedure_emission_limit_s=100.0), clock, events,
                         until=200.0))
    assert [a["kind"] for a in result] == ["fluoroscopy_time_exceeded"]
    crossing = 100.3 + (100.0 - 58.02)
    assert crossing < result[0]["at"] <= crossing + 2.0
    assert result[0]["at"] == pytest.approx(100.3 + 42.0)  # the pulse after the crossing


def test_a_pulse_train_on_its_own_is_one_unsolicited_emission(clock: ManualClock) -> None:
    events = train(10.0, count=5, period=1.99) + train(30.0, count=3, period=0.5)
    out = play(monitor(clock), clock, events, until=60.0)
    result = alarms(out)
    assert [(a["kind"], a["at"], a["cleared"]) for a in result] == [
        ("unsolicited_emission", 10.0, pytest.approx(17.98)),
        ("unsolicited_emission", 30.0, pytest.approx(31.02)),
    ]
    assert [(e.requested, e.pulses) for e in closed(out)] == [(False, 5), (False, 3)]


def unsolicited(result: list[dict[str, object]]) -> list[object]:
    return [a["at"] for a in result if a["kind"] == "unsolicited_emission"]


def test_pulses_on_their_own_two_seconds_apart_are_separate(clock: ManualClock) -> None:
    result = alarms(play(monitor(clock), clock, train(10.0, count=3, period=2.02), until=30.0))
    assert unsolicited(result) == [10.0, 12.02, 14.04]
    # The lamp held through gaps that are no longer one exposure is stuck in each of them.
    assert [a["kind"] for a in result].count("emission_light_stuck") == 2


def test_the_unrequested_merge_gap_is_a_rule(clock: ManualClock) -> None:
    m = monitor(clock, unrequested_merge_gap_s=1.0)
    result = alarms(play(m, clock, train(10.0, count=3, period=1.5), until=30.0))
    assert unsolicited(result) == [10.0, 11.5, 13.0]


def test_a_door_closed_between_pulses_of_a_train_clears_at_its_end(clock: ManualClock) -> None:
    events = [(5.0, {"door.corridor": True}), *train(10.0, count=3, period=1.5),
              (14.0, {"door.corridor": False})]
    result = alarms(play(monitor(clock), clock, events, until=30.0))
    door = [a for a in result if a["kind"] == "door_open_during_emission"]
    assert [(a["at"], a["cleared"]) for a in door] == [(10.0, pytest.approx(13.02))]


def test_lamp_lit_after_the_release_is_stuck_from_the_release(clock: ManualClock) -> None:
    events = [*press(10.0, 10.0, hz=1.0)[:-1], (20.3, {"request": False})]
    result = alarms(play(monitor(clock), clock, events, until=30.0))
    assert [a["kind"] for a in result] == ["emission_light_stuck"]
    assert 20.5 < result[0]["at"] <= 20.6


# -- procedure boundaries --------------------------------------------------------------------

#: Patient A (100 s), patient B 20 minutes later (80 s), a 35-minute pause, B again (90 s);
#: at 3 pulses/s a press of L s spans L - 1/3 + 0.02 s.
PLAN = press(10.0, 100.0, hz=3.0) + press(1330.0, 80.0, hz=3.0) + press(3490.0, 90.0, hz=3.0)
LIMIT = {"procedure_emission_limit_s": 150.0}
SPAN_A, SPAN_B1 = 100.0 - 1 / 3 + 0.02, 80.0 - 1 / 3 + 0.02


def test_gap_rule_counts_two_patients_as_one_and_splits_one(clock: ManualClock) -> None:
    out = play(monitor(clock, **LIMIT), clock, PLAN, until=6000.0)
    assert [e.procedure for e in closed(out)] == [1, 1, 2]
    [alarm] = alarms(out)  # A + B passes 150 s: raised for no single patient
    crossing = 1330.3 + 150.0 - SPAN_A
    assert crossing < alarm["at"] <= crossing + 1 / 3
    assert alarm["cleared"] == pytest.approx(closed(out)[1].end + 1800.0)  # B split by the pause


def test_patient_input_ends_procedures_at_its_rising_edge(clock: ManualClock) -> None:
    presses = [(1000.0, {"patient": True}), (1000.5, {"patient": False}),
               (5000.0, {"patient": True}), (5000.5, {"patient": False})]
    out = play(monitor(clock, patient=True, **LIMIT), clock, PLAN + presses, until=6000.0)
    assert [e.procedure for e in closed(out)] == [1, 2, 2]
    [alarm] = alarms(out)  # B passes 150 s after the 35-minute pause; A alone did not
    crossing = 3490.3 + 150.0 - SPAN_B1
    assert crossing < alarm["at"] <= crossing + 1 / 3
    assert alarm["cleared"] == 5000.0


def test_with_the_patient_input_no_gap_ends_a_procedure(clock: ManualClock) -> None:
    events = press(10.0, 100.0, hz=7.5) + press(90_000.0, 100.0, hz=7.5)
    out = play(monitor(clock, patient=True, **LIMIT), clock, events, until=91_000.0)
    assert [e.procedure for e in closed(out)] == [1, 1]
    assert [a["cleared"] for a in alarms(out)] == [None]


def test_patient_pressed_during_an_exposure_ends_it_with_that_exposure(clock: ManualClock) -> None:
    events = [*press(10.0, 100.0, hz=2.0), (50.0, {"patient": True}), (50.5, {"patient": False})]
    events += press(200.0, 100.0, hz=2.0)
    out = play(monitor(clock, patient=True, procedure_emission_limit_s=60.0), clock, events,
               until=400.0)
    exposures = closed(out)
    assert [e.procedure for e in exposures] == [1, 2]
    first, second = alarms(out)
    assert first["cleared"] == exposures[0].end  # the procedure ended with its exposure
    assert 260.3 < second["at"] <= 260.9  # the next patient counts from zero


def test_a_patient_press_with_a_pulse_at_the_same_instant_starts_the_next(
    clock: ManualClock,
) -> None:
    events = [*press(10.0, 20.0, hz=1.0), (40.3, {"patient": True}), *press(40.0, 20.0, hz=1.0)]
    out = play(monitor(clock, patient=True), clock, events, until=80.0)
    assert [e.procedure for e in closed(out)] == [1, 2]


def test_a_patient_signal_without_the_input_wired_is_refused(clock: ManualClock) -> None:
    with pytest.raises(KeyError, match="patient"):
        monitor(clock).on_inputs(1.0, {"patient": True})
