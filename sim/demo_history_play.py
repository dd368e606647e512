"""The history played: every room's box on one virtual clock, its records into the hub.

Time advances from one sync point to the next: every :data:`SYNC_S` of virtual
time, and the moments an incident of the link needs (a power cut, a network
outage). At each, every box that is up and connected has its new records
sent by its publisher, with its live heartbeat, and the hub ticks: what a
connected box and a running hub do every second, sampled where it changes
something. A box cut off sends nothing, so the hub's own silence check
calls it offline; its records wait in its outbox, as they do on a real box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.config import AgentConfig
from edge_agent.journal import Journal
from sim.demo_history_box import BoxRun, box_config, open_journal
from sim.demo_history_plan import INCIDENTS, Incident, Step, plan
from sim.demo_history_wire import BoxLink, HubSide
from sim.scenario import Scenario

#: Virtual seconds between two sync points when nothing else asks for one.
SYNC_S = 3600.0
#: How long after a box falls silent the history lets the hub look (its offline grace is
#: 3 heartbeats of 10 s).
SILENCE_S = 40.0
#: A link that comes back and drops again: its first batch is lost, the rest gets through,
#: and the publisher sends the lost records again this much later (its ack time-out).
RESEND_S = 150.0
#: The history's last hours, read every 10 s as the live rooms read.
RECENT_S = 2 * 3600.0


@dataclass
class RoomHistory:
    """One room: its box (runs come and go), its link, its plan."""

    room: str
    config: AgentConfig
    journal_path: Path
    link: BoxLink
    background_usv_h: float
    rng: np.random.Generator
    steps: list[Step]
    box: BoxRun | None = None
    journal: Journal | None = None
    #: A power cut: the box is down (writes nothing, sends nothing) until then.
    cut_until: float = 0.0
    #: A network outage: the box works and sends nothing until then.
    outage_until: float = 0.0
    #: After an outage, the first records sent are lost with the link, which drops again:
    #: those up to ``lost_upto`` are sent again only then (the hub sees the hole meanwhile).
    resend_at: float = 0.0
    lost_upto: int = -1
    counts: dict[str, int] = field(default_factory=dict)
    #: From this wall time on, readings every 10 s, as the live rooms (the recent hours).
    fine_from: float = math.inf

    def boot(self, wall: float, hub: HubSide, links: Sequence[BoxLink]) -> None:
        """A new run of the agent (at the start, after a power cut): it connects and says
        online, as its publisher does."""
        if self.journal is not None:
            self.journal.close()  # a new process of the agent opens its journal again
        self.journal = open_journal(self.journal_path)
        self.box = BoxRun(self.config, self.journal, wall, self.background_usv_h, self.rng)
        self.box.fine_from = self.fine_from
        self.link.clock[0] = wall
        hub.deliver([self.link.status("online")], wall, links)

    def advance(self, until: float) -> float:
        """Play the steps that begin before ``until`` and run the box to it; returns the
        box's wall time (past ``until`` when a step was still going on)."""
        assert self.box is not None
        if self.box.clock.wall() < self.cut_until:
            return self.box.clock.wall()  # no power: nothing happens in the box
        while self.steps and self.steps[0].at < until and self.steps[0].kind == "play":
            step = self.steps.pop(0)
            if step.at < self.box.clock.wall():
                continue  # the room worked while the box was down: nothing was recorded
            self.box.advance(self.box.to_mono(step.at))
            self.box.apply(self.box.to_mono(step.at), step.instants)
            self.counts[step.name] = self.counts.get(step.name, 0) + 1
        self.box.advance(max(self.box.to_mono(until), self.box.mono))
        return self.box.clock.wall()

    def messages(self, now: float) -> list[tuple[str, bytes]]:
        """What the box's publisher sends at ``now`` (nothing while it is cut off)."""
        if self.box is None or now < max(self.cut_until, self.outage_until):
            return []
        self.link.clock[0] = now
        after = 0
        if now < self.resend_at:
            if self.lost_upto < 0:  # the first batch, lost: the older half of the backlog
                outbox = self.link.outbox
                self.lost_upto = (outbox.acked() + outbox.last_seq()) // 2
            after = self.lost_upto
        return [*self.link.pending(after),
                self.link.live(self.box.live_state(), self.box.dose_rate_usv_h)]


def make_rooms(specs: Sequence[tuple[str, Scenario, dict[str, object], dict[str, object], Path]],
               quarters: tuple[float, float], start: float, end: float, period_s: float,
               incidents: Sequence[Incident] = INCIDENTS) -> list[RoomHistory]:
    """``specs``: (room, scenario, [device], [mqtt], journal) of each room."""
    rooms = []
    for index, (room, scenario, device, mqtt, journal_path) in enumerate(specs):
        open_journal(journal_path).close()  # made now: the link reads its outbox
        link = BoxLink(mqtt, device, journal_path, [start])
        rooms.append(RoomHistory(
            room, box_config(scenario, journal_path, device, period_s), journal_path, link,
            scenario.room.background_usv_h, np.random.default_rng(1000 + index),
            plan(room, scenario, quarters, start, end, 2000 + index, incidents),
            fine_from=end - RECENT_S))
    return rooms


def play(rooms: Sequence[RoomHistory], hub: HubSide, start: float, end: float) -> float:
    """Play every room from ``start`` to ``end`` (UTC seconds); returns the last sync time."""
    links = [r.link for r in rooms]
    for room in rooms:
        room.boot(start, hub, links)
    points = _sync_points(rooms, start, end)
    now = start
    for point in points:
        if point <= now:
            continue
        reached = max(room.advance(point) for room in rooms if room.box is not None)
        for room in rooms:
            _incidents(room, point, hub, links)
        now = max(point, reached)
        messages = [m for room in rooms for m in room.messages(now)]
        hub.deliver(messages, now, links)
        hub.tick(now, links)
    return now


def _sync_points(rooms: Sequence[RoomHistory], start: float, end: float) -> list[float]:
    points = {end}
    t = start + SYNC_S
    while t < end:
        points.add(t)
        t += SYNC_S
    for room in rooms:
        for step in room.steps:
            if step.kind == "cut":
                points |= {step.at, step.at + SILENCE_S, step.end}
            elif step.kind == "outage":
                points |= {step.at, step.at + SILENCE_S, step.end,
                           step.end + RESEND_S / 2, step.end + RESEND_S}
    return sorted(p for p in points if start < p <= end)


def _incidents(room: RoomHistory, point: float, hub: HubSide, links: Sequence[BoxLink]
               ) -> None:
    """A power cut or an outage that begins at ``point``; a box that boots again."""
    if room.box is not None and room.cut_until and point >= room.cut_until:
        room.box.stop(clean=False)  # its run ended when the power went: nothing written
        room.boot(room.cut_until, hub, links)
        room.cut_until = 0.0
    if not room.steps or room.steps[0].kind == "play" or room.steps[0].at > point:
        return
    step = room.steps.pop(0)
    room.counts[step.name] = room.counts.get(step.name, 0) + 1
    room.advance(step.at)
    if step.kind == "cut":
        hub.deliver(room.messages(step.at), step.at, links)  # its last words
        room.cut_until = step.end
    else:
        room.outage_until = step.end
        room.resend_at, room.lost_upto = step.end + RESEND_S, -1
