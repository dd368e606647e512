"""The probe side of the monitor: probe faults, saturation, and windows around emission edges."""

from __future__ import annotations

import numpy as np

from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from edge_agent.monitor.monitor import DoseSetup, Monitor
from edge_agent.monitor.records import Output, ReadingReady
from edge_agent.probe.sample import ProbeSample
from tests.conftest import alarms

CAL = default_calibration(BUILTIN_TUBES["sbm20"])
FRAME = 0.1


def monitor(clock: ManualClock, position: str = "inside", **rules: float) -> Monitor:
    dose = DoseSetup(CAL, 0.1, position, FRAME)
    return Monitor(Rules(**rules), ("corridor",), clock, dose=dose)


def feed(
    m: Monitor,
    clock: ManualClock,
    until: float,
    counts_at: object,
    inputs: dict[float, dict[str, bool]] | None = None,
    hv_ok: object = lambda t: True,
    connected: object = lambda t: True,
) -> list[Output]:
    """Frames every 100 ms (counts from ``counts_at(t)``), inputs at their instants."""
    out: list[Output] = []
    inputs = dict(inputs or {})
    k = 1
    while True:
        frame_t = round(k * FRAME, 6)
        t_in = min(inputs, default=float("inf"))
        deadline = m.next_deadline() or float("inf")
        t = min(frame_t, t_in, deadline)
        if t > until:
            return out
        clock.advance_to(max(t, clock.monotonic()))
        if t == t_in:
            out += m.on_inputs(t, inputs.pop(t))
        if t == frame_t:
            k += 1
            if connected(t):  # type: ignore[operator]
                sample = ProbeSample(t, FRAME, counts_at(t), hv_ok=hv_ok(t))  # type: ignore[operator]
                out += m.on_sample(sample)
        if t not in (t_in, frame_t):
            out += m.tick(t)


def poisson(usv_h_at: object, seed: int = 3) -> object:
    rng = np.random.default_rng(seed)

    def counts(t: float) -> int:
        rate = CAL.measured_cps(CAL.true_cps_for(0.1 + usv_h_at(t)))  # type: ignore[operator]
        return int(rng.poisson(rate * FRAME))

    return counts


def test_background_raises_nothing_and_readings_are_made(clock: ManualClock) -> None:
    m = monitor(clock)
    out = feed(m, clock, 600.0, poisson(lambda t: 0.0))
    assert alarms(out) == []
    readings = [o.reading for o in out if isinstance(o, ReadingReady)]
    assert len(readings) == 60
    total = sum(r.counts for r in readings)
    assert 0.5 * 150 < total < 2 * 150  # 0.25 counts/s for 600 s
    assert readings[0].calibration == "sbm20/Cs-137"
    assert all(r.frames == 100 and r.frames_lost == 0 for r in readings)


def test_no_data_raises_probe_fault_after_the_timeout(clock: ManualClock) -> None:
    m = monitor(clock)
    out = feed(m, clock, 30.0, poisson(lambda t: 0.0), connected=lambda t: not 10.0 <= t < 20.0)
    result = alarms(out)
    assert [a["kind"] for a in result] == ["probe_fault"]
    assert 15.0 <= result[0]["at"] <= 15.1 + 1e-6
    assert result[0]["cleared"] == 20.0


def test_high_voltage_fault_raises_probe_fault_at_once(clock: ManualClock) -> None:
    m = monitor(clock)
    out = feed(m, clock, 20.0, poisson(lambda t: 0.0), hv_ok=lambda t: not 5.0 <= t < 8.0)
    result = alarms(out)
    assert [(a["kind"], a["at"], a["cleared"]) for a in result] == [("probe_fault", 5.0, 8.0)]


def test_silent_tube_raises_probe_fault(clock: ManualClock) -> None:
    m = monitor(clock, probe_silence_s=60.0)
    out = feed(m, clock, 100.0, lambda t: 0)
    result = alarms(out)
    assert [a["kind"] for a in result] == ["probe_fault"]
    assert 60.0 < result[0]["at"] <= 60.1


def test_saturation_without_emission_is_a_probe_fault(clock: ManualClock) -> None:
    m = monitor(clock)
    out = feed(m, clock, 20.0, lambda t: 400 if t > 2.0 else 0)  # 4000 counts/s measured
    kinds = sorted(a["kind"] for a in alarms(out))
    assert "probe_fault" in kinds
    fault = next(a for a in alarms(out) if a["kind"] == "probe_fault")
    assert 7.0 < fault["at"] <= 7.2


def test_saturation_during_emission_is_only_flagged(clock: ManualClock) -> None:
    m = monitor(clock)
    inputs = {1.0: {"request": True}, 1.3: {"emission": True, "light.emission": True},
              11.3: {"emission": False, "light.emission": False, "request": False}}
    out = feed(m, clock, 15.0, lambda t: 400 if 1.3 < t <= 11.3 else 0, inputs=inputs)
    assert [a["kind"] for a in alarms(out)] == ["dose_rate_high"]  # far above 2,000 µSv/h
    assert any(isinstance(o, ReadingReady) and o.reading.saturated for o in out)


def test_windows_straddling_emission_edges_raise_nothing(clock: ManualClock) -> None:
    """1,200 µSv/h inside during 200 exposures ending mid-frame: no radiation_without_emission."""
    m = monitor(clock)
    inputs: dict[float, dict[str, bool]] = {}
    periods = []
    for i in range(200):
        start = round(5.0 + i * 4.0 + 0.037 * (i % 3), 6)
        end = round(start + 1.0 + 0.013 * (i % 7), 6)
        periods.append((start, end))
        inputs[round(start - 0.3, 6)] = {"request": True}
        inputs[start] = {"emission": True, "light.emission": True}
        inputs[end] = {"emission": False, "light.emission": False, "request": False}

    def field(t: float) -> float:
        # the field of the frame ending at t: the emitting fraction of it at 1,200 µSv/h
        on = sum(max(0.0, min(t, e) - max(t - FRAME, s)) for s, e in periods)
        return 1200.0 * on / FRAME

    out = feed(m, clock, 820.0, poisson(field), inputs=inputs)
    assert alarms(out) == []


def test_radiation_without_emission_raised_and_cleared(clock: ManualClock) -> None:
    m = monitor(clock)
    out = feed(m, clock, 200.0, poisson(lambda t: 20.0 if 50.0 < t <= 60.0 else 0.0))
    result = alarms(out)
    assert [a["kind"] for a in result] == ["radiation_without_emission"]
    assert 50.0 < result[0]["at"] <= 50.6
    assert 60.0 < result[0]["cleared"] < 200.0


def test_dose_rate_high_outside(clock: ManualClock) -> None:
    m = monitor(clock, position="outside")
    out = feed(m, clock, 120.0, poisson(lambda t: 10.0 if 20.0 < t <= 60.0 else 0.0),
               inputs={19.0: {"request": True},
                       20.0: {"emission": True, "light.emission": True},
                       60.0: {"emission": False, "light.emission": False, "request": False}})
    result = alarms(out)
    assert [a["kind"] for a in result] == ["dose_rate_high"]
    assert 20.0 < result[0]["at"] < 30.0
    assert result[0]["cleared"] is not None and result[0]["cleared"] > 60.0
