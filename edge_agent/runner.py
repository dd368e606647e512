"""The agent's real-time loop on a Raspberry Pi.

It sleeps until something arrives (a GPIO edge, through a self-pipe written by
the GPIO backend's thread; probe bytes on the serial port) or until the
agent's next deadline, then lets the agent step. The loop never waits for
the network.

It also feeds systemd's watchdog (``WATCHDOG=1`` only while the journal
writes and the inputs answer, see :mod:`edge_agent.sdnotify`: a journal that
cannot write holds its records in memory and raises ``journal_fault``; if it
stays so, systemd restarts the agent), keeps the
clock-synchronisation answer fresh (:mod:`edge_agent.timesync`) and serves the
agent's metrics on the loopback (:mod:`edge_agent.metrics`) when their port is
free: metrics are optional, so a taken port is a warning, never a failed start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import Any

from gpiozero import DigitalInputDevice

from edge_agent.agent import Agent, ProbeDriver
from edge_agent.clock import Clock, SystemClock
from edge_agent.config import AgentConfig
from edge_agent.journal_hold import AGENT_ALARM_KINDS
from edge_agent.logs import log
from edge_agent.metrics import (
    Metric,
    MetricsServer,
    journal_metrics,
    oldest_record_metrics,
    outbox_depth,
    serve_metrics,
)
from edge_agent.probe.gpio_counter import GpioPulseProbe
from edge_agent.probe.serial_link import SerialProbeLink
from edge_agent.publisher import Publisher
from edge_agent.sdnotify import Notifier, Watchdog
from edge_agent.timesync import ClockSync
from wire.kinds import ALARM_KINDS

#: Longest sleep between steps when nothing is due: every deadline the loop owes (the
#: agent's, its chores', the watchdog's) wakes it exactly, inputs and the reset button
#: through the self-pipe, so this only bounds how stale ``STATUS=`` and the
#: clock-synchronisation answer may get. Every wake-up costs CPU on an idle box.
MAX_SLEEP_S = 5.0


def build_probe(config: AgentConfig, clock: Clock, pin_factory: Any = None) -> ProbeDriver | None:
    probe = config.probe
    if probe.kind == "serial":
        return SerialProbeLink(probe.port, clock, frame_s=probe.frame_s)
    if probe.kind == "gpio":
        return GpioPulseProbe(probe.pin, clock, pin_factory=pin_factory, frame_s=probe.frame_s)
    return None


class Waker:
    """A self-pipe: any thread calls :meth:`wake`; the loop selects on :attr:`fd`."""

    def __init__(self) -> None:
        self.fd, self._write = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._write, False)

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe is awake already
            os.write(self._write, b"\0")

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass


class Service:
    """The agent as the systemd service runs it: loop, publisher, watchdog and metrics.

    :meth:`start` builds everything and says READY=1; each :meth:`iterate` is one
    pass of the loop (step, publish, reset button, watchdog, then sleep until
    something arrives or a deadline); :meth:`close` says STOPPING=1 and
    releases everything. ``run`` loops it until SIGTERM.
    """

    def __init__(
        self, config: AgentConfig, *, notifier: Notifier | None = None,
        clock_sync: ClockSync | None = None, metrics_port: int | None = None,
        pin_factory: Any = None,
    ) -> None:
        self.config = config
        self.clock = SystemClock()
        self.notifier = notifier or Notifier.from_env()
        self.watchdog = Watchdog(self.notifier, self.clock.monotonic)
        self.clock_sync = clock_sync or ClockSync()
        self.metrics_port = config.metrics.port if metrics_port is None else metrics_port
        self.pin_factory = pin_factory
        self.waker = Waker()
        self.reset_requested = threading.Event()
        self.started = self.clock.monotonic()
        self.probe: ProbeDriver | None = None
        self.agent: Agent | None = None
        self.publisher: Publisher | None = None
        self.metrics: MetricsServer | None = None
        self.reset_button: DigitalInputDevice | None = None

    def start(self) -> None:
        self.notifier.send("STATUS=starting")
        self.probe = build_probe(self.config, self.clock, self.pin_factory)
        self.agent = Agent(self.config, self.clock, probe=self.probe, on_edge=self.waker.wake,
                           pin_factory=self.pin_factory, clock_sync=self.clock_sync)
        self.clock_sync.synced()
        self.publisher = start_publisher(self.config)
        self.reset_button = _reset_button(self.config, self.reset_requested, self.waker)
        if self.metrics_port:  # optional: a taken port is logged, never fatal
            self.metrics = serve_metrics(self.collect, self.metrics_port)
        self.notifier.ready(self.status())

    def iterate(self) -> None:
        agent = self.agent
        assert agent is not None
        agent.step()
        if self.publisher is not None:
            publish_step(self.publisher, agent)
        if self.reset_requested.is_set():
            self.reset_requested.clear()
            agent.reset_interlock("button")
        self.clock_sync.synced()  # refreshed here, in the loop, at most every minute
        self.watchdog.update(agent.health() is None, self.status())
        _sleep(agent, self.clock, self.waker, self.probe, self.watchdog.next_due())

    def status(self) -> str:
        """The short state for systemctl status (``STATUS=``)."""
        agent = self.agent
        if agent is None:
            return "starting"
        fault = agent.health()
        if fault is not None:
            return f"FAULT {fault}"
        parts = [f"{len(agent.active_alarm_kinds)} alarm(s)"]
        if self.publisher is not None:
            parts.append("hub connected" if self.publisher.connected else "hub unreachable")
        synced = self.clock_sync.last
        parts.append({True: "clock synced", False: "clock NOT synced", None: "clock unknown"}[
            synced])
        return "watching: " + ", ".join(parts)

    def collect(self) -> list[Metric]:
        """The metrics (called in the metrics server's threads)."""
        agent = self.agent
        assert agent is not None
        now_wall = self.clock.wall()
        kinds = (*ALARM_KINDS, *AGENT_ALARM_KINDS)
        active: dict[str, int] = dict.fromkeys(kinds, 0)
        for kind in agent.active_alarm_kinds:
            active[kind] = active.get(kind, 0) + 1
        total: dict[str, int] = dict.fromkeys(kinds, 0)
        total.update(agent.writer.alarms_raised)
        depth = outbox_depth(agent.journal.path)
        last = agent.writer.last_reading_wall
        synced = self.clock_sync.last
        return [
            Metric("voyant_agent_uptime_seconds", "Seconds since the agent started.", "gauge",
                   [({}, self.clock.monotonic() - self.started)]),
            Metric("voyant_agent_healthy", "1 while the journal writes and the inputs answer"
                   " (the watchdog is fed only then).", "gauge",
                   [({}, float(agent.health() is None))]),
            Metric("voyant_outbox_records", "Records waiting for the hub's acknowledgement.",
                   "gauge", [({}, float("nan") if depth is None else depth)]),
            *oldest_record_metrics(agent.journal.path, now_wall),
            Metric("voyant_journal_bytes", "Size of the journal and its WAL.", "gauge",
                   [({}, agent.journal.size_bytes())]),
            Metric("voyant_last_reading_age_seconds", "Seconds since the end of the last"
                   " dose-rate reading (NaN before the first).", "gauge",
                   [({}, float("nan") if last is None else max(now_wall - last, 0.0))]),
            Metric("voyant_alarms_active", "Alarms holding now, by kind.", "gauge",
                   [({"kind": k}, v) for k, v in sorted(active.items())]),
            Metric("voyant_alarms_total", "Alarms raised since the agent started, by kind.",
                   "counter", [({"kind": k}, v) for k, v in sorted(total.items())]),
            Metric("voyant_mqtt_connected", "1 while connected to the hub's broker.", "gauge",
                   [({}, float(self.publisher is not None and self.publisher.connected))]),
            Metric("voyant_clock_synced", "1 if the system clock is synchronised, 0 if not,"
                   " NaN if unknown.", "gauge",
                   [({}, float("nan") if synced is None else float(synced))]),
            *journal_metrics(agent.writer.journal_writes(), len(agent.writer.hold),
                             agent.writer.hold.dropped, agent.upkeep.reserve_held),
        ]

    def close(self) -> None:
        self.notifier.stopping()
        if self.metrics is not None:
            self.metrics.close()
        if self.reset_button is not None:
            self.reset_button.close()
        if self.agent is not None:
            self.agent.close()
        elif self.probe is not None:
            self.probe.close()
        if self.publisher is not None:
            self.publisher.stop()
        log("agent_stopped")


def run(config: AgentConfig, stop: threading.Event | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    service = Service(config)

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        service.waker.wake()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        service.start()
        while not stop.is_set():
            service.iterate()
    finally:
        service.close()


def start_publisher(config: AgentConfig) -> Publisher | None:
    """The MQTT publisher of the journal's outbox, if ``[mqtt]`` is configured."""
    if config.mqtt is None:
        log("mqtt_not_configured", logging.WARNING, note="records stay in the journal's outbox")
        return None
    publisher = Publisher(config.mqtt, config.device, config.journal.path,
                          agent_version=_version())
    publisher.start()
    return publisher


def publish_step(publisher: Publisher, agent: Agent) -> None:
    """After a step: new records may wait in the outbox, the live state may have changed
    (the publisher's worker is woken only for either)."""
    publisher.set_live(agent.live_state(), agent.writer.dose_rate_usv_h)
    publisher.notify(agent.journal.writes)


def _version() -> str:
    try:
        return f"voyant {version('voyant')}"
    except PackageNotFoundError:
        return "voyant (not installed)"


def wait_s(now: float, agent_wake: float | None, watchdog_due: float | None) -> float:
    """How long the loop may sleep: until the earliest deadline, at most :data:`MAX_SLEEP_S`.

    0 when a deadline is already due; the callers (the agent and the watchdog) must
    therefore never keep answering a time in the past, or the loop spins.
    """
    due = [t for t in (agent_wake, watchdog_due) if t is not None]
    if not due:
        return MAX_SLEEP_S
    return min(max(min(due) - now, 0.0), MAX_SLEEP_S)


def agent_wakeup(agent: Agent, now: float) -> float | None:
    """The agent's next deadline, its periodic chores (:meth:`Agent.next_chore`: the
    journal's alive mark, its upkeep) included so that they run when due, not at the next
    :data:`MAX_SLEEP_S`. A chore still due after a step is one the journal could not do
    (it is failing; its retry is among the agent's deadlines): it is left out, or the
    loop would spin."""
    wake = agent.next_wakeup()
    chore = agent.next_chore()
    if chore > now and (wake is None or chore < wake):
        return chore
    return wake


def _sleep(agent: Agent, clock: Clock, waker: Waker, probe: ProbeDriver | None,
           watchdog_due: float | None = None) -> None:
    now = clock.monotonic()
    timeout = wait_s(now, agent_wakeup(agent, now), watchdog_due)
    fds = [waker.fd]
    if isinstance(probe, SerialProbeLink) and probe.fileno() is not None:
        fds.append(probe.fileno())  # type: ignore[arg-type]
    select.select(fds, [], [], timeout)
    waker.drain()


def _reset_button(
    config: AgentConfig, requested: threading.Event, waker: Waker
) -> DigitalInputDevice | None:
    """The reset button on the box: a press asks the loop to close the relay again if it may."""
    spec = config.pins.reset
    if spec is None:
        return None
    button = DigitalInputDevice(spec.pin, pull_up=None, active_state=spec.active == "high")
    if spec.pull != "none":
        button.pin.pull = spec.pull

    def pressed() -> None:
        requested.set()
        waker.wake()

    button.when_activated = pressed
    return button
