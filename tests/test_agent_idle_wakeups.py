"""An idle agent sleeps until something is due (issue 18 item 4: idle CPU ≤ 1 %).

The publisher's worker sleeps to its next deadline (the ack time-out, the heartbeat, the
live state's pacing), not a fixed tick, yet a notification still wakes it at once; the
loop sleeps to the agent's chores; the metrics server wakes only for a scrape or to stop.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest

from edge_agent.config import Device, Mqtt
from edge_agent.journal import Journal
from edge_agent.metrics import Metric, MetricsServer
from edge_agent.outbox import Outbox
from edge_agent.publisher import LIVE_MIN_INTERVAL_S, Publisher
from edge_agent.runner import MAX_SLEEP_S, agent_wakeup, wait_s
from edge_agent.send_state import IDLE_S, MIN_WAIT_S, TICK_S, SendState
from tests import test_publisher

#: The publisher tests' own journal fixture (a scratch journal, one run started).
journal = test_publisher.journal
DEVICE = Device(site="s", room="r", id="s.r")
SETTINGS = Mqtt(host="127.0.0.1", port=1, ack_timeout_s=30.0, heartbeat_s=30.0)


def idle_state() -> SendState:
    return SendState(acked=10, timeout=30.0)


def test_idle_worker_sleeps_to_the_heartbeat_capped() -> None:
    state = idle_state()
    assert state.next_wait(100.0, 100, 10, [130.0], True) == IDLE_S
    assert state.next_wait(100.0, 100, 10, [102.0], True) == pytest.approx(2.0)
    assert state.next_wait(100.0, 100, 10, [], True) == IDLE_S
    assert state.next_wait(100.0, 100, 10, [102.0], False) == IDLE_S  # a connect wakes it
    assert state.next_wait(100.0, 100, 10, [99.0], True) == MIN_WAIT_S  # never spins


def test_worker_sleeps_to_the_ack_timeout_and_its_backoff() -> None:
    state = idle_state()
    state.highest_sent, state.urgent_from, state.readings_from = 12, 13, 13
    state.sent_at = 100.0
    assert state.next_wait(101.0, 100, 12, [200.0], True) == IDLE_S  # due at 130
    assert state.next_wait(128.5, 100, 12, [200.0], True) == pytest.approx(1.5)
    assert not state.overdue(128.5 + 1.5 - 1e-9) and state.overdue(130.0)
    state.backoff = 2.0
    assert state.deadline() == pytest.approx(160.0)
    assert state.next_wait(159.0, 100, 12, [], True) == pytest.approx(1.0)


def test_held_back_sending_keeps_the_tick() -> None:
    state = idle_state()  # records 11..20 wait: the budget refused them
    assert state.next_wait(100.0, 100, 20, [130.0], True) == TICK_S
    state.urgent_from = state.readings_from = 21
    state.in_flight = [object()]  # type: ignore[list-item]  # the broker has not taken it
    assert state.next_wait(100.0, 100, 20, [130.0], True) == TICK_S
    state.in_flight = []
    assert state.next_wait(100.0, 5, 20, [130.0], True) == IDLE_S  # beyond the window: an ack


class FakeWake:
    """The worker's event: records each timeout, moves the fake clock by it, stops after n."""

    def __init__(self, publisher: Publisher, clock: list[float], n: int) -> None:
        self.publisher, self.clock, self.n = publisher, clock, n
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.clock[0] += timeout
        if len(self.waits) >= self.n:
            self.publisher._stopping.set()
        return False

    def set(self) -> None:
        return None

    def clear(self) -> None:
        return None


def test_connected_idle_worker_wakes_at_its_deadlines_not_every_tick(journal: Journal) -> None:
    clock = [1000.0]
    publisher = Publisher(SETTINGS, DEVICE, journal.path, monotonic=lambda: clock[0])
    sent: list[str] = []
    publisher.client.publish = lambda topic, *a, **k: sent.append(topic)  # type: ignore[method-assign,assignment]
    publisher._link.connected = True
    publisher.set_live({"inputs": {}, "alarms": [], "exposure_open": False}, None)
    fake = FakeWake(publisher, clock, 12)
    publisher._wake = fake  # type: ignore[assignment]
    publisher._work()
    assert fake.waits[0] == TICK_S and fake.waits[1:] == [IDLE_S] * 11
    lives = [t for t in sent if t.endswith("/live")]
    assert len(lives) == 2  # cycles at 1000.25, 1005.25 ... 1050.25: the heartbeat at 1030.25


def test_a_notification_wakes_the_sleeping_worker_at_once(journal: Journal) -> None:
    publisher = Publisher(SETTINGS, DEVICE, journal.path)
    cycles = threading.Semaphore(0)
    publisher._cycle = lambda outbox, state: cycles.release()  # type: ignore[method-assign]
    worker = threading.Thread(target=publisher._work, daemon=True)
    worker.start()
    try:
        assert cycles.acquire(timeout=2.0)  # the first cycle, after the first tick
        started = time.monotonic()
        publisher.notify()  # the worker now sleeps IDLE_S unless woken
        assert cycles.acquire(timeout=IDLE_S / 2)
        assert time.monotonic() - started < IDLE_S / 2
    finally:
        publisher._stopping.set()
        publisher._wake.set()
        worker.join(2.0)


def test_a_step_wakes_the_worker_only_for_a_new_record_or_a_changed_live_state(
        journal: Journal) -> None:
    """The loop tells the publisher after every step (the simulator, thousands a second):
    the worker is woken when the journal wrote since the last step or the live state moved
    (and no earlier change still waits to be sent: the next test)."""
    publisher = Publisher(SETTINGS, DEVICE, journal.path)
    wake = publisher._wake

    def woken() -> bool:
        was = wake.is_set()
        wake.clear()
        return was

    live = {"inputs": {"emission": False}, "alarms": [], "exposure_open": False}
    before = journal.writes
    publisher.notify(before)
    publisher.set_live(live, None)
    assert woken()
    publisher.notify(before)
    publisher.set_live(dict(live), None)
    assert not woken()
    journal.alive(1_767_596_400.0)
    assert journal.writes > before
    publisher.notify(journal.writes)
    assert woken()
    publisher._live_dirty = False  # what the worker does when it has sent it
    publisher.set_live(live, 0.12)  # a new reading's dose rate
    assert woken()
    publisher._live_dirty = False
    publisher.set_live({**live, "inputs": {"emission": True}}, 0.12)
    assert woken()
    publisher.notify()  # no count given: always
    assert woken()


def test_a_live_change_waiting_for_its_pacing_wakes_nobody_and_the_latest_goes_when_due(
        journal: Journal) -> None:
    """Pulsed fluoroscopy flips the emission input 30 times a second: the live state goes at
    most every LIVE_MIN_INTERVAL_S. While one change waits for that, the next ones do not
    wake the worker (its wait already ends then), and the latest is what goes; a change of
    the alarms goes at once, waiting or not."""
    clock = [1000.0]
    publisher = Publisher(SETTINGS, DEVICE, journal.path, monotonic=lambda: clock[0])
    sent: list[dict[str, Any]] = []

    def publish(topic: str, payload: bytes = b"", *args: Any, **kwargs: Any) -> None:
        if topic.endswith("/live"):
            sent.append(json.loads(payload))

    publisher.client.publish = publish  # type: ignore[method-assign,assignment]
    publisher._link.connected = True
    outbox = Outbox(journal.path)
    state = SendState(acked=outbox.acked(), timeout=SETTINGS.ack_timeout_s)
    wake = publisher._wake

    def woken() -> bool:
        was = wake.is_set()
        wake.clear()
        return was

    def step(emission: bool, alarms: list[dict[str, Any]] | None = None) -> bool:
        publisher.set_live({"inputs": {"emission": emission}, "alarms": alarms or [],
                            "exposure_open": True}, None)
        return woken()

    try:
        assert step(False)
        publisher._cycle(outbox, state)
        assert [s["inputs"] for s in sent] == [{"emission": False}]  # the first: at once
        clock[0] += 0.1
        assert step(True)  # nothing waited: the worker learns that one does now
        publisher._cycle(outbox, state)
        assert len(sent) == 1  # paced
        assert publisher._next_wait(state, clock[0]) == pytest.approx(LIVE_MIN_INTERVAL_S - 0.1)
        for emission in (False, True, False):  # the next pulses: nobody woken
            clock[0] += 1 / 30
            assert not step(emission)
        clock[0] = 1000.0 + LIVE_MIN_INTERVAL_S
        publisher._cycle(outbox, state)  # the worker's wait has ended: the latest goes
        assert [s["inputs"] for s in sent] == [{"emission": False}, {"emission": False}]
        clock[0] += 0.05
        assert step(True)  # sent: the next change wakes it again
        alarm = {"kind": "door_open_during_emission", "subject": "corridor",
                 "since": "2026-01-05T08:00:00.000Z"}
        assert step(True, [alarm])  # waiting, but the alarms changed
        publisher._cycle(outbox, state)
        assert [s["alarms"] for s in sent[2:]] == [[alarm]]  # at once, not paced
    finally:
        outbox.close()


def test_the_first_live_state_wakes_the_worker_even_after_a_connection(journal: Journal) -> None:
    """A connection marks the live state to be sent again before the room has any: the
    first one must still wake the worker, not wait for its next tick."""
    publisher = Publisher(SETTINGS, DEVICE, journal.path)
    publisher._live_dirty = True  # what _on_connect does
    assert publisher._live is None
    publisher.set_live({"inputs": {}, "alarms": [], "exposure_open": False}, None)
    assert publisher._wake.is_set()


def loop_agent(wake: float | None, chore: float) -> Any:
    return SimpleNamespace(next_wakeup=lambda: wake, next_chore=lambda: chore)


def test_loop_sleeps_to_the_agents_chore() -> None:
    assert agent_wakeup(loop_agent(None, 13.0), 10.0) == 13.0
    assert agent_wakeup(loop_agent(11.0, 13.0), 10.0) == 11.0
    assert wait_s(10.0, agent_wakeup(loop_agent(None, 13.0), 10.0), None) == pytest.approx(3.0)
    # A chore the failing journal could not do is left out: the loop must not spin.
    assert agent_wakeup(loop_agent(None, 9.0), 10.0) is None
    assert wait_s(10.0, agent_wakeup(loop_agent(None, 9.0), 10.0), None) == MAX_SLEEP_S


def test_metrics_server_serves_and_closes_promptly() -> None:
    server = MetricsServer(lambda: [Metric("x_up", "Up.", "gauge", [({}, 1.0)])], 0)
    server.start()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        assert b"x_up 1" in r.read()
    started = time.monotonic()
    server.close()
    assert not server._thread.is_alive() and time.monotonic() - started < 1.0
