"""Shared fixtures: a virtual clock, mock pins, a monitor player, systemd's notify socket,
a hub store; cheap argon2 parameters for every test (tests/test_password_hashing.py checks
the production ones)."""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.monitor.monitor import Monitor
from edge_agent.monitor.records import AlarmCleared, AlarmRaised, Output
from hub.db.store import Store
from hub.web import accounts
from tests.hub_factory import open_store

pytest_plugins = ["tests.mqtt_fixtures"]

#: About a millisecond per hash or check instead of a sixth of a second of CPU: the tests
#: log in hundreds of times and test what a login does, not argon2's strength. Hub processes
#: the tests start (``voyant-hub run``, the demo) keep the production parameters.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
accounts.use_hasher(CHEAP_HASHER)

#: The test processes' cyclic collector, as the hub's decode worker has it
#: (hub/ingest/decoder.py): a young collection every 10,000 new objects instead of 700, and
#: what the collection of the tests built (the modules, some 2,600 test items, hypothesis'
#: strategies) frozen out of the full collections, which walked it all each time. The GC
#: took 8 % of the CPU of the in-process web and report tests, 2 % after (issue 18).
#: Processes the tests start keep Python's defaults.
TEST_GC_THRESHOLD = 10_000
gc.set_threshold(TEST_GC_THRESHOLD, *gc.get_threshold()[1:])


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()


#: The test files that take longest on 2 cores (``make test`` prints the slowest tests).
#: ``make test`` hands files to its workers in collection order (``--no-loadscope-reorder``):
#: the long ones first, so that the suite ends on short files on every worker instead of one
#: worker finishing a long file alone. The library through the hub comes first, and with it
#: the three files that mostly wait on paced rooms (a full disk, a restored journal, a broker
#: outage: 27, 21 and 15 s for 2, 7 and 4 s of CPU): it keeps both cores busy on its own,
#: where these waits used to meet half-way through the suite and leave a core idle
#: (issue 18: 29 idle core-seconds in an in-tree run before, 17 after).
LONG_FIRST = ("test_scenarios_through_hub", "test_journal_full_disk", "test_restored_journal",
              "test_changes_across_outage", "test_wire_faults", "test_sim_modes",
              "test_evidence_flow", "test_hostile_devices", "test_pages_survive",
              "test_layout", "test_zoning", "test_sim_speed_idle", "test_wire_canonical_fast",
              "test_reports", "test_web_access", "test_record_properties",
              "test_report_page_zoning", "test_no_raw_codes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [name for name in LONG_FIRST if not (Path(__file__).parent / f"{name}.py").exists()]
    assert not missing, f"tests/conftest.py LONG_FIRST names files that do not exist: {missing}"
    rank = {name: number for number, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: files stay whole


@pytest.fixture(autouse=True)
def _loggers_as_they_were() -> Iterator[None]:
    """Give each test the ``voyant`` loggers as they were before it: a ``voyant-sim`` or
    ``voyant-hub`` command run in-process sets levels, handlers and propagation that the
    next test of the same worker would otherwise inherit (a hub WARNING dropped because
    the agent's logger was left at ERROR)."""
    kept = [(logger, logger.level, list(logger.handlers), logger.propagate)
            for logger in map(logging.getLogger, ("voyant", "voyant.hub"))]
    yield
    for logger, level, handlers, propagate in kept:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_start=1_767_596_400.0, mono_start=0.0)


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's own habit: swap in MockFactory, then reset and restore."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


def play(
    monitor: Monitor,
    clock: ManualClock,
    events: Sequence[tuple[float, Mapping[str, bool]]],
    until: float,
) -> list[Output]:
    """Feed ``events`` and let time run to ``until``, waking at every deadline (as the agent)."""
    out: list[Output] = list(monitor.start_outputs())
    pending = sorted(events, key=lambda e: e[0])
    index = 0
    while True:
        next_event = pending[index][0] if index < len(pending) else float("inf")
        deadline = monitor.next_deadline()
        t = min(next_event, deadline if deadline is not None else float("inf"))
        if t > until:
            break
        clock.advance_to(max(t, clock.monotonic()))
        if t == next_event:
            out += monitor.on_inputs(t, dict(pending[index][1]))
            index += 1
        else:
            out += monitor.tick(t)
    clock.advance_to(max(until, clock.monotonic()))
    out += monitor.tick(until)
    return out


def alarms(outputs: Sequence[Output]) -> list[dict[str, Any]]:
    """Alarms raised in ``outputs`` with their final cleared time, in raise order."""
    seen: dict[int, dict[str, Any]] = {}
    for item in outputs:
        if isinstance(item, AlarmRaised):
            a = item.alarm
            seen[a.number] = {"kind": a.kind, "subject": a.subject, "at": a.at, "cleared": None}
        elif isinstance(item, AlarmCleared):
            seen[item.alarm.number]["cleared"] = item.alarm.cleared
    return list(seen.values())


@pytest.fixture
def rules() -> Rules:
    return Rules()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """systemd's end of ``$NOTIFY_SOCKET``: a bound datagram socket and its path."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on ``sock`` (non-blocking), decoded."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A hub store on disk (``tests.hub_factory.open_store``), closed after the test."""
    opened = open_store(tmp_path)
    yield opened
    opened.close()
