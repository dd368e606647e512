"""The agent on mock pins: journal first, restarts, the interlock relay and the alarm output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edge_agent.agent import Agent
from edge_agent.clock import ManualClock, iso_utc
from edge_agent.config import AgentConfig, parse_config
from edge_agent.journal import SCHEMA_VERSION, Journal

PINS = {"emission": 17, "request": 27, "generator_powered": 22, "light.powered": 23,
        "light.emission": 24, "door.corridor": 16}


def config(tmp_path: Path, relay: bool = False) -> AgentConfig:
    data: dict[str, Any] = {
        "device": {"site": "test", "room": "r1"},
        "pins": {"door": {"corridor": {"pin": 16, "active": "high"}},
                 "interlock_relay": {"enabled": relay, "pin": 6}},
        "probe": {"kind": "none"},
        "journal": {"path": str(tmp_path / "journal.db")},
    }
    return parse_config(data, "test")


class Room:
    """Drives the mock pins by signal name and steps the agent at each change."""

    def __init__(self, factory: MockFactory, clock: ManualClock) -> None:
        self.factory, self.clock = factory, clock
        self.agent: Agent | None = None

    def set(self, **signals: bool) -> None:
        for name, value in signals.items():
            signal = name.replace("light_", "light.").replace("door_", "door.")
            active_high = signal.startswith("door.")
            pin = self.factory.pin(PINS[signal])
            pin.drive_high() if value == active_high else pin.drive_low()

    def rest(self, **extra: bool) -> None:
        self.set(generator_powered=True, light_powered=True, request=False, emission=False,
                 light_emission=False, door_corridor=False)
        self.set(**extra)

    def run_to(self, t: float) -> None:
        assert self.agent is not None
        while True:
            wake = self.agent.next_wakeup()
            step = min(wake, t) if wake is not None else t
            self.clock.advance_to(max(step, self.clock.monotonic()))
            self.agent.step()
            if step >= t:
                return


def start(tmp_path: Path, clock: ManualClock, relay: bool = False, **initial: bool) -> Room:
    factory = MockFactory()
    room = Room(factory, clock)
    room.agent = Agent(config(tmp_path, relay), clock, pin_factory=factory,
                       on_pins_ready=lambda: room.rest(**initial))
    return room


def test_every_exposure_and_alarm_is_journaled(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)  # nobody asked
    room.run_to(3.0)
    room.set(emission=False, light_emission=False)
    room.run_to(5.0)
    assert room.agent is not None
    exposures, alarms = room.agent.journal.exposures(), room.agent.journal.alarms()
    assert [(e["state"], e["requested"], e["duration_s"]) for e in exposures] == [
        ("closed", 0, 2.0)]
    assert [(a["kind"], a["state"]) for a in alarms] == [("unsolicited_emission", "cleared")]
    assert alarms[0]["at_wall"] - clock.wall() + clock.monotonic() <= 1.0 + 0.1


def test_agent_killed_mid_exposure_closes_it_as_interrupted(
    tmp_path: Path, clock: ManualClock
) -> None:
    room = start(tmp_path, clock)
    room.set(request=True)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)
    room.run_to(25.0)  # the agent records it is alive every 10 s
    assert room.agent is not None
    room.agent.journal.db.conn.close()  # SIGKILL: nothing closed cleanly
    clock.advance(30.0)
    after = start(tmp_path, clock, request=False, emission=False)
    rows = after.agent.journal.exposures() if after.agent else []
    assert rows[0]["state"] == "interrupted" and rows[0]["interrupted"] == 1
    assert 19.0 <= rows[0]["duration_s"] <= 24.1


def test_restart_with_emission_on_is_a_resumed_exposure(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock, request=True, emission=True, light_emission=True)
    room.run_to(2.0)
    assert room.agent is not None
    rows = room.agent.journal.exposures()
    assert rows[0]["resumed"] == 1 and rows[0]["requested"] == 1
    assert room.agent.journal.alarms() == []


def test_restart_with_emission_on_and_no_request_is_unsolicited(
    tmp_path: Path, clock: ManualClock
) -> None:
    room = start(tmp_path, clock, emission=True, light_emission=True)
    room.run_to(1.0)
    assert room.agent is not None
    assert [a["kind"] for a in room.agent.journal.alarms()] == ["unsolicited_emission"]


def test_bouncing_door_during_emission_raises_one_alarm(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock)
    room.set(request=True)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)
    room.run_to(2.0)
    for i in range(7):  # 2 ms bounces of the contact, ending open
        room.set(door_corridor=i % 2 == 0)
        room.run_to(2.0 + (i + 1) * 0.002)
    room.run_to(3.0)
    assert room.agent is not None
    alarms = room.agent.journal.alarms()
    found = [(a["kind"], a["subject"]) for a in alarms]
    assert found == [("door_open_during_emission", "corridor")]
    raised = alarms[0]["at_wall"] - (clock.wall() - clock.monotonic())
    assert 2.0 <= raised <= 2.1


def test_interlock_relay_latches_open_until_reset(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock, relay=True)
    agent = room.agent
    assert agent is not None and agent.interlock is not None
    assert agent.interlock.energised
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)
    room.run_to(2.0)
    assert not agent.interlock.energised
    assert agent.reset_interlock("test") is False  # the critical alarm still holds
    room.set(emission=False, light_emission=False)
    room.run_to(4.0)
    assert not agent.interlock.energised  # latched open
    assert agent.journal.get_meta("interlock_latched") == "1"
    assert agent.reset_interlock("pcr") is True
    assert agent.interlock.energised


def test_latched_relay_stays_open_across_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock, relay=True)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)
    room.run_to(2.0)
    assert room.agent is not None
    room.agent.close()
    again = start(tmp_path, clock, relay=True)
    assert again.agent is not None and again.agent.interlock is not None
    assert not again.agent.interlock.energised


def test_alarm_output_is_on_while_an_alarm_holds(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock)
    agent = room.agent
    assert agent is not None and agent.alarm_output is not None
    room.set(light_powered=False)
    room.run_to(1.0)
    assert agent.alarm_output.is_on
    room.set(light_powered=True)
    room.run_to(2.0)
    assert not agent.alarm_output.is_on


def test_journal_command_shows_recent_records(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock)
    room.run_to(1.0)
    room.set(emission=True, light_emission=True)
    room.run_to(2.0)
    assert room.agent is not None
    room.agent.close()
    db = str(tmp_path / "journal.db")
    cmd = [sys.executable, "-m", "edge_agent.cli", "journal", "--db", db]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "unsolicited_emission" in text and "Last 1 exposures" in text
    data = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)
    assert data["alarms"][0]["kind"] == "unsolicited_emission"
    assert data["outbox"]["waiting"] == data["outbox"]["last_seq"] > 0  # no hub: all waiting
    oldest = data["outbox"]["oldest"]  # the first record, with the wall time of its event
    assert oldest["seq"] == 1 and oldest["queued"] <= clock.wall()
    assert f"Oldest waiting: seq 1 ({oldest['kind']}), made {iso_utc(oldest['queued'])}" in text


def test_journal_command_says_when_the_oldest_record_age_is_unknown(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    shutil.copy(Path(__file__).parent / "data" / "journal_v3.db", db)  # an older agent's
    cmd = [sys.executable, "-m", "edge_agent.cli", "journal", "--db", str(db)]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "14 record(s) waiting" in text
    assert "Oldest waiting: seq 4 (alarms), age unknown (queued by an older agent)" in text


def test_check_config_command(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[device]\nsite = "s"\nroom = "r"\n[pins.door.a]\npin = 16\n'
                    "[rules]\nlight_grace_s = -1\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "edge_agent.cli", "check-config", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "rules.light_grace_s" in result.stderr and str(path) in result.stderr


def test_check_config_reads_the_mqtt_password_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[device]\nsite = "chu"\nroom = "ir1"\n[pins.door.main]\npin = 16\n'
                    '[mqtt]\nhost = "hub"\npassword_file = "/nonexistent/secret"\n')
    cmd = [sys.executable, "-m", "edge_agent.cli", "check-config", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "mqtt.password_file" in result.stderr and "/nonexistent/secret" in result.stderr
    (tmp_path / "secret").write_text("s3cret\n")
    path.write_text(path.read_text().replace("/nonexistent/secret", str(tmp_path / "secret")))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "mqtt hub:1883" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr


def test_journal_reopens_existing_file(tmp_path: Path) -> None:
    first = Journal(tmp_path / "j.db")
    journal_id = first.journal_id
    first.close()
    journal = Journal(tmp_path / "j.db")
    assert journal.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert journal.journal_id == journal_id  # the sequence space survives a restart
    journal.close()


def test_short_fluoroscopy_pulses_are_seen_and_merged(tmp_path: Path, clock: ManualClock) -> None:
    room = start(tmp_path, clock)
    room.set(request=True)
    room.run_to(1.0)
    room.set(light_emission=True)
    for k in range(30):  # 15 pulses/s of 5 ms, shorter than any contact debounce
        t = 1.0 + k / 15
        room.run_to(t)
        room.set(emission=True)
        room.run_to(t + 0.005)
        room.set(emission=False)
    room.run_to(3.2)
    room.set(request=False, light_emission=False)
    room.run_to(5.0)
    assert room.agent is not None
    rows = room.agent.journal.exposures()
    assert [(r["state"], r["pulses"]) for r in rows] == [("closed", 30)]
    assert room.agent.journal.alarms() == []


def test_journal_command_never_creates_a_journal(tmp_path: Path) -> None:
    db = tmp_path / "var" / "journal.db"
    cmd = [sys.executable, "-m", "edge_agent.cli", "journal", "--db", str(db)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert str(db) in result.stderr and "no journal there" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_alarm_pins_are_set_before_any_journal_write(tmp_path: Path,
                                                           clock: ManualClock) -> None:
    """An alarm reaches the alarm output and the relay without waiting for the journal's
    fsyncs (issue 18: p99 < 5 ms from the edge); the journal's order is unchanged: the
    alarm's record, then the relay's latching."""
    room = start(tmp_path, clock, relay=True)
    agent = room.agent
    assert agent is not None and agent.alarm_output is not None and agent.interlock is not None
    room.run_to(1.0)
    seen: list[tuple[str, bool, bool]] = []
    record = agent.writer.record

    def watched(item: object) -> None:
        assert agent.alarm_output is not None and agent.interlock is not None
        seen.append((type(item).__name__, agent.alarm_output.is_on, agent.interlock.energised))
        record(item)  # type: ignore[arg-type]

    agent.writer.record = watched  # type: ignore[method-assign]
    room.set(emission=True, light_emission=True)  # no request: unsolicited
    room.run_to(2.0)
    names = [name for name, _on, _energised in seen]
    assert "AlarmRaised" in names, names
    assert seen[0][1:] == (True, False), seen  # pins set before the edge's first record
    assert names[-1] == "ChangeRecord" and names.index("AlarmRaised") < len(names) - 1
    kinds = [a["kind"] for a in agent.journal.alarms()]
    assert kinds == ["unsolicited_emission"]
    assert agent.journal.get_meta("interlock_latched") == "1"
