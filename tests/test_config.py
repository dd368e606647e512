"""The agent configuration refuses every mistake with the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import Rules, load_config, parse_config
from wire.errors import ConfigError

GOOD = """
[device]
site = "chu-nord"
room = "salle-3"

[pins.door.corridor]
pin = 16
active = "high"

[probe]
kind = "serial"
position = "inside"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_has_safe_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.device.device_id == "chu-nord.salle-3"
    assert config.pins.interlock_relay.enabled is False
    assert config.rules.release_grace_s == 0.5
    assert config.rules.dose_rate_alarm("inside") == 2000.0
    assert Rules().dose_rate_alarm("outside") == 2.5
    assert set(config.pins.inputs()) == {
        "emission", "request", "generator_powered", "light.powered", "light.emission",
        "door.corridor"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[rules]\nrelease_grace = 0.5\n", "rules.release_grace: unknown key"),
        ("[rules]\nrelease_grace_s = -0.5\n", "rules.release_grace_s: Input should be greater"),
        ("[pins.door.control]\npin = 16\n", "pins.door.control: GPIO16 is already used by"),
        ("[pins.emission]\npin = 16\n", "GPIO16 is already used"),
        ("[pins.request]\npin = 40\n", "pins.request.pin: Input should be less than or equal"),
        ("[probe.extra]\nx = 1\n", "probe.extra: unknown key"),
        ("[pins.light_emission]\npin = 24\nactive = \"up\"\n", "pins.light_emission.active"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    pins = extra.startswith("[pins")
    text = GOOD.replace("[probe]", extra + "\n[probe]") if pins else GOOD + extra
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(tmp_path / "agent.toml") in str(info.value)


def test_door_without_a_name_is_refused() -> None:
    data = {"device": {"site": "s", "room": "r"}, "pins": {"door": {"pin": 16}}}
    with pytest.raises(ConfigError, match="each door needs a name"):
        parse_config(data, "agent.toml")
    data = {"device": {"site": "s", "room": "r"}, "pins": {"door": {" ": {"pin": 16}}}}
    with pytest.raises(ConfigError, match="empty name"):
        parse_config(data, "agent.toml")


def test_no_door_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pins\.door: required key is missing"):
        parse_config({"device": {"site": "s", "room": "r"}, "pins": {}}, "agent.toml")


def test_unknown_tube_and_calibration_are_refused() -> None:
    base = {"device": {"site": "s", "room": "r"}, "pins": {"door": {"a": {"pin": 16}}}}
    with pytest.raises(ConfigError, match=r"probe\.tube: unknown tube 'geiger9000'"):
        parse_config({**base, "probe": {"tube": "geiger9000"}}, "agent.toml")
    with pytest.raises(ConfigError, match="is not a \\[calibrations\\] entry"):
        parse_config({**base, "probe": {"calibration": "nope"}}, "agent.toml")


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[device\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
