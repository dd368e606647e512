"""systemd's notify protocol on a real AF_UNIX datagram socket, and the agent's metrics.

The watchdog is fed only while the agent is healthy: when the journal fails,
the pings stop (systemd then restarts the agent) and STATUS says why.
"""

from __future__ import annotations

import select
import socket
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent import runner
from edge_agent.config import parse_config
from edge_agent.runner import MAX_SLEEP_S, Service, wait_s
from edge_agent.sdnotify import Notifier, Watchdog
from edge_agent.timesync import ClockSync
from sim.broker import free_port
from tests.conftest import received


def test_from_env_reads_the_socket_and_the_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "@voyant-test")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier.from_env()
    assert notifier.address == "@voyant-test" and notifier.watchdog_interval_s == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # the watchdog is another process's
    assert Notifier.from_env().watchdog_interval_s is None
    assert not Notifier.from_env({}).enabled and not Notifier(None).send("READY=1")


def test_an_abstract_socket_is_reached() -> None:
    name = f"voyant-test-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier("@" + name).ready("ok")
        assert sock.recv(100) == b"READY=1\nSTATUS=ok"


def test_pings_at_most_every_half_period_and_only_while_healthy(
    notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    now = [0.0]
    dog = Watchdog(Notifier(path, watchdog_usec=2_000_000), lambda: now[0])
    dog.update(True, "ok")
    now[0] = 0.5
    dog.update(True, "ok")  # too soon
    now[0] = 1.0
    dog.update(True, "ok")
    now[0] = 2.5
    dog.update(False, "FAULT journal")
    assert received(sock) == ["STATUS=ok", "WATCHDOG=1", "WATCHDOG=1", "STATUS=FAULT journal"]
    assert dog.next_due() == 3.5  # unhealthy: nothing owed, not the past-due 2.0
    now[0] = 3.0
    dog.update(True, "ok")  # healthy again: the ping is sent on this very pass
    assert received(sock) == ["STATUS=ok", "WATCHDOG=1"] and dog.next_due() == 4.0


@pytest.mark.parametrize("pinged_before", [False, True])
def test_an_unhealthy_watchdog_is_never_due_in_the_past(pinged_before: bool) -> None:
    """The 100 % CPU bug: once the pings stopped, next_due() stayed in the past and the
    loop waited 0 s on every pass until systemd killed the agent."""
    now = [0.0]
    dog = Watchdog(Notifier(None, watchdog_usec=2_000_000), lambda: now[0])
    if pinged_before:
        dog.update(True, "ok")
    for t in (0.5, 1.0, 5.0, 60.0, 3600.0):  # long after the last ping
        now[0] = t
        dog.update(False, "FAULT journal")
        due = dog.next_due()
        assert due is not None and due > t
        assert wait_s(t, None, due) > 0
        assert wait_s(t, t + 0.2, due) == pytest.approx(0.2)  # the agent's deadline still wins


def test_no_watchdog_means_no_deadline() -> None:
    dog = Watchdog(Notifier(None), lambda: 0.0)
    dog.update(False, "FAULT journal")
    assert dog.next_due() is None and wait_s(0.0, None, None) == MAX_SLEEP_S


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(response.read().decode())


def run_for(service: Service, sock: socket.socket, seconds: float) -> list[str]:
    """Loop the service; what it sent meanwhile (read as it comes, as systemd does)."""
    end, out = time.monotonic() + seconds, []
    while time.monotonic() < end:
        service.iterate()
        out += received(sock)
    return out


def make_service(tmp_path: Path, notify_path: str, factory: MockFactory, port: int) -> Service:
    """A service on mock pins, no probe, a 100 ms watchdog (pings every 50 ms)."""
    config = parse_config({
        "device": {"site": "test", "room": "r1"},
        "pins": {"door": {"corridor": {"pin": 16, "active": "high"}}},
        "probe": {"kind": "none"}, "journal": {"path": str(tmp_path / "journal.db")},
    })
    return Service(config, notifier=Notifier(notify_path, watchdog_usec=100_000),
                   clock_sync=ClockSync.fixed(False), metrics_port=port, pin_factory=factory)


def test_the_agent_stops_pinging_when_its_journal_fails(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], mock_factory: MockFactory
) -> None:
    sock, path = notify_socket
    port = free_port()
    service = make_service(tmp_path, path, mock_factory, port)
    service.start()
    try:
        before = received(sock) + run_for(service, sock, 0.5)
        assert before[0] == "STATUS=starting" and before[1].startswith("READY=1\nSTATUS=watching")
        assert "clock NOT synced" in before[1]
        assert before.count("WATCHDOG=1") >= 4

        text = scrape(port)
        for line in ("voyant_agent_healthy 1.0", "voyant_clock_synced 0.0",
                     "voyant_outbox_records 6.0",  # each input found at the start
                     "voyant_mqtt_connected 0.0",
                     'voyant_alarms_total{kind="unsolicited_emission"} 0.0',
                     "voyant_last_reading_age_seconds NaN"):
            assert line + "\n" in text, line
        assert "# TYPE voyant_alarms_total counter" in text
        assert "voyant_agent_uptime_seconds " in text and "voyant_journal_bytes " in text

        assert service.agent is not None
        service.agent.journal.db.conn.close()  # the journal fails under the agent
        mock_factory.pin(17).drive_low()  # emission nobody asked for: records to write
        after = run_for(service, sock, 0.5)
        fault = [i for i, m in enumerate(after) if m.startswith("STATUS=FAULT journal failed")]
        assert fault, after
        assert "WATCHDOG=1" not in after[fault[0]:]  # not one ping once the write failed
        assert after[:fault[0]].count("WATCHDOG=1") <= 1  # the pass before the edge settled
        text = scrape(port)
        assert "voyant_agent_healthy 0.0\n" in text
        assert 'voyant_alarms_active{kind="unsolicited_emission"} 1.0\n' in text
        assert 'voyant_alarms_total{kind="unsolicited_emission"} 1.0\n' in text
    finally:
        service.close()
    assert received(sock)[-1].startswith("STOPPING=1")


def test_an_unhealthy_agent_sleeps_instead_of_spinning(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], mock_factory: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the journal fails the loop still waits between passes (it used to select()
    with a 0 s time-out, thousands of passes a second, until systemd killed it)."""
    sock, path = notify_socket
    waits: list[float] = []

    def recording_select(r: list[int], w: list[int], x: list[int], timeout: float) -> object:
        waits.append(timeout)
        return select.select(r, w, x, timeout)

    monkeypatch.setattr(runner, "select", SimpleNamespace(select=recording_select))
    service = make_service(tmp_path, path, mock_factory, 0)
    service.start()
    try:
        assert service.agent is not None
        service.agent.journal.db.conn.close()
        mock_factory.pin(17).drive_low()  # records to write: the journal fails
        deadline = time.monotonic() + 5
        while service.agent.health() is None and time.monotonic() < deadline:
            service.iterate()
        assert service.agent.health() is not None
        waits.clear()
        run_for(service, sock, 0.5)
    finally:
        service.close()
    # The watchdog interval is 50 ms: about 10 passes in 0.5 s, never hundreds.
    assert 0 < len(waits) <= 30, len(waits)
    assert min(waits) > 0
