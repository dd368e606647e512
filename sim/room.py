"""The virtual room: a scenario's signals on gpiozero mock pins, and the agent configured for it.

Pins follow the default pin map of hardware/; doors get the next free GPIOs.
Generator and lamp inputs are opto-coupled (active low, pull-up); door
contacts open the circuit when the door opens (active high, pull-up). The
optional ``patient`` button is wired only when the scenario presses it, so
that every other scenario keeps the gap rule for its procedures.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edge_agent.config import AgentConfig, parse_config
from sim.scenario import PATIENT_SIGNAL, Scenario

DOOR_PINS = (16, 20, 21, 26, 19, 13, 12, 7, 8, 11, 9, 10)
GPIO_PROBE_PIN = 25
#: The pin map's suggestion for the optional patient button (active low, pull-up).
PATIENT_PIN = 4
FRAME_S = 0.1
#: A RAM file system for the plays' throwaway journals, used with this much free.
RAM_DIR = "/dev/shm"
RAM_FREE_MIN = 1 << 30


def agent_config(scenario: Scenario, journal_path: Path, **overrides: Any) -> AgentConfig:
    """The agent configuration a scenario asks for (its [agent] overrides applied).

    ``overrides`` replace whole top-level tables (``device``, ``mqtt``): a
    simulated room publishing to a real broker.
    """
    if len(scenario.room.doors) > len(DOOR_PINS):
        raise ValueError(f"at most {len(DOOR_PINS)} doors can be simulated")
    doors = {
        name: {"pin": pin, "active": "high", "pull": "up", "debounce_ms": 20.0}
        for name, pin in zip(scenario.room.doors, DOOR_PINS, strict=False)
    }
    pins: dict[str, Any] = {"door": doors}
    if any(event.signal == PATIENT_SIGNAL for event in scenario.events):
        pins[PATIENT_SIGNAL] = {"pin": PATIENT_PIN}
    data: dict[str, Any] = {
        "device": {"site": "sim", "room": "room"},
        "pins": pins,
        "probe": {
            "kind": scenario.room.probe,
            "pin": GPIO_PROBE_PIN,
            "position": scenario.room.probe_position,
            "background_usv_h": scenario.room.background_usv_h,
            "frame_s": FRAME_S,
        },
        "rules": dict(scenario.agent),
        "journal": {"path": str(journal_path)},
    }
    data.update(overrides)
    return parse_config(data, str(scenario.source))


class MockRoom:
    """Drives the agent's mock input pins from signal values."""

    def __init__(self, config: AgentConfig, factory: MockFactory) -> None:
        self.factory = factory
        self._pin_objects: dict[str, Any] = {}  # each signal's pin, looked up once
        self._pins = {
            name: (spec.pin, spec.active == "high") for name, spec in config.pins.inputs().items()
        }

    def set(self, signal: str, value: bool) -> None:
        pin_number, active_high = self._pins[signal]
        pin = self._pin_objects.get(signal)
        if pin is None:
            pin = self._pin_objects[signal] = self.factory.pin(pin_number)
        if value == active_high:
            pin.drive_high()
        else:
            pin.drive_low()


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A play's throwaway directory (its journal): in RAM when there is room (see
    :func:`_ram_dir`), else where temporary files go."""
    return tempfile.TemporaryDirectory(prefix="voyant-sim-", dir=_ram_dir())


def _ram_dir() -> str | None:
    """:data:`RAM_DIR` when it is a writable directory with :data:`RAM_FREE_MIN` free and
    no ``TMPDIR`` (nor ``TEMP``, ``TMP``) says otherwise: the journal's WAL syncs and
    checkpoints cost nothing there (a few % of a busy day's play on a disk), its records
    the same."""
    if any(os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")) or not os.access(
            RAM_DIR, os.W_OK):
        return None
    try:
        room = os.statvfs(RAM_DIR)
    except OSError:
        return None
    return RAM_DIR if room.f_bavail * room.f_frsize >= RAM_FREE_MIN else None
