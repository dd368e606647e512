"""Debounce on the agent clock, and inputs released in physical order."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from edge_agent.clock import ManualClock
from edge_agent.config import InputPin
from edge_agent.debounce import Change, Debouncer
from edge_agent.inputs import Door, InputBank


def test_bouncing_contact_reports_one_change_at_its_first_edge() -> None:
    d = Debouncer("door.corridor", 0.02, False, max_settle_s=0.1)
    for i in range(7):  # 1 ms bounces, ending open
        d.edge(i % 2 == 0, 10.0 + i * 0.001)
    assert d.poll(10.006 + 0.019) is None
    assert d.poll(10.006 + 0.02) == Change("door.corridor", True, 10.0)
    assert d.deadline() is None


def test_glitch_shorter_than_debounce_is_never_reported() -> None:
    d = Debouncer("emission", 0.02, False, max_settle_s=0.1)
    d.edge(True, 5.0)
    d.edge(False, 5.001)
    assert d.poll(5.1) is None
    assert d.value is False


def test_chattering_input_is_settled_by_force() -> None:
    d = Debouncer("door.x", 0.02, False, max_settle_s=0.1)
    for i in range(10):  # toggles every 10 ms, never stable for 20 ms
        d.edge(i % 2 == 0, 1.0 + i * 0.01)
        assert d.deadline() is not None and d.deadline() <= 1.1 + 1e-9  # type: ignore[operator]
    d.edge(True, 1.099)
    assert d.poll(1.1) == Change("door.x", True, 1.0)
    assert not d.settling


def test_zero_debounce_reports_at_once() -> None:
    d = Debouncer("request", 0.0, False, max_settle_s=0.0)
    d.edge(True, 3.0)
    assert d.poll(3.0) == Change("request", True, 3.0)


def bank(clock: ManualClock, factory: MockFactory, **debounce_ms: float) -> InputBank:
    specs = {
        "request": InputPin(pin=27, debounce_ms=debounce_ms.get("request", 20.0)),
        "emission": InputPin(pin=17, debounce_ms=debounce_ms.get("emission", 5.0)),
        "door.corridor": InputPin(pin=16, active="high"),
    }
    return InputBank(specs, clock, pin_factory=factory)


def test_debounce_never_reorders_simultaneous_edges(clock: ManualClock) -> None:
    factory = MockFactory()
    inputs = bank(clock, factory)
    clock.advance_to(1.0)
    factory.pin(27).drive_low()  # active low: request pressed
    factory.pin(17).drive_low()  # emission on
    clock.advance_to(1.005)
    groups, horizon = inputs.collect(1.005)
    assert groups == [] and horizon == 1.0  # emission settled, held back for the request
    clock.advance_to(1.02)
    groups, horizon = inputs.collect(1.02)
    assert groups == [(1.0, {"emission": True, "request": True})]
    assert horizon == 1.02
    factory.reset()


def test_door_device_reads_open_with_contact_open(clock: ManualClock) -> None:
    factory = MockFactory()
    inputs = bank(clock, factory)
    door = inputs.devices["door.corridor"]
    assert isinstance(door, Door)
    assert door.is_open  # the pull-up reads an open contact when nothing is wired
    factory.pin(16).drive_low()
    assert not door.is_open
    factory.reset()


def test_resync_adopts_present_levels_without_changes(clock: ManualClock) -> None:
    factory = MockFactory()
    inputs = bank(clock, factory)
    factory.pin(16).drive_low()
    inputs.resync()
    assert inputs.values()["door.corridor"] is False
    assert inputs.collect(1.0) == ([], 1.0)
    factory.reset()
