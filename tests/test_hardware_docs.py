"""The pin map in hardware/ is the configuration's default."""

from __future__ import annotations

import re
from pathlib import Path

from edge_agent.config import InterlockRelay, Pins, Probe

PIN_MAP = (Path(__file__).resolve().parent.parent / "hardware" / "pin-map.md").read_text()


def documented(signal: str) -> int:
    match = re.search(rf"^\| `{signal}`.*?\| GPIO(\d+) \|", PIN_MAP, re.M)
    assert match, f"{signal} is not in hardware/pin-map.md"
    return int(match.group(1))


def test_pin_map_matches_the_defaults() -> None:
    fields = Pins.model_fields
    for name in ("emission", "request", "generator_powered", "light_powered", "light_emission"):
        assert documented(name) == fields[name].default.pin
    assert documented("alarm") == fields["alarm"].default.pin
    assert documented("interlock_relay") == InterlockRelay().pin
    assert documented('probe = "gpio"') == Probe().pin
