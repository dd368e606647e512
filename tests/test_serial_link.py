"""SerialProbeLink on a fake port: frames to samples, sequence, boots, timing, reopening."""

from __future__ import annotations

from typing import Any

import pytest
import serial

from edge_agent.clock import ManualClock
from edge_agent.probe.serial_link import SerialProbeLink
from firmware_py.frame import FLAG_BOOT, FLAG_COUNTER_OVERFLOW, FLAG_HV_OK, encode_frame


class FakePort:
    """In-memory port: bytes queued by the test, or an error on the next read."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.error: Exception | None = None
        self.closed = False

    def read(self, size: int = 1) -> bytes:
        if self.error is not None:
            raise self.error
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True


class FakeFactory:
    """Hands out FakePorts; ``available`` False makes opening fail like a missing device."""

    def __init__(self) -> None:
        self.ports: list[FakePort] = []
        self.available = True
        self.attempts: list[float] = []
        self.clock: ManualClock | None = None

    def __call__(self, port: str, **kwargs: Any) -> FakePort:
        assert kwargs["timeout"] == 0
        if self.clock is not None:
            self.attempts.append(self.clock.monotonic())
        if not self.available:
            raise serial.SerialException(f"could not open port {port}")
        self.ports.append(FakePort())
        return self.ports[-1]

    @property
    def port(self) -> FakePort:
        return self.ports[-1]


def frame(seq: int, ms: int, counts: int = 1, flags: int = FLAG_HV_OK) -> bytes:
    return encode_frame(seq, ms, counts, flags)


@pytest.fixture
def factory(clock: ManualClock) -> FakeFactory:
    fake = FakeFactory()
    fake.clock = clock
    return fake


@pytest.fixture
def link(clock: ManualClock, factory: FakeFactory) -> SerialProbeLink:
    return SerialProbeLink("/dev/ttyACM0", clock, serial_factory=factory)


def test_samples_from_frames(link: SerialProbeLink, factory: FakeFactory, clock: ManualClock):
    factory.port.pending += frame(0, 100, 4, FLAG_HV_OK | FLAG_BOOT)
    clock.advance_to(5.0)
    (first,) = link.poll()
    assert (first.end, first.duration, first.counts, first.hv_ok) == (5.0, 0.1, 4, True)
    factory.port.pending += frame(1, 205, 2, 0)
    clock.advance_to(5.1)
    (second,) = link.poll()
    assert second.duration == pytest.approx(0.105) and second.hv_ok is False
    assert link.poll() == []


def test_frames_of_one_read_are_back_dated(
    link: SerialProbeLink, factory: FakeFactory, clock: ManualClock
) -> None:
    factory.port.pending += frame(0, 100, 1, FLAG_BOOT) + frame(1, 200) + frame(2, 330)
    clock.advance_to(10.0)
    samples = link.poll()
    assert [s.end for s in samples] == pytest.approx([9.77, 9.87, 10.0])
    assert [s.duration for s in samples] == pytest.approx([0.1, 0.1, 0.13])


def test_sequence_gap_sets_lost_before(link: SerialProbeLink, factory: FakeFactory) -> None:
    factory.port.pending += frame(10, 1000) + frame(14, 1400)
    first, second = link.poll()
    assert (first.lost_before, second.lost_before) == (0, 3)
    assert second.duration == pytest.approx(0.1)
    assert link.stats()["frames_lost"] == 3 and link.stats()["seq_gaps"] == 1


def test_seq_wrap_is_not_a_gap(link: SerialProbeLink, factory: FakeFactory) -> None:
    factory.port.pending += frame(65534, 1000) + frame(65535, 1100) + frame(0, 1200)
    assert [s.lost_before for s in link.poll()] == [0, 0, 0]
    assert link.stats()["seq_gaps"] == 0


def test_probe_ms_wrap_gives_the_right_duration(link: SerialProbeLink, factory: FakeFactory):
    factory.port.pending += frame(1, 2**32 - 40) + frame(2, 60)
    assert link.poll()[1].duration == pytest.approx(0.1)


def test_boot_resets_sequence_and_uses_nominal_duration(
    link: SerialProbeLink, factory: FakeFactory
) -> None:
    factory.port.pending += frame(500, 900_000) + frame(0, 1500, 1, FLAG_BOOT) + frame(1, 1600)
    samples = link.poll()
    assert [s.lost_before for s in samples] == [0, 0, 0]
    assert samples[1].duration == 0.1
    assert link.stats()["boots"] == 1


def test_restart_without_boot_frame_is_not_a_huge_gap(
    link: SerialProbeLink, factory: FakeFactory
) -> None:
    factory.port.pending += frame(500, 900_000) + frame(3, 1800)
    assert [s.lost_before for s in link.poll()] == [0, 0]
    assert link.stats()["restarts_unseen"] == 1


def test_implausible_delta_falls_back_to_nominal(link: SerialProbeLink, factory: FakeFactory):
    factory.port.pending += frame(1, 1000) + frame(2, 60_000)
    assert link.poll()[1].duration == 0.1


def test_overflow_is_reported_as_fault(link: SerialProbeLink, factory: FakeFactory) -> None:
    factory.port.pending += frame(1, 100, 0xFFFF, FLAG_COUNTER_OVERFLOW | FLAG_HV_OK)
    (sample,) = link.poll()
    assert sample.fault == "counter_overflow" and sample.counts == 0xFFFF


def test_garbage_is_skipped_and_counted(link: SerialProbeLink, factory: FakeFactory) -> None:
    factory.port.pending += b"\x03\r\nMicroPython v1.24\r\n>>> " + frame(1, 100)
    assert len(link.poll()) == 1
    stats = link.stats()
    assert stats["garbage_bytes"] == 26 and stats["bytes_read"] == 40


def test_read_error_closes_and_reopens_after_interval(
    link: SerialProbeLink, factory: FakeFactory, clock: ManualClock
) -> None:
    factory.port.pending += frame(1, 100) + frame(2, 200)[:6]
    factory.port.error = serial.SerialException("device reports readiness to read but no data")
    factory.available = False
    clock.advance_to(1.0)
    assert link.poll() == []
    assert factory.ports[0].closed and link.fileno() is None
    assert link.next_deadline() == 3.0
    for t in (1.5, 2.9, 3.0, 4.0, 5.0):
        clock.advance_to(t)
        assert link.poll() == []
    assert factory.attempts == [0.0, 3.0, 5.0]
    factory.available = True
    clock.advance_to(7.0)
    assert link.poll() == []
    assert link.stats()["reopens"] == 1 and link.stats()["open_failures"] == 2
    assert link.next_deadline() is None


def test_reopen_drops_partial_frame_and_sequence_continuity(
    link: SerialProbeLink, factory: FakeFactory, clock: ManualClock
) -> None:
    factory.port.pending += frame(1, 100)
    link.poll()
    factory.port.pending += frame(2, 200)[:8]
    link.poll()
    factory.port.error = OSError(5, "Input/output error")
    link.poll()
    clock.advance_to(2.0)
    link.poll()
    factory.port.pending += frame(30, 3000)[8:] + frame(31, 3100)
    (sample,) = link.poll()
    assert sample.lost_before == 0  # ran on or restarted unseen: the agent cannot tell
    assert sample.duration == 0.1
    assert link.stats()["garbage_bytes"] == 6 + 8


def test_port_missing_at_start_is_retried(clock: ManualClock, factory: FakeFactory) -> None:
    factory.available = False
    link = SerialProbeLink("/dev/ttyACM0", clock, serial_factory=factory, reopen_interval_s=1.0)
    assert link.poll() == [] and link.fileno() is None
    factory.available = True
    clock.advance_to(1.0)
    link.poll()
    assert link.stats()["opens"] == 1 and link.stats()["connected"] == 1


def test_wait_readable_false_while_closed(link: SerialProbeLink, factory: FakeFactory) -> None:
    factory.port.error = OSError(5, "gone")
    link.poll()
    assert link.wait_readable(10.0) is False


def test_close(link: SerialProbeLink, factory: FakeFactory) -> None:
    link.close()
    assert factory.port.closed and link.fileno() is None
