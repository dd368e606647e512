"""The optional patient input and the pulse-train rule: configuration, pin map, simulated room."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.agent import Agent
from edge_agent.clock import ManualClock
from edge_agent.config import parse_config, validate_rule_overrides
from sim.room import PATIENT_PIN, agent_config
from sim.scenario import parse_scenario
from sim.scenario_toml import ScenarioError
from wire.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEVICE = {"site": "s", "room": "r"}
DOOR = {"corridor": {"pin": 16, "active": "high"}}


def config(**pins: object) -> dict[str, object]:
    return {"device": DEVICE, "pins": {"door": DOOR, **pins}}


def test_the_patient_input_is_optional_and_an_input_when_wired() -> None:
    assert parse_config(config()).pins.patient is None
    assert "patient" not in parse_config(config()).pins.inputs()
    wired = parse_config(config(patient={"pin": 4})).pins
    assert wired.inputs()["patient"].pin == 4
    assert ("patient", 4) in wired.assignments()


def test_the_patient_pin_may_not_be_used_twice() -> None:
    with pytest.raises(ConfigError, match=r"pins: .*GPIO16 is already used by pins.door.corridor"):
        parse_config(config(patient={"pin": 16}))


def test_the_pin_map_and_the_default_config_suggest_the_same_free_pin() -> None:
    pin_map = (ROOT / "hardware" / "pin-map.md").read_text(encoding="utf-8")
    match = re.search(r"^\| `patient`.*?\| GPIO(\d+) \| (\d+) \|", pin_map, re.M)
    assert match and (int(match.group(1)), int(match.group(2))) == (4, 7)  # header pin 7
    text = (ROOT / "hardware" / "default-agent.toml").read_text(encoding="utf-8")
    block = re.search(r"^# \[pins\.patient\].*?(?=^\s*$)", text, re.M | re.S)
    assert block, "default-agent.toml shows the patient input, commented out"
    lines = [line.removeprefix("# ").split("#")[0] for line in block.group(0).splitlines()]
    patient = tomllib.loads("\n".join(lines))["pins"]["patient"]
    assert patient["pin"] == int(match.group(1)) == PATIENT_PIN
    defaults = parse_config(tomllib.loads(text)).pins  # the block is commented: no patient
    assert defaults.patient is None
    assert patient["pin"] not in {pin for _, pin in defaults.assignments()}


def test_unrequested_merge_gap_is_validated() -> None:
    assert validate_rule_overrides({}, "agent").unrequested_merge_gap_s == 2.0
    with pytest.raises(ConfigError, match="unrequested_merge_gap_s: must not be below"):
        validate_rule_overrides({"exposure_merge_gap_s": 0.5, "unrequested_merge_gap_s": 0.4},
                                "agent")
    with pytest.raises(ConfigError, match="unrequested_merge_gap_s: Input should be less"):
        validate_rule_overrides({"unrequested_merge_gap_s": 60.0}, "agent")


SCENARIO = """\
name = "x"
duration_s = 10.0
seed = 1
[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "gpio"
probe_position = "inside"
"""
PRESS = '[[event]]\nat = 1.0\nsignal = "patient"\nvalue = true\n'


def test_the_simulated_room_wires_the_patient_input_only_when_pressed(tmp_path: Path) -> None:
    plain = agent_config(parse_scenario(SCENARIO), tmp_path / "a.db")
    assert plain.pins.patient is None
    pressed = agent_config(parse_scenario(SCENARIO + PRESS), tmp_path / "b.db")
    assert pressed.pins.patient is not None and pressed.pins.patient.pin == PATIENT_PIN


def test_the_agent_tells_the_monitor_the_patient_input_is_wired(tmp_path: Path) -> None:
    cfg = agent_config(parse_scenario(SCENARIO + PRESS), tmp_path / "j.db")
    factory = MockFactory()
    agent = Agent(cfg, ManualClock(wall_start=0.0, mono_start=0.0), pin_factory=factory)
    try:
        assert agent.monitor.exposures.patient_input
        assert agent.monitor.signals["patient"] is False
    finally:
        agent.close()
        factory.reset()


def test_a_patient_value_must_be_a_boolean() -> None:
    expected = r"event\[1\]\.value: expected true or false for patient"
    with pytest.raises(ScenarioError, match=expected):
        parse_scenario(SCENARIO + PRESS.replace("true", "1"))
