"""The fault tests' rig: a hub and simulated rooms as real processes around a real Mosquitto.

Every wait polls with a deadline; nothing sleeps a fixed time to let
something happen. The rooms are ``voyant-sim room`` processes (the real agent
on mock pins, a durable journal, the real publisher; the probe's firmware frames
handed to the agent's parser in process, ``--fast``: these tests are about the wire,
and tests/test_sim_modes.py holds the pty path to the same reports); the hub is
``voyant-hub run``. What the hub stored is compared
with the rooms' journals, the source of truth.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.broker.files import DeviceAccount
from sim.broker import Mosquitto
from tests.polling import DEADLINE_S, wait_until

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class Proc:
    """A child process whose output goes to a file the test can search."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self.args, self.log = list(args), log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        out = self.log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                      env=env)
        out.close()
        return self

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, after: int = 0, timeout: float = DEADLINE_S) -> int:
        """Wait until ``needle`` appears in the output past offset ``after``; return its end."""
        def found() -> bool:
            self._check_alive(needle)
            return needle in self.text()[after:]
        wait_until(found, f"{needle!r} in {self.log.name}", timeout)
        return self.text().index(needle, after) + len(needle)

    def _check_alive(self, needle: str) -> None:
        if self.popen is not None and self.popen.poll() is not None and needle not in self.text():
            raise AssertionError(f"{self.log.name} exited ({self.popen.returncode}):\n"
                                 f"{self.text()[-3000:]}")

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(30)

    def wait(self, timeout: float = DEADLINE_S) -> int:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.log.name} still running:\n{self.text()[-3000:]}") from None

    def close(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@dataclass
class Rig:
    """A broker, a hub configuration and room configurations in one directory."""

    directory: Path
    broker: Mosquitto

    def secret(self, username: str) -> Path:
        path = self.directory / f"{username}.password"
        path.write_text(self.broker.accounts[username].password + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def hub_config(self, **ingest: Any) -> Path:
        path = self.directory / "hub.toml"
        settings = {"gap_timeout_s": 5.0, **ingest}
        lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {self.broker.port}",
                 'username = "hub"', f'password_file = "{self.secret("hub")}"',
                 "reconnect_min_s = 0.05", "reconnect_max_s = 0.5", "",
                 "[broker]", f'devices = "{self.devices_file()}"', "",
                 "[store]", f'path = "{self.directory / "hub.db"}"', "", "[ingest]"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        lines += ["", "[web]", "port = 0"]  # any free port: tests run side by side
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def devices_file(self) -> Path:
        """The hub's registry of rooms: the broker's device accounts, as provisioned."""
        path = self.directory / "devices.toml"
        lines = []
        for account in self.broker.accounts.values():
            if isinstance(account, DeviceAccount):
                lines += [f'[devices."{account.username}"]', f'site = "{account.site}"',
                          f'room = "{account.room}"', ""]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    def room_config(self, device: DeviceAccount) -> Path:
        path = self.directory / f"{device.username}.toml"
        path.write_text("\n".join([
            "[device]", f'site = "{device.site}"', f'room = "{device.room}"',
            f'id = "{device.username}"', "", "[pins.door.corridor]", "pin = 16", "",
            "[mqtt]", 'host = "127.0.0.1"', f"port = {self.broker.port}",
            f'username = "{device.username}"',
            f'password_file = "{self.secret(device.username)}"',
            "keepalive_s = 5", "reconnect_min_s = 0.05", "reconnect_max_s = 0.5",
            "ack_timeout_s = 1.0", "heartbeat_s = 1.0", "",
        ]), encoding="utf-8")
        return path

    @property
    def hub_db(self) -> Path:
        return self.directory / "hub.db"

    def journal(self, device: DeviceAccount) -> Path:
        return self.directory / f"{device.username}.journal.db"

    def hub(self, name: str = "hub") -> Proc:
        config = self.hub_config() if not (self.directory / "hub.toml").exists() else (
            self.directory / "hub.toml")
        return Proc([sys.executable, "-m", "hub.cli", "run", "--config", str(config)],
                    self.directory / f"{name}.log").start()

    def room(self, device: DeviceAccount, scenario: str, *, speed: float | None = None,
             repeat: int = 1, linger: float = DEADLINE_S, log: str | None = None) -> Proc:
        """A room playing a scenario of tests/scenarios, its probe in process (``--fast``:
        the pty costs a paced hour of work about a fifth of the room's CPU)."""
        return self.room_file(device, SCENARIOS / f"{scenario}.toml", speed=speed,
                              repeat=repeat, linger=linger, log=log, fast=True)

    def room_file(self, device: DeviceAccount, scenario: Path, *, speed: float | None = None,
                  repeat: int = 1, linger: float = DEADLINE_S, log: str | None = None,
                  report: Path | None = None, fast: bool = False, durable: bool = True) -> Proc:
        """``voyant-sim room`` playing any scenario file (the library's, or one written here);
        ``report``: where it writes its last run's report (``voyant-sim run --json``'s);
        ``fast``: the probe's frames in process (the same agent code, no pty);
        ``durable=False``: its journal commits without fsync (``--no-fsync``)."""
        args = [sys.executable, "-m", "sim.cli", "room", str(scenario),
                "--config", str(self.room_config(device)), "--journal", str(self.journal(device)),
                "--repeat", str(repeat), "--linger", str(linger)]
        if speed is not None:
            args += ["--speed", str(speed)]
        if report is not None:
            args += ["--report", str(report)]
        if fast:
            args.append("--fast")
        if not durable:
            args.append("--no-fsync")
        return Proc(args, self.directory / f"{log or device.username}.log").start()


# -- what was recorded -------------------------------------------------------------------

def rows(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def journal_id(journal: Path) -> str:
    """The journal's id ('' while the room is still creating its journal)."""
    try:
        found = rows(journal, "SELECT value FROM meta WHERE key = 'journal_id'")
    except sqlite3.OperationalError:
        return ""
    return str(found[0][0]) if found else ""


def last_seq(journal: Path) -> int:
    found = rows(journal, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
    return int(found[0][0]) if found else 0


def hub_upto(hub_db: Path, device: str, journal: str) -> int:
    if not hub_db.exists():
        return 0
    try:
        found = rows(hub_db, "SELECT upto FROM journals WHERE device = ? AND journal = ?",
                     [device, journal])
    except sqlite3.OperationalError:
        return 0
    return int(found[0][0]) if found else 0


def assert_hub_holds_the_journal(hub_db: Path, device: str, journal: Path) -> None:
    """Every reading, exposure and alarm of the journal is at the hub, once, as journaled."""
    jid = journal_id(journal)
    last = last_seq(journal)
    seqs = [r[0] for r in rows(hub_db, "SELECT seq FROM received WHERE device = ? AND journal = ?"
                               " ORDER BY seq", [device, jid])]
    assert seqs == list(range(1, last + 1)), "the hub's sequence is not exactly 1..last"
    mine = rows(journal, "SELECT run, start, end, counts FROM readings ORDER BY id")
    theirs = rows(hub_db, "SELECT run, start, end, counts FROM readings WHERE device = ? AND"
                  " journal = ? ORDER BY seq", [device, jid])
    assert theirs == mine, f"readings differ: hub {len(theirs)}, journal {len(mine)}"
    mine = rows(journal, "SELECT run, number, state, start, end, requested FROM exposures"
                " ORDER BY run, number")
    theirs = rows(hub_db, "SELECT run, number, CASE event WHEN 'opened' THEN 'open' ELSE event"
                  " END, start, end, requested FROM exposures WHERE device = ? AND journal = ?"
                  " ORDER BY run, number", [device, jid])
    assert theirs == mine
    mine = rows(journal, "SELECT run, number, kind, at, cleared, state FROM alarms"
                " ORDER BY run, number")
    theirs = rows(hub_db, "SELECT run, number, kind, at, cleared, CASE event WHEN 'raised' THEN"
                  " 'active' ELSE event END FROM alarms WHERE device = ? AND journal = ?"
                  " ORDER BY run, number", [device, jid])
    assert theirs == mine


def first_arrival_in_order(hub_db: Path, device: str, journal: Path) -> bool:
    """Records of each kind were first stored in sequence order (stored_at never goes back).
    Across kinds it may: the agent sends alarms and exposures first, and each round one
    batch per kind, so a reading may arrive after a later alarm or input change."""
    found = rows(hub_db, "SELECT kind, stored_at FROM received WHERE device = ?"
                 " AND journal = ? ORDER BY seq", [device, journal_id(journal)])
    return all(all(a <= b for a, b in itertools.pairwise([at for k, at in found if k == kind]))
               for kind in {k for k, _ in found})


# -- the hub equal to the journal, field by field --------------------------------------------

#: The journal's state of an exposure or alarm, as the hub's latest event for it names it.
_EVENT_STATE = {"opened": "open", "closed": "closed", "raised": "active", "cleared": "cleared",
                "interrupted": "interrupted"}
#: Columns both sides keep as JSON text (compared as the lists they hold).
_JSON_COLUMNS = frozenset({"doors_open", "alarms"})
#: Columns of the same name that mean something else on each side (compared by meaning).
_NOT_SHARED = frozenset({"id", "state", "exposure"})
CLOSING_LINE = re.compile(r"^outbox: last seq (\d+), acknowledged (\d+)$", re.MULTILINE)


def closing_line(text: str) -> tuple[int, int]:
    """``voyant-sim room``'s last word: (last seq, acknowledged)."""
    found = CLOSING_LINE.findall(text)
    assert found, f"no closing line 'outbox: last seq N, acknowledged M' in:\n{text[-3000:]}"
    last, acked = found[-1]
    return int(last), int(acked)


def outbox_seqs(journal: Path) -> list[int]:
    """The sequence numbers still waiting in the journal's outbox."""
    return [r[0] for r in rows(journal, "SELECT seq FROM outbox ORDER BY seq")]


def _columns(path: Path, table: str) -> list[str]:
    return [r[1] for r in rows(path, f"PRAGMA table_info({table})")]


def _shared(journal: Path, hub_db: Path, table: str) -> list[str]:
    theirs = set(_columns(hub_db, table))
    return [c for c in _columns(journal, table) if c in theirs and c not in _NOT_SHARED]


def _value(column: str, value: Any) -> Any:
    """One value as comparable: booleans as 0/1, JSON lists parsed (times stay text)."""
    if isinstance(value, bool):
        return int(value)
    if column in _JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    return value


def _table(path: Path, sql: str, columns: Sequence[str], params: Sequence[Any] = ()
           ) -> list[dict[str, Any]]:
    return [{c: _value(c, v) for c, v in zip(columns, row, strict=True)}
            for row in rows(path, sql, params)]


def _differences(what: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
                 ) -> list[str]:
    out = [f"{what}: journal {len(mine)}, hub {len(theirs)}"] if len(mine) != len(theirs) else []
    for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        out += [f"{what} #{i} ({a.get('run')}, {a.get('number', a.get('start'))}) {c}:"
                f" journal {a[c]!r}, hub {b.get(c)!r}" for c in a if a[c] != b.get(c)]
    return out


def hub_journal_differences(hub_db: Path, device: str, journal: Path) -> list[str]:
    """Every way the hub's records of ``device`` differ from its journal (empty: equal).

    Every column the two tables share is compared (so a column either side adds is
    compared from then on); readings and input changes in sequence order, exposures and
    alarms by (run, number) in their latest state, and each record's hash (the hub's
    ``received.hash``, the journal's ``chain``). The journal's ``state`` is compared with the
    hub's latest event, and an alarm's exposure (a row id in the journal) by number.
    """
    jid = journal_id(journal)
    who = [device, jid]
    cols = _shared(journal, hub_db, "readings")
    out = _differences(
        "reading",
        _table(journal, f"SELECT {', '.join(cols)} FROM readings ORDER BY id", cols),
        _table(hub_db, f"SELECT {', '.join(cols)} FROM readings WHERE device = ? AND"
               " journal = ? ORDER BY seq", cols, who))
    cols = _shared(journal, hub_db, "exposures")
    listed = ", ".join(cols)
    out += _differences(
        "exposure",
        _table(journal, f"SELECT {listed}, state FROM exposures ORDER BY run, number",
               [*cols, "state"]),
        [{**r, "state": _EVENT_STATE[r["state"]]} for r in _table(
            hub_db, f"SELECT {listed}, event FROM exposures WHERE device = ? AND journal = ?"
            " ORDER BY run, number", [*cols, "state"], who)])
    cols = [f"a.{c}" for c in _shared(journal, hub_db, "alarms")]
    names = [c[2:] for c in cols]
    out += _differences(
        "alarm",
        _table(journal, f"SELECT {', '.join(cols)}, a.state, e.number FROM alarms a LEFT JOIN"
               " exposures e ON e.id = a.exposure ORDER BY a.run, a.number",
               [*names, "state", "exposure"]),
        [{**r, "state": _EVENT_STATE[r["state"]]} for r in _table(
            hub_db, f"SELECT {', '.join(names)}, event, exposure FROM alarms WHERE device = ?"
            " AND journal = ? ORDER BY run, number", [*names, "state", "exposure"], who)])
    cols = _shared(journal, hub_db, "changes")
    if cols:  # a journal made before the change records has none
        quoted = ", ".join(f'"{c}"' for c in cols)
        out += _differences(
            "change",
            _table(journal, f"SELECT {quoted} FROM changes ORDER BY seq, id", cols),
            _table(hub_db, f"SELECT {quoted} FROM changes WHERE device = ? AND journal = ?"
                   " ORDER BY seq", cols, who))
    return out + chain_differences(hub_db, device, journal)


def chain_differences(hub_db: Path, device: str, journal: Path) -> list[str]:
    """Where the hub's hash of a record (``received.hash``) is not the journal's own (its
    ``chain`` table), or missing; empty when every hash agrees."""
    jid = journal_id(journal)
    if "chain" not in {r[0] for r in rows(journal, "SELECT name FROM sqlite_master")}:
        return ["the journal has no chain table"]
    mine = {int(s): str(h) for s, h in rows(journal, "SELECT seq, hash FROM chain")}
    theirs = dict(rows(hub_db, "SELECT seq, hash FROM received WHERE device = ? AND"
                       " journal = ?", [device, jid]))
    out = [f"hash of seq {seq}: journal {digest}, hub {theirs.get(seq)}"
           for seq, digest in sorted(mine.items()) if theirs.get(seq) != digest]
    out += [f"hash of seq {seq}: the hub kept none" for seq, digest in sorted(theirs.items())
            if digest is None]
    if theirs and not mine:
        out.append("the journal's chain table is empty")
    return out


def assert_hub_equals_journal(hub_db: Path, device: str, journal: Path) -> None:
    """The hub holds exactly the journal's records (seqs 1..last, field by field), and
    refused none of them."""
    jid = journal_id(journal)
    seqs = [r[0] for r in rows(hub_db, "SELECT seq FROM received WHERE device = ? AND"
                               " journal = ? ORDER BY seq", [device, jid])]
    last = last_seq(journal)
    assert seqs == list(range(1, last + 1)), (
        f"the hub holds {len(seqs)} records of {device}, the journal made {last}")
    quarantined = rows(hub_db, "SELECT seq, reason FROM quarantine WHERE device = ?", [device])
    assert quarantined == [], f"quarantined at the hub: {quarantined[:5]}"
    differences = hub_journal_differences(hub_db, device, journal)
    assert differences == [], "\n".join(differences[:20])
