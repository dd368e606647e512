"""GpioPulseProbe on gpiozero's MockFactory: batches, window alignment, late polls."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import ManualClock
from edge_agent.probe.gpio_counter import GpioPulseProbe

PIN = 17


@pytest.fixture
def probe(mock_factory: MockFactory, clock: ManualClock) -> Iterator[GpioPulseProbe]:
    clock.advance_to(10.03)
    gpio_probe = GpioPulseProbe(PIN, clock, pin_factory=mock_factory)
    yield gpio_probe
    gpio_probe.close()


def test_first_poll_aligns_the_windows(probe: GpioPulseProbe, clock: ManualClock) -> None:
    assert probe.next_deadline() == 10.03
    assert probe.poll() == []
    assert probe.next_deadline() == pytest.approx(10.13)
    clock.advance_to(10.12)
    assert probe.poll() == []
    clock.advance_to(10.13)
    (sample,) = probe.poll()
    assert (sample.end, sample.duration, sample.counts, sample.hv_ok) == pytest.approx(
        (10.13, 0.1, 0, True)
    )
    assert sample.lost_before == 0 and sample.fault is None


def test_batches_land_in_the_window_that_ends_at_their_tick(
    probe: GpioPulseProbe, clock: ManualClock
) -> None:
    probe.poll()
    counts = []
    for k, batch in enumerate([5, 0, 600, 7], start=1):
        clock.advance_to(10.03 + 0.1 * k)  # the simulator: set time, deliver, then poll
        probe.add_pulses(batch)
        counts += [s.counts for s in probe.poll()]
    assert counts == [5, 0, 600, 7]


def test_finer_ticks_add_up_per_window(probe: GpioPulseProbe, clock: ManualClock) -> None:
    probe.poll()
    samples = []
    for k in range(1, 21):  # 10 ms simulator ticks, 2 pulses each
        clock.advance_to(10.03 + 0.01 * k)
        probe.add_pulses(2)
        samples += probe.poll()
    assert [s.counts for s in samples] == [20, 20]


def test_late_poll_gives_every_window_its_own_counts(
    probe: GpioPulseProbe, clock: ManualClock
) -> None:
    probe.poll()
    for t, n in ((10.05, 1), (10.2, 4), (10.35, 9)):
        clock.advance_to(t)
        probe.add_pulses(n)
    clock.advance_to(10.39)
    samples = probe.poll()
    assert [s.counts for s in samples] == [1, 4, 0]
    assert [s.end for s in samples] == pytest.approx([10.13, 10.23, 10.33])
    assert probe.stats()["late_polls"] == 1
    clock.advance_to(10.43)
    assert [s.counts for s in probe.poll()] == [9]


def test_real_mock_edges_count_once_per_pulse(
    probe: GpioPulseProbe, mock_factory: MockFactory, clock: ManualClock
) -> None:
    probe.poll()
    pin = mock_factory.pin(PIN)
    for _ in range(3):
        pin.drive_low()  # pulse: the open collector pulls the line down
        pin.drive_high()
    clock.advance_to(10.13)
    assert [s.counts for s in probe.poll()] == [3]


def test_pulses_before_the_first_poll_are_not_counted(probe: GpioPulseProbe) -> None:
    probe.add_pulses(4)
    probe.poll()
    assert probe.stats()["pulses_before_start"] == 4


def test_pulses_from_another_thread_are_all_counted(
    probe: GpioPulseProbe, clock: ManualClock
) -> None:
    probe.poll()

    def backend() -> None:  # gpiozero's callback thread on a real Pi
        for _ in range(2000):
            probe.add_pulses(1)

    threads = [threading.Thread(target=backend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    clock.advance_to(10.13)
    assert [s.counts for s in probe.poll()] == [4000]
