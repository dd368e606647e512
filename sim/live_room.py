"""A simulated room that publishes for real: the scenario's agent with an MQTT publisher.

The fault tests and the demo run this as a process (``voyant-sim room``):
the real agent on mock pins and the pty probe (or its frames in process), a
journal on disk (durable unless told otherwise), and the real publisher
sending its outbox to a real broker. Virtual time
starts at the real wall time and may be paced (``speed``) so that a test can
kill the process in the middle of an exposure.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.agent import Agent
from edge_agent.config import Device, Mqtt
from edge_agent.logs import log
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from edge_agent.runner import publish_step
from sim.inject import RoomControl
from sim.report import Report
from sim.runner import Simulation
from sim.scenario import Scenario

#: Real seconds between two tellings of the publisher by a room played as fast as it goes.
#: A box's loop tells it after each of its steps, a few a second; unpaced, the simulator
#: steps thousands of times a second, and telling after each step had the publisher's
#: worker read the outbox for nearly every record (issue 18: the library through the hub
#: used 8 s less CPU, of 92 s, telling at most this often).
TELL_EVERY_S = 0.01


@dataclass(frozen=True)
class RoomSettings:
    """The ``[device]`` and ``[mqtt]`` tables of an agent configuration, and where to journal."""

    device: dict[str, Any]
    mqtt: dict[str, Any]
    journal: Path


def play_room(
    scenario: Scenario, settings: RoomSettings, *, speed: float | None = None,
    repeat: int = 1, linger_s: float = 30.0, control: RoomControl | None = None,
    on_report: Callable[[Report], None] | None = None, fast: bool = False,
    durable: bool = True,
) -> Publisher:
    """Play ``scenario`` ``repeat`` times (a new agent run each), then wait up to ``linger_s``
    real seconds for the hub to acknowledge the whole outbox. Returns the stopped publisher.

    ``control`` (:mod:`sim.inject`) injects faults while it plays, and stops it early
    (between two steps) when asked; ``on_report`` gets each run's report (the one of
    ``voyant-sim run``), so one play serves both its expectations and the wire;
    ``fast``: the probe's frame bytes in process, not through a pty (:mod:`sim.fast_probe`);
    ``durable=False``: the journal commits without fsync (a test about the wire, not power cuts)."""
    settings.journal.parent.mkdir(parents=True, exist_ok=True)
    publisher: Publisher | None = None
    try:
        for _ in range(repeat):
            if control is not None and control.stopping and publisher is not None:
                break
            sim = _simulation(scenario, settings, speed, control, fast, durable)
            if publisher is None:
                publisher = Publisher(Mqtt.model_validate(settings.mqtt),
                                      Device.model_validate(settings.device), settings.journal,
                                      agent_version="voyant-sim")
                publisher.start()
            tell = functools.partial(publish_step, publisher)
            sim.on_step = step_hook(tell, speed, control)
            try:
                report = sim.run()
                tell(sim.agent)  # the last step's records and state, whenever it came
            finally:
                sim.close()
            if on_report is not None:
                on_report(report)
            log("scenario_played", run=sim.agent.journal.run, outbox_last=publisher.last_seq)
        assert publisher is not None
        _linger(publisher, linger_s, settings.journal)
        return publisher
    finally:
        if publisher is not None:
            publisher.stop()


def step_hook(tell: Callable[[Agent], None], speed: float | None,
              control: RoomControl | None) -> Callable[[Agent], None]:
    """What runs after each step: ``tell`` itself for a paced or controlled room (the demo,
    the fault tests: a step may be the last for a while), else :class:`AtMostEvery`."""
    if speed is not None or control is not None:
        return tell
    return AtMostEvery(tell, TELL_EVERY_S)


class AtMostEvery:
    """A step hook that calls ``tell`` after a step unless it did so less than ``every_s``
    real seconds before: the steps it passes over are followed by others within that time
    (an unpaced play does not wait), and the caller tells after the last."""

    def __init__(self, tell: Callable[[Agent], None], every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tell, self.every_s, self.clock = tell, every_s, clock
        self._next = float("-inf")

    def __call__(self, agent: Agent) -> None:
        now = self.clock()
        if now >= self._next:
            self._next = now + self.every_s
            self.tell(agent)


def _simulation(scenario: Scenario, settings: RoomSettings, speed: float | None,
                control: RoomControl | None, fast: bool, durable: bool) -> Simulation:
    return Simulation(
        scenario, settings.journal.parent, wall_start=time.time(), journal_path=settings.journal,
        durable=durable, speed=speed, control=control, fast=fast, device=settings.device,
        mqtt=settings.mqtt, bursts=True,  # the publisher's hook only wakes the publisher
    )


def _linger(publisher: Publisher, linger_s: float, journal: Path) -> None:
    """Poll, with a deadline, until every record is acknowledged by the hub.

    The last record is read from the journal itself, closed by now: the agent journals
    its last records (an open run of input changes) as it closes, and the publisher's
    worker may not have seen them yet."""
    outbox = Outbox(journal)
    try:
        last = outbox.last_seq()
    finally:
        outbox.close()
    deadline = time.monotonic() + linger_s
    while time.monotonic() < deadline:
        publisher.notify()
        if publisher.acked >= last:
            return
        time.sleep(0.05)
