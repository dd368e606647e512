"""The agent's real-time loop on a Raspberry Pi.

It sleeps until something arrives (a GPIO edge, through a self-pipe written by
the GPIO backend's thread; probe bytes on the serial port) or until the
agent's next deadline, then lets the agent step. The loop never waits for
the network.
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
from edge_agent.logs import log
from edge_agent.probe.gpio_counter import GpioPulseProbe
from edge_agent.probe.serial_link import SerialProbeLink
from edge_agent.publisher import Publisher

#: Longest sleep between steps: the heartbeat of the loop.
MAX_SLEEP_S = 0.5


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


def run(config: AgentConfig, stop: threading.Event | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    clock = SystemClock()
    waker = Waker()
    probe = build_probe(config, clock)
    agent = Agent(config, clock, probe=probe, on_edge=waker.wake)
    publisher = start_publisher(config)
    reset_requested = threading.Event()
    reset_button = _reset_button(config, reset_requested, waker)

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        waker.wake()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        while not stop.is_set():
            agent.step()
            if publisher is not None:
                publish_step(publisher, agent)
            if reset_requested.is_set():
                reset_requested.clear()
                agent.reset_interlock("button")
            _sleep(agent, clock, waker, probe)
    finally:
        if reset_button is not None:
            reset_button.close()
        agent.close()
        if publisher is not None:
            publisher.stop()
        log("agent_stopped")


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
    """After a step: new records may wait in the outbox, the live state may have changed."""
    publisher.set_live(agent.live_state(), agent.dose_rate_usv_h)
    publisher.notify()


def _version() -> str:
    try:
        return f"voyant {version('voyant')}"
    except PackageNotFoundError:
        return "voyant (not installed)"


def _sleep(agent: Agent, clock: Clock, waker: Waker, probe: ProbeDriver | None) -> None:
    wake = agent.next_wakeup()
    timeout = MAX_SLEEP_S if wake is None else min(max(wake - clock.monotonic(), 0.0), MAX_SLEEP_S)
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
