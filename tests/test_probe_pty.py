"""End to end through a real pseudo-terminal: the firmware on shim pins -> pty -> pyserial link."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from edge_agent.clock import ManualClock
from edge_agent.probe.sample import ProbeSample
from edge_agent.probe.serial_link import SerialProbeLink
from sim.probe_pty import PtyProbe, deliver_and_poll, drain


@pytest.fixture
def probe() -> Iterator[PtyProbe]:
    pty_probe = PtyProbe()
    yield pty_probe
    pty_probe.close()


@pytest.fixture
def link(probe: PtyProbe, clock: ManualClock) -> Iterator[SerialProbeLink]:
    serial_link = SerialProbeLink(probe.port_path, clock)
    yield serial_link
    serial_link.close()


def run(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock, counts: list[int], t0_ms: int
) -> list[ProbeSample]:
    """One frame per 100 ms from ``t0_ms`` on, agent and probe in lockstep."""
    samples: list[ProbeSample] = []
    for i, n in enumerate(counts):
        now_ms = t0_ms + 100 * i
        clock.advance_to(now_ms / 1000)
        samples += deliver_and_poll(probe, link, n, now_ms)
    return samples


def test_port_is_a_raw_tty_behind_a_stable_name(probe: PtyProbe) -> None:
    assert os.path.islink(probe.port_path)
    assert os.readlink(probe.port_path) == probe.tty_name


def test_lockstep_frames_become_samples(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock
) -> None:
    counts = [0, 3, 600, 1, 0x0D, 0x03, 0x0A]  # CR, Ctrl-C, LF pass untouched
    samples = run(probe, link, clock, counts, t0_ms=100)
    assert [s.counts for s in samples] == counts
    assert [s.end for s in samples] == pytest.approx([0.1 * (i + 1) for i in range(7)])
    assert all(s.duration == pytest.approx(0.1) and s.hv_ok for s in samples)
    assert link.bytes_read == probe.bytes_written == 7 * 14
    assert link.stats()["boots"] == 1


def test_hv_flag_reaches_the_agent(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock
) -> None:
    clock.advance_to(0.1)
    (sample,) = deliver_and_poll(probe, link, 2, 100, hv_ok=False)
    assert sample.hv_ok is False


def test_garbage_injection_is_skipped(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock
) -> None:
    run(probe, link, clock, [1, 1], t0_ms=100)
    target = link.bytes_read + probe.inject(b"\xa5\x5a\x01garbage\xa5")
    drain(link, target)
    samples = run(probe, link, clock, [5, 6], t0_ms=300)
    assert [s.counts for s in samples] == [5, 6]
    assert [s.lost_before for s in samples] == [0, 0]
    stats = link.stats()
    assert stats["crc_errors"] >= 1 and stats["garbage_bytes"] == 11 and stats["resyncs"] == 1


def test_unplug_and_replug_reopens_the_port(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock
) -> None:
    run(probe, link, clock, [1, 1, 1], t0_ms=100)
    probe.set_connected(False, 350)
    assert not os.path.exists(probe.port_path)
    assert run(probe, link, clock, [9, 9], t0_ms=400) == []
    assert link.fileno() is None and link.stats()["read_errors"] == 1
    probe.set_connected(True, 700)
    samples = run(probe, link, clock, [2] * 40, t0_ms=800)
    assert link.stats()["reopens"] == 1
    # lost at 0.4 s, reopened 2 s later (during the 2.4 s poll): frames sent
    # before that went nowhere, the BOOT frame with them, as with a real USB probe
    assert samples[0].end == pytest.approx(2.5)
    assert [s.counts for s in samples] == [2] * len(samples)
    assert all(s.lost_before == 0 for s in samples)


def test_watchdog_resets_a_probe_whose_host_stops_reading(
    probe: PtyProbe, link: SerialProbeLink, clock: ManualClock
) -> None:
    run(probe, link, clock, [1], t0_ms=100)
    now_ms = 100
    while probe.deliver(1, now_ms := now_ms + 100) == 14:  # the agent stops reading
        pass
    for _ in range(25):  # writes fail, the watchdog is not fed: reset after 2 s
        probe.deliver(1, now_ms := now_ms + 100)
    assert probe.watchdog_resets == 1
    drain(link, probe.bytes_written)  # the agent catches up with the backlog
    clock.advance_to(now_ms / 1000 + 0.1)
    (sample,) = deliver_and_poll(probe, link, 1, now_ms + 100)
    assert sample.lost_before == 0 and sample.duration == 0.1
    stats = link.stats()
    assert stats["wdt_resets"] == 1 and stats["boots"] == 2
    assert stats["garbage_bytes"] == 8  # the frame cut short when the buffer filled
