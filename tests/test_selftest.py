"""``voyant-edge selftest`` on mock pins, the pty probe and a real Mosquitto.

The journal check reads the journal without ever creating or writing a file: a
self-test run with ``sudo`` once left root-owned ``journal.db``/``-wal``/``-shm``
behind, and the agent (user ``voyant``) then failed at every start.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent import cli
from edge_agent.config import AgentConfig, parse_config
from edge_agent.journal import Journal
from edge_agent.selftest import Report, render_table, run_selftest
from edge_agent.selftest_checks import Item
from edge_agent.selftest_journal import (
    FREE_FAIL_BYTES,
    FREE_WARN_BYTES,
    check_journal,
    space_verdict,
    writable_by,
)
from sim.broker import Mosquitto
from sim.probe_pty import PtyProbe

PIN = {"emission": 17, "request": 27, "generator_powered": 22, "light_powered": 23,
       "light_emission": 24, "door": 16}
#: The user running the tests plays the agent's user (``voyant`` on a Pi).
ME = pwd.getpwuid(os.getuid()).pw_name


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
                password: str | None = None, journal: bool = True) -> AgentConfig:
    """The test room's configuration; ``journal``: the agent has made its journal already."""
    if journal:
        make_journal(tmp_path / "journal.db")
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


def make_journal(path: Path, waiting: int = 0) -> Journal:
    """A journal as the agent leaves it at a clean stop, with ``waiting`` outbox records."""
    journal = Journal(path)
    queue_records(journal, waiting)
    journal.close()
    return journal


def queue_records(journal: Journal, n: int) -> None:
    with journal.db.conn:
        for _ in range(n):
            journal.db.execute("INSERT INTO outbox (kind, item) VALUES ('readings', '{}')")


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
                              pin_factory=mock_factory, clock_probe=lambda: True,
                              agent_user=ME)
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
                          timeout_s=1.0, pin_factory=mock_factory, clock_probe=lambda: False,
                          agent_user=ME)
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
    code = cli.main(["selftest", "--config", str(config), "--json", "--timeout", "0.5",
                     "--agent-user", ME])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["verdict"] == "FAIL" and out["device"] == "chu.ir1"
    lamps = next(i for i in out["items"] if i["name"] == "lamp feedback")
    assert lamps["verdict"] == "FAIL" and "emission lamp reads lit" in lamps["detail"]
    journal = next(i for i in out["items"] if i["name"] == "journal")
    assert journal["verdict"] == "FAIL" and "missing" in journal["detail"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.toml"]  # no journal made


# -- the journal, read-only --------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder``: its bytes and modification time (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def journal_config(folder: Path) -> AgentConfig:
    return parse_config({
        "device": {"site": "chu", "room": "ir1"},
        "pins": {"door": {"corridor": {"pin": 16, "active": "high"}}},
        "probe": {"kind": "none"}, "journal": {"path": str(folder / "journal.db")},
    }, "test")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The journal's folder, /var/lib/voyant on a Pi."""
    path = tmp_path / "state"
    path.mkdir()
    return path


def test_a_missing_journal_fails_and_is_not_created(folder: Path) -> None:
    item = check_journal(journal_config(folder), ME)
    assert item.verdict == "FAIL" and "missing" in item.detail and "never creates" in item.detail
    assert list(folder.iterdir()) == []


def test_a_cleanly_closed_journal_passes_untouched(folder: Path) -> None:
    make_journal(folder / "journal.db", waiting=3)
    assert [p.name for p in folder.iterdir()] == ["journal.db"]  # no -wal/-shm after a stop
    before = snapshot(folder)
    item = check_journal(journal_config(folder), ME)
    assert item.verdict == "PASS", item.detail
    assert "integrity_check ok" in item.detail and "outbox 3 record(s) waiting" in item.detail
    assert f"writable by {ME}" in item.detail
    assert snapshot(folder) == before  # same files, same bytes, same mtimes: nothing new


def test_a_journal_held_open_is_read_with_its_wal_and_nothing_is_added(folder: Path) -> None:
    """The agent still has it open (or died): -wal and -shm exist, the WAL holds the latest
    records; the self-test reads them and adds no file."""
    journal = Journal(folder / "journal.db")
    try:
        queue_records(journal, 2)
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["journal.db", "journal.db-shm", "journal.db-wal"]
        db_before = snapshot(folder)["journal.db"]
        item = check_journal(journal_config(folder), ME)
        assert sorted(p.name for p in folder.iterdir()) == names
        assert snapshot(folder)["journal.db"] == db_before
    finally:
        journal.close()
    assert item.verdict == "PASS", item.detail
    assert "outbox 2 record(s) waiting" in item.detail


def crash_copy(live: Path, folder: Path, *, checkpoint: bool) -> None:
    """The journal's files as a crash leaves them, minus the -shm; 2 records in the WAL.

    ``checkpoint``: the schema reached the main file (an agent that ran a while), else it
    is in the WAL too (one that died soon after its first start)."""
    journal = Journal(live)
    if checkpoint:
        journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    queue_records(journal, 2)
    for suffix in ("", "-wal"):
        shutil.copy(f"{live}{suffix}", f"{folder / 'journal.db'}{suffix}")
    journal.close()


@pytest.mark.parametrize("checkpoint", [True, False])
def test_a_wal_without_its_shm_is_not_read_and_says_so(folder: Path, tmp_path: Path,
                                                       checkpoint: bool) -> None:
    """A read-only open of a WAL without its -shm would create the -shm: the self-test
    reads the main file alone instead, and warns that it did."""
    crash_copy(tmp_path / "live.db", folder, checkpoint=checkpoint)
    before = snapshot(folder)
    item = check_journal(journal_config(folder), ME)
    assert item.verdict == "WARN" and "was not read" in item.detail, item.detail
    if checkpoint:
        assert "outbox 0 record(s)" in item.detail and "count may be behind" in item.detail
    else:
        assert "start the service once" in item.detail
    assert snapshot(folder) == before


def test_a_journal_the_agent_cannot_write_fails(folder: Path) -> None:
    make_journal(folder / "journal.db")
    os.chmod(folder / "journal.db", 0o644)  # this user's, read-only for everyone else
    before = snapshot(folder)
    item = check_journal(journal_config(folder), "nobody")
    assert item.verdict == "FAIL" and "not writable by nobody" in item.detail, item.detail
    assert "sudo chown -R nobody:" in item.detail
    os.chmod(folder / "journal.db", 0o666)
    os.chmod(folder, 0o777)
    assert check_journal(journal_config(folder), "nobody").verdict == "PASS"
    assert snapshot(folder) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_root_owned_shm_left_by_sudo_fails(folder: Path) -> None:
    """The failure this check exists for: the agent's journal, a -shm that is root's."""
    nobody = pwd.getpwnam("nobody")
    journal = Journal(folder / "journal.db")
    try:
        queue_records(journal, 1)
        for p in [folder, *folder.iterdir()]:
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        os.chown(folder / "journal.db-shm", 0, 0)
        os.chmod(folder / "journal.db-shm", 0o644)
        item = check_journal(journal_config(folder), "nobody")
    finally:
        journal.close()
    assert item.verdict == "FAIL", item.detail
    assert "journal.db-shm (root -rw-r--r--) is not writable by nobody" in item.detail


def test_a_file_that_is_not_a_journal_fails(folder: Path) -> None:
    (folder / "journal.db").write_bytes(b"not a database at all" * 100)
    item = check_journal(journal_config(folder), ME)
    assert item.verdict == "FAIL" and "cannot be read as a journal" in item.detail
    conn = sqlite3.connect(folder / "other.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    os.replace(folder / "other.db", folder / "journal.db")
    item = check_journal(journal_config(folder), ME)
    assert item.verdict == "FAIL" and "not a Voyant journal" in item.detail


def test_an_unknown_agent_user_fails(folder: Path) -> None:
    make_journal(folder / "journal.db")
    item = check_journal(journal_config(folder), "no-such-user-voyant")
    assert item == Item("journal", "FAIL", item.detail) and "--agent-user" in item.detail


def mode(bits: int, uid: int = 1000, gid: int = 1000, directory: bool = False) -> os.stat_result:
    kind = stat.S_IFDIR if directory else stat.S_IFREG
    return os.stat_result((kind | bits, 0, 0, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize(("st", "uid", "gids", "directory", "expected"), [
    (mode(0o600), 1000, {1000}, False, True),  # the owner's
    (mode(0o400), 1000, {1000}, False, False),
    (mode(0o460), 1000, {1000}, False, False),  # owner bits alone apply to the owner
    (mode(0o640, uid=0), 1000, {1000}, False, False),  # root's, group may only read
    (mode(0o660, uid=0), 1000, {1000}, False, True),  # root's, group-writable
    (mode(0o644, uid=0, gid=0), 1000, {1000}, False, False),  # the sudo leftover
    (mode(0o666, uid=0, gid=0), 1000, {1000}, False, True),
    (mode(0o644, uid=0, gid=0), 0, {0}, False, True),  # root writes anything
    (mode(0o750, directory=True), 1000, {1000}, True, True),
    (mode(0o650, directory=True), 1000, {1000}, True, False),  # no search: cannot create
    (mode(0o570, uid=0, directory=True), 1000, {1000}, True, True),
])
def test_writable_by_follows_the_mode_bits(st: os.stat_result, uid: int, gids: set[int],
                                          directory: bool, expected: bool) -> None:
    assert writable_by(st, uid, gids, directory=directory) is expected


def test_free_space_thresholds() -> None:
    assert space_verdict(FREE_FAIL_BYTES - 1)[0][0] == "FAIL"
    assert space_verdict(FREE_WARN_BYTES - 1)[0][0] == "WARN"
    assert space_verdict(FREE_WARN_BYTES) == []
