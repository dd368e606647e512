"""``voyant-edge selftest`` on mock pins, the pty probe and a real Mosquitto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent import cli
from edge_agent.config import AgentConfig, parse_config
from edge_agent.selftest import Report, render_table, run_selftest
from sim.broker import Mosquitto
from sim.probe_pty import PtyProbe

PIN = {"emission": 17, "request": 27, "generator_powered": 22, "light_powered": 23,
       "light_emission": 24, "door": 16}


class Feeder:
    """The simulated Pico sending a frame every 100 ms of its own time, in a thread."""

    def __init__(self, probe: PtyProbe, hv_ok: bool = True) -> None:
        self.probe, self.hv_ok = probe, hv_ok
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        now = self.probe.now_ms
        while not self._stop.wait(0.02):
            now += 100
            self.probe.deliver(1, now, hv_ok=self.hv_ok)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def probe() -> Iterator[PtyProbe]:
    p = PtyProbe()
    yield p
    p.close()


def make_config(tmp_path: Path, mosquitto: Mosquitto | None, probe: PtyProbe | None,
                password: str | None = None) -> AgentConfig:
    pull = {"pull": "none"}  # mock pins: a pull resistor would override the levels set
    data: dict[str, Any] = {
        "device": {"site": "chu", "room": "ir1", "id": "chu.ir1"},
        "pins": {name: {"pin": pin, **pull} for name, pin in PIN.items() if name != "door"}
        | {"door": {"corridor": {"pin": PIN["door"], "active": "high", **pull}}},
        "probe": {"kind": "serial", "port": probe.port_path} if probe else {"kind": "none"},
        "journal": {"path": str(tmp_path / "journal.db")},
    }
    if mosquitto is not None:
        secret = tmp_path / "password"
        secret.write_text(password or mosquitto.accounts["chu.ir1"].password)
        data["mqtt"] = {"host": mosquitto.host, "port": mosquitto.port,
                        "password_file": str(secret)}
    return parse_config(data, "test")


def at_rest(factory: MockFactory, **overrides: bool) -> None:
    """Generator powered with its lamp lit, nothing else on (inputs are active low)."""
    on = {"generator_powered": True, "light_powered": True, "emission": False,
          "request": False, "light_emission": False} | overrides
    for name, value in on.items():
        pin = factory.pin(PIN[name])
        pin.drive_low() if value else pin.drive_high()
    factory.pin(PIN["door"]).drive_low()  # closed


def verdicts(report: Report) -> dict[str, str]:
    return {item.name: item.verdict for item in report.items}


def test_a_commissioned_room_passes(tmp_path: Path, mock_factory: MockFactory, probe: PtyProbe,
                                    mosquitto: Mosquitto) -> None:
    at_rest(mock_factory)
    feeder = Feeder(probe)
    try:
        report = run_selftest(make_config(tmp_path, mosquitto, probe), timeout_s=3.0,
                              pin_factory=mock_factory, clock_probe=lambda: True)
    finally:
        feeder.stop()
    assert verdicts(report) == {"inputs": "PASS", "lamp feedback": "PASS", "probe link": "PASS",
                                "journal": "PASS", "broker": "PASS", "clock sync": "PASS"}
    assert report.verdict == "PASS"
    broker = next(i for i in report.items if i.name == "broker")
    assert "voyant/v1/chu/ir1/ack granted" in broker.detail
    table = render_table(report)
    assert "device:     chu.ir1" in table and "overall: PASS" in table and "voyant" in table


def test_stuck_emission_dark_lamp_silent_probe_and_wrong_password_fail(
    tmp_path: Path, mock_factory: MockFactory, probe: PtyProbe, mosquitto: Mosquitto
) -> None:
    at_rest(mock_factory, emission=True, light_powered=False)
    report = run_selftest(make_config(tmp_path, mosquitto, probe, password="wrong"),
                          timeout_s=1.0, pin_factory=mock_factory, clock_probe=lambda: False)
    got = verdicts(report)
    assert got == {"inputs": "FAIL", "lamp feedback": "FAIL", "probe link": "FAIL",
                   "journal": "PASS", "broker": "FAIL", "clock sync": "WARN"}
    details = {item.name: item.detail for item in report.items}
    assert "emission active at rest" in details["inputs"]
    assert "warning lamp reads off" in details["lamp feedback"]
    assert "no valid frame" in details["probe link"]
    assert "refused" in details["broker"]


def test_high_voltage_fault_fails_the_probe(tmp_path: Path, mock_factory: MockFactory,
                                             probe: PtyProbe) -> None:
    at_rest(mock_factory)
    feeder = Feeder(probe, hv_ok=False)
    try:
        report = run_selftest(make_config(tmp_path, None, probe), timeout_s=3.0,
                              pin_factory=mock_factory, clock_probe=lambda: True)
    finally:
        feeder.stop()
    item = next(i for i in report.items if i.name == "probe link")
    assert item.verdict == "FAIL" and "high voltage NOT OK" in item.detail
    assert verdicts(report)["broker"] == "WARN"  # no [mqtt]


def test_the_command_prints_json_and_exits_1_on_a_fail(
    tmp_path: Path, mock_factory: MockFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    at_rest(mock_factory, light_emission=True)  # emission lamp lit at rest
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[device]
site = "chu"
room = "ir1"
[pins.door.corridor]
pin = 16
active = "high"
pull = "none"
[pins.light_emission]
pin = 24
pull = "none"
[probe]
kind = "none"
[journal]
path = "{tmp_path / 'journal.db'}"
[metrics]
port = 0
""")
    code = cli.main(["selftest", "--config", str(config), "--json", "--timeout", "0.5"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["verdict"] == "FAIL" and out["device"] == "chu.ir1"
    lamps = next(i for i in out["items"] if i["name"] == "lamp feedback")
    assert lamps["verdict"] == "FAIL" and "emission lamp reads lit" in lamps["detail"]
