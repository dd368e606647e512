"""hardware/ agrees with the code: the pin map, the default config, wiring, diagrams, BOM."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from edge_agent.config import InterlockRelay, Pins, Probe, load_config, parse_config

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


# --------------------------------------------------------------------------- hardware/ as a whole

HARDWARE = Path(__file__).resolve().parent.parent / "hardware"
WIRING = (HARDWARE / "wiring.md").read_text()
DIAGRAMS = sorted((HARDWARE / "diagrams").glob("*.svg"))
SVG = "{http://www.w3.org/2000/svg}"

#: The 40-pin header: BCM GPIO number → physical pin (all Raspberry Pi models with 40 pins).
HEADER = {2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 10: 19, 9: 21, 11: 23, 0: 27, 5: 29,
          6: 31, 13: 33, 19: 35, 26: 37, 14: 8, 15: 10, 18: 12, 23: 16, 24: 18, 25: 22,
          8: 24, 7: 26, 1: 28, 12: 32, 16: 36, 20: 38, 21: 40}
#: Door pins suggested by the pin map, and the optional reset button's.
DOOR_PINS = (16, 20, 21, 26)
RESET_PIN = 12


def default_pins() -> dict[str, int]:
    fields = Pins.model_fields
    pins = {name: fields[name].default.pin for name in
            ("emission", "request", "generator_powered", "light_powered", "light_emission")}
    pins["alarm"] = fields["alarm"].default.pin
    pins["interlock_relay"] = InterlockRelay().pin
    pins['probe = "gpio"'] = Probe().pin
    return pins


ALLOWED = set(default_pins().values()) | set(DOOR_PINS) | {RESET_PIN}


def test_the_default_agent_config_is_the_pin_map() -> None:
    config = load_config(HARDWARE / "default-agent.toml")
    pins = config.pins
    for name in ("emission", "request", "generator_powered", "light_powered", "light_emission"):
        assert getattr(pins, name) == Pins.model_fields[name].default, name
    assert pins.alarm == Pins.model_fields["alarm"].default
    assert pins.interlock_relay == InterlockRelay()  # disabled, GPIO6, default kinds
    assert not pins.interlock_relay.enabled
    assert config.probe.pin == Probe().pin and config.probe.kind == "serial"
    assert [door.pin for door in pins.door.values()] == [DOOR_PINS[0]]
    assert all(door.active == "high" for door in pins.door.values())
    assert pins.reset is None
    assert config.journal.path == "/var/lib/voyant/journal.db"
    assert config.mqtt is None  # commented out until the real install fills it in


def test_the_commented_mqtt_block_is_valid_with_tls_and_a_password_file() -> None:
    text = (HARDWARE / "default-agent.toml").read_text()
    start = text.index("# [mqtt]")
    block = "\n".join(line.removeprefix("# ").removeprefix("#")
                      for line in text[start:].splitlines())
    data = tomllib.loads(text[:start]) | tomllib.loads(block)
    mqtt = parse_config(data, "uncommented").mqtt
    assert mqtt is not None and mqtt.tls is not None and mqtt.port == 8883
    assert mqtt.password_file == "/etc/voyant/mqtt.password"


def test_header_pins_match_the_bcm_numbers() -> None:
    for doc in (PIN_MAP, WIRING):
        rows = re.findall(r"^\| `[^`]+`[^|]*\| GPIO(\d+) \| (\d+) \|", doc, re.M)
        assert rows
        for bcm, header in rows:
            assert HEADER[int(bcm)] == int(header), f"GPIO{bcm} is header pin {HEADER[int(bcm)]}"
    texts = [WIRING, PIN_MAP] + [p.read_text() for p in DIAGRAMS]
    pairs = [m for t in texts for m in re.findall(r"GPIO(\d+) \((?:header )?pin (\d+)\)", t)]
    assert len(pairs) >= 10
    for bcm, header in pairs:
        assert HEADER[int(bcm)] == int(header), f"GPIO{bcm} (pin {header})"


def test_wiring_uses_the_default_pins() -> None:
    for signal, pin in default_pins().items():
        assert re.search(rf"^\| `{re.escape(signal)}`.*?\| GPIO(\d+) \|", WIRING, re.M), signal
        match = re.search(rf"^\| `{re.escape(signal)}`.*?\| GPIO(\d+) \|", WIRING, re.M)
        assert match and int(match.group(1)) == pin, f"{signal}: wiring.md says GPIO{match}"
    mentioned = {int(n) for text in [WIRING] + [p.read_text() for p in DIAGRAMS]
                 for n in re.findall(r"GPIO(\d+)", text)}
    assert mentioned <= ALLOWED, f"pins not in the default map: {sorted(mentioned - ALLOWED)}"
    assert set(default_pins().values()) <= mentioned


EXPECTED_DIAGRAMS = {"overview", "opto-input", "door-contact", "lamp-current", "relay-output",
                     "probe-pico"}


def test_the_diagrams_are_svg_that_render() -> None:
    assert {p.stem for p in DIAGRAMS} >= EXPECTED_DIAGRAMS
    for path in DIAGRAMS:
        root = ET.parse(path).getroot()
        assert root.tag == f"{SVG}svg", path.name
        for attr in ("width", "height", "viewBox"):
            assert root.get(attr), f"{path.name}: no {attr}"
        width, height = float(root.get("width", 0)), float(root.get("height", 0))
        assert root.get("viewBox") == f"0 0 {width:g} {height:g}", path.name
        labels = [t.text for t in root.iter(f"{SVG}text") if t.text and t.text.strip()]
        assert len(labels) >= 10, f"{path.name}: too few text labels"
        assert root.find(f"{SVG}title") is not None, path.name
        assert f"diagrams/{path.name}" in WIRING, f"{path.name} is not shown in wiring.md"


def test_the_diagrams_show_the_safety_essentials() -> None:
    text = {p.stem: p.read_text() for p in DIAGRAMS}
    relay = text["relay-output"]
    assert "in series" in relay.lower() and "NEVER in parallel" in relay
    assert "forced-guided" in text["relay-output"]
    assert "pull-down" in text["relay-output"]
    assert "pull-up" in text["opto-input"] and "1N4148" in text["opto-input"]
    assert "RC filter" in text["door-contact"]
    assert "HV-OK" in text["probe-pico"] and "400 V" in text["probe-pico"]
    assert "does not replace the room's interlocks" in text["overview"]


def test_bom_safety_and_readme_say_what_they_must() -> None:
    bom = (HARDWARE / "bom.md").read_text()
    assert "| ref | qty | part (manufacturer, reference) | function | why this part |" in bom
    for part in ("Raspberry Pi 4", "Pico", "SBM-20", "400 V", "forced-guided", "ULN2803A",
                 "PC817", "HDR-30-24", "fuse", "terminal", "enclosure"):
        assert part in bom, part
    safety = (HARDWARE / "safety.md").read_text()
    for phrase in ("does not replace the room's interlocks", "2017-DC-0591", "in series",
                   "stops X-rays", "Commissioning checks", "isolation"):
        assert phrase in safety, phrase
    readme = (HARDWARE.parent / "README.md").read_text()
    assert "## Install on a Raspberry Pi" in readme and "hardware/install-pi.sh" in readme
