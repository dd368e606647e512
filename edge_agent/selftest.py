"""``voyant-edge selftest``: the checks of a commissioning record, one verdict per item.

Inputs (each readable, none stuck in an implausible state at rest), lamp
feedback, probe link, journal, broker and clock synchronisation, each PASS,
WARN or FAIL with what was seen; the overall verdict is the worst. Run it with
the room at rest and the ``voyant-edge`` service stopped (it holds the GPIO
lines and the probe's port), as the service's user::

    sudo -u voyant voyant-edge selftest --config /etc/voyant/agent.toml

The journal is only ever *read*: the self-test neither creates it nor writes
to it, and leaves no file behind (a journal, ``-wal`` or ``-shm`` made by a
self-test run with ``sudo`` would be root's, and the agent, user ``voyant``,
would then fail at every start). Whether the agent can write it is judged
from the owner and mode bits for the agent's user, and from the free space.
"""

from __future__ import annotations

import json
import os
import platform
import pwd
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.clock import SystemClock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.errors import ConfigError
from edge_agent.inputs import SignalInput, _device_class
from edge_agent.journal import SCHEMA_VERSION
from edge_agent.probe.gpio_counter import GpioPulseProbe
from edge_agent.probe.sample import ProbeSample
from edge_agent.probe.serial_link import SerialProbeLink
from edge_agent.publisher import read_password
from edge_agent.timesync import ClockProbe, system_clock_synced
from wire import contract as wire

Verdict = Literal["PASS", "WARN", "FAIL"]
_RANK = {"PASS": 0, "WARN": 1, "FAIL": 2}
#: An outbox holding more records than this suggests the hub does not acknowledge.
BACKLOG_WARN = 1000
#: Serial probe: good frames needed for a PASS.
FRAMES_NEEDED = 3
BUSY_HINT = " (is the voyant-edge service running? stop it for the self-test)"
#: The service's ``User=`` (hardware/systemd/voyant-edge.service): the journal must be its to write.
AGENT_USER = "voyant"
#: Free space next to the journal below which the agent's next writes (and the WAL
#: checkpoints, which need room for a copy of the WAL) are at risk: FAIL, then WARN.
FREE_FAIL_BYTES = 10_000_000
FREE_WARN_BYTES = 100_000_000
#: The tables every journal has (edge_agent.journal); a file without them is not one.
JOURNAL_TABLES = frozenset({"meta", "runs", "exposures", "alarms", "readings", "outbox"})


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    verdict: Verdict
    detail: str


@dataclass
class Report:
    at: str
    device: str
    site: str
    room: str
    versions: dict[str, str]
    items: list[Item] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        worst: Verdict = "PASS"
        for item in self.items:
            if _RANK[item.verdict] > _RANK[worst]:
                worst = item.verdict
        return worst

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def run_selftest(
    config: AgentConfig, *, timeout_s: float = 10.0, pin_factory: Any = None,
    clock_probe: ClockProbe = system_clock_synced, agent_user: str = AGENT_USER,
) -> Report:
    report = Report(iso_utc(time.time()), config.device.device_id, config.device.site,
                    config.device.room, versions())
    values, items = check_inputs(config, pin_factory)
    report.items += items
    report.items.append(check_lamps(values))
    report.items.append(check_probe(config, timeout_s, pin_factory))
    report.items.append(check_journal(config, agent_user))
    report.items.append(check_broker(config, timeout_s))
    report.items.append(check_clock(clock_probe))
    return report


def versions() -> dict[str, str]:
    out = {}
    for name in ("voyant", "gpiozero", "paho-mqtt", "pyserial"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    out["kernel"] = platform.release()
    return out


# -- inputs and lamps ----------------------------------------------------------------------

#: Inputs that must not be active with the room at rest, and how bad it is if one is.
_AT_REST: dict[str, tuple[Verdict, str]] = {
    "emission": ("FAIL", "emission active at rest: stuck, mis-wired, or an exposure running"),
    "request": ("WARN", "exposure request active at rest: stuck switch?"),
}


def check_inputs(config: AgentConfig, pin_factory: Any) -> tuple[dict[str, bool], list[Item]]:
    """Each configured input read once; the values for the lamp check."""
    values: dict[str, bool] = {}
    problems: list[tuple[Verdict, str]] = []
    for signal, spec in config.pins.inputs().items():
        device: SignalInput | None = None
        try:
            device = _device_class(signal)(spec, pin_factory=pin_factory)
            values[signal] = bool(device.is_active)
        except Exception as exc:  # gpiozero's and the backend's errors alike
            problems.append(("FAIL", f"{signal} (GPIO{spec.pin}) unreadable: {exc}{BUSY_HINT}"))
        finally:
            if device is not None:
                device.close()
    for signal, (verdict, why) in _AT_REST.items():
        if values.get(signal):
            problems.append((verdict, why))
    shown = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in values.items())
    if not problems:
        return values, [Item("inputs", "PASS", f"{len(values)} readable: {shown}")]
    worst: Verdict = "FAIL" if any(v == "FAIL" for v, _ in problems) else "WARN"
    return values, [Item("inputs", worst, "; ".join(p for _, p in problems)
                         + (f" [{shown}]" if shown else ""))]


def check_lamps(values: dict[str, bool]) -> Item:
    """The 'powered' lamp lit while the generator is powered; the 'emission' lamp off at rest."""
    powered, lamp_powered = values.get("generator_powered"), values.get("light.powered")
    lamp_emission = values.get("light.emission")
    if powered is None or lamp_powered is None or lamp_emission is None:
        return Item("lamp feedback", "FAIL", "lamp or generator input unreadable")
    problems: list[tuple[Verdict, str]] = []
    if lamp_emission and not values.get("emission"):
        problems.append(("FAIL", "emission lamp reads lit at rest"))
    if powered and not lamp_powered:
        problems.append(("FAIL", "generator powered but its warning lamp reads off"))
    if not powered:
        problems.append(("WARN", "generator off: power it on to check the 'powered' lamp"
                         + (" (the lamp reads lit without it)" if lamp_powered else "")))
    if not problems:
        return Item("lamp feedback", "PASS", "powered lamp lit with the generator powered,"
                    " emission lamp off")
    worst: Verdict = "FAIL" if any(v == "FAIL" for v, _ in problems) else "WARN"
    return Item("lamp feedback", worst, "; ".join(p for _, p in problems))


# -- probe -----------------------------------------------------------------------------------


def check_probe(config: AgentConfig, timeout_s: float, pin_factory: Any) -> Item:
    probe = config.probe
    if probe.kind == "none":
        return Item("probe link", "WARN", "no probe configured ([probe] kind = \"none\")")
    clock = SystemClock()
    if probe.kind == "serial":
        return _serial_probe(probe.port, probe.frame_s, clock, timeout_s)
    return _gpio_probe(config, clock, timeout_s, pin_factory)


def _serial_probe(port: str, frame_s: float, clock: SystemClock, timeout_s: float) -> Item:
    link = SerialProbeLink(port, clock, frame_s=frame_s, reopen_interval_s=timeout_s + 1)
    try:
        if link.fileno() is None:
            return Item("probe link", "FAIL", f"cannot open {port}{BUSY_HINT}")
        samples: list[ProbeSample] = []
        deadline = time.monotonic() + timeout_s
        while len(samples) < FRAMES_NEEDED and time.monotonic() < deadline:
            link.wait_readable(min(0.2, max(deadline - time.monotonic(), 0.0)))
            samples += link.poll()
        stats = link.stats()
    finally:
        link.close()
    crc = stats.get("crc_errors", 0) + stats.get("bad_frames", 0)
    if not samples:
        return Item("probe link", "FAIL", f"{port}: no valid frame within {timeout_s:g} s"
                    f" ({stats.get('bytes_read', 0)} bytes, {crc} bad frame(s))")
    counts = sum(s.counts for s in samples)
    detail = (f"{port}: {stats.get('frames_ok', len(samples))} frame(s) with good CRC,"
              f" {counts} count(s), {crc} bad frame(s)")
    if not all(s.hv_ok for s in samples):
        return Item("probe link", "FAIL", detail + "; high voltage NOT OK")
    faults = sorted({s.fault for s in samples if s.fault})
    if faults:
        return Item("probe link", "FAIL", detail + f"; probe reports {', '.join(faults)}")
    if len(samples) < FRAMES_NEEDED or crc:
        return Item("probe link", "WARN", detail + "; HV OK")
    return Item("probe link", "PASS", detail + "; HV OK")


def _gpio_probe(config: AgentConfig, clock: SystemClock, timeout_s: float,
                pin_factory: Any) -> Item:
    probe = config.probe
    try:
        counter = GpioPulseProbe(probe.pin, clock, pin_factory=pin_factory, frame_s=probe.frame_s)
    except Exception as exc:
        return Item("probe link", "FAIL", f"GPIO{probe.pin} unusable: {exc}{BUSY_HINT}")
    try:
        counter.poll()
        time.sleep(timeout_s)
        pulses = counter.stats()["pulses"]
    finally:
        counter.close()
    sensitivity = calibration_from_config(config).sensitivity_cpm_per_usv_h
    expected = probe.background_usv_h * sensitivity / 60.0 * timeout_s
    detail = (f"GPIO{probe.pin}: {pulses} pulse(s) in {timeout_s:g} s"
              f" (about {expected:.1f} expected at background)")
    if pulses:
        return Item("probe link", "PASS", detail)
    return Item("probe link", "FAIL" if expected >= 10 else "WARN",
                detail + ("; run it longer (--timeout) to tell" if expected < 10 else ""))


# -- journal, broker, clock ------------------------------------------------------------------


def check_journal(config: AgentConfig, agent_user: str = AGENT_USER) -> Item:
    """The journal, read-only: present, intact, a Voyant journal, its outbox, and
    writable by the agent's user with room to grow. Never creates nor writes a file."""
    path = config.journal.path
    if not os.path.isfile(path):
        return Item("journal", "FAIL", f"{path}: missing (the self-test never creates it; the"
                    " agent makes it at its first start: start the service once, stop it, and"
                    " run the self-test again). A wrong [journal] path?")
    try:
        user = pwd.getpwnam(agent_user)
    except KeyError:
        return Item("journal", "FAIL", f"no user {agent_user!r} to check the journal's owner"
                    " for (the service's User=; --agent-user NAME)")
    if not os.access(path, os.R_OK):
        return Item("journal", "FAIL", f"{path}: not readable by this user (run the self-test"
                    f" as the agent's: sudo -u {agent_user} voyant-edge selftest ...)")
    try:
        facts = read_journal(path)
    except sqlite3.Error as exc:
        return Item("journal", "FAIL", f"{path}: cannot be read as a journal: {exc}")
    access = access_problems(path, user)
    fs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    problems = facts.problems() + access + space_problems(fs)
    detail = facts.summary() + ("" if access else f", writable by {agent_user}")
    detail += f", {fs.f_bavail * fs.f_frsize / 1e9:.1f} GB free"
    if not problems:
        return Item("journal", "PASS", detail)
    worst: Verdict = "FAIL" if any(v == "FAIL" for v, _ in problems) else "WARN"
    return Item("journal", worst, detail + "; " + "; ".join(p for _, p in problems))


@dataclass(frozen=True, slots=True)
class JournalFacts:
    """What a read-only look at the journal found."""

    path: str
    missing_tables: frozenset[str]
    check: str = "not run"  # PRAGMA integrity_check: "ok" or the first problem
    schema_version: int | None = None
    journal_id: str | None = None
    waiting: int = 0
    last_seq: int = 0
    wal_bytes: int = 0
    wal_unread: bool = False  # a WAL without its -shm, left unread (see open_read_only)

    def summary(self) -> str:
        return (f"{self.path}: opened read-only, integrity_check {self.check},"
                f" schema {self.schema_version}, {os.path.getsize(self.path) / 1e6:.1f} MB"
                f" + WAL {self.wal_bytes} B, outbox {self.waiting} record(s) waiting"
                f" (last seq {self.last_seq})")

    def problems(self) -> list[tuple[Verdict, str]]:
        unread = (f"a WAL of {self.wal_bytes} B without its -shm was not read (the agent did"
                  " not stop cleanly and replays it at its next start)")
        if self.missing_tables and self.wal_unread:  # the schema may still be in the WAL
            return [("WARN", unread + ": start the service once, stop it, and run again")]
        if self.missing_tables:
            return [("FAIL", "not a Voyant journal (no table "
                     + ", ".join(sorted(self.missing_tables)) + ")")]
        out: list[tuple[Verdict, str]] = []
        if self.check != "ok":
            out.append(("FAIL", f"integrity_check: {self.check}"))
        if self.schema_version is not None and self.schema_version > SCHEMA_VERSION:
            out.append(("WARN", f"schema {self.schema_version} is newer than this agent's"
                        f" ({SCHEMA_VERSION}): an older voyant installed over a newer one?"))
        if self.journal_id is None:
            out.append(("WARN", "no journal_id: the agent will start a new sequence space"))
        if self.wal_unread:
            out.append(("WARN", unread + ": the outbox count may be behind"))
        if self.waiting > BACKLOG_WARN:
            out.append(("WARN", "is the hub acknowledging?"))
        return out


def open_read_only(path: str) -> sqlite3.Connection:
    """A connection that can neither create nor change a file.

    ``mode=ro`` alone is not enough in WAL mode: on a journal closed cleanly (no
    ``-wal``/``-shm`` beside it) SQLite *creates* both and leaves them, owned by
    whoever ran the self-test. So ``mode=ro`` only when both already exist (the WAL
    then holds the latest records); otherwise ``immutable=1``, which reads the main
    file alone, without locks nor side files (with the service stopped nothing else
    writes it). ``mode=ro`` everywhere: a journal missing meanwhile is not created.
    """
    base = Path(path).absolute().as_uri()
    if _side_files_exist(path):
        return sqlite3.connect(f"{base}?mode=ro", uri=True, timeout=1.0)
    return sqlite3.connect(f"{base}?mode=ro&immutable=1", uri=True, timeout=1.0)


def _side_files_exist(path: str) -> bool:
    return os.path.exists(path + "-wal") and os.path.exists(path + "-shm")


def read_journal(path: str) -> JournalFacts:
    """Everything the self-test reports about the journal, from one read-only connection."""
    wal = _wal_bytes(path)
    unread = wal > 0 and not _side_files_exist(path)
    conn = open_read_only(path)
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = JOURNAL_TABLES - tables
        if missing:
            return JournalFacts(path, missing, wal_bytes=wal, wal_unread=unread)
        row = conn.execute("PRAGMA integrity_check(1)").fetchone()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        waiting = int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()
    version = str(meta.get("schema_version", ""))
    return JournalFacts(
        path, frozenset(), str(row[0]) if row else "no answer",
        int(version) if version.isdigit() else None, meta.get("journal_id"), waiting,
        int(last[0]) if last else 0, wal, unread)


def _wal_bytes(path: str) -> int:
    try:
        return os.path.getsize(path + "-wal")
    except OSError:
        return 0


def writable_by(st: os.stat_result, uid: int, gids: set[int], *, directory: bool = False) -> bool:
    """Whether the user ``uid`` (groups ``gids``) may write this file, or create files in
    this directory, by the owner/group/other mode bits (as the kernel checks them: the
    owner's bits alone apply to the owner). ACLs are not looked at."""
    if uid == 0:
        return True
    need = 0o3 if directory else 0o2  # a directory needs write and search
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid in gids:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & need == need


def access_problems(path: str, user: pwd.struct_passwd) -> list[tuple[Verdict, str]]:
    """The journal, its side files and its folder must be the agent user's to write:
    a root-owned ``-wal``/``-shm`` (left by a ``sudo`` run) stops the agent at start."""
    gids = set(os.getgrouplist(user.pw_name, user.pw_gid))
    folder = os.path.dirname(os.path.abspath(path))
    out: list[tuple[Verdict, str]] = []
    for name in (path, path + "-wal", path + "-shm", folder):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            continue  # the side files exist only while (or after) the agent runs
        if not writable_by(st, user.pw_uid, gids, directory=stat.S_ISDIR(st.st_mode)):
            out.append(("FAIL", f"{name} ({_owner(st)} {stat.filemode(st.st_mode)}) is not"
                        f" writable by {user.pw_name}: sudo chown -R {user.pw_name}: {folder}"))
    return out


def _owner(st: os.stat_result) -> str:
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return f"uid {st.st_uid}"


def space_problems(fs: os.statvfs_result) -> list[tuple[Verdict, str]]:
    """The journal's file system: mounted read-write, with room for the records to come."""
    if fs.f_flag & os.ST_RDONLY:
        return [("FAIL", "its file system is mounted read-only")]
    return space_verdict(fs.f_bavail * fs.f_frsize)


def space_verdict(free_bytes: int) -> list[tuple[Verdict, str]]:
    """FAIL below :data:`FREE_FAIL_BYTES`, WARN below :data:`FREE_WARN_BYTES` free (what an
    unprivileged user, the agent, may still use: root's reserve does not count)."""
    if free_bytes < FREE_FAIL_BYTES:
        return [("FAIL", f"only {free_bytes / 1e6:.1f} MB free beside it")]
    if free_bytes < FREE_WARN_BYTES:
        return [("WARN", f"only {free_bytes / 1e6:.0f} MB free beside it")]
    return []


def check_broker(config: AgentConfig, timeout_s: float) -> Item:
    """Connect as the device (another client id: the agent's session stays untouched),
    subscribe to its ``ack`` topic and wait for the grant; publish nothing."""
    s = config.mqtt
    if s is None:
        return Item("broker", "WARN", "no [mqtt]: records stay in the journal's outbox")
    try:
        password = read_password(s)
    except ConfigError as exc:
        return Item("broker", "FAIL", str(exc))
    device = config.device
    ack_topic = wire.topic(device.site, device.room, wire.ACK)
    done = threading.Event()
    seen: dict[str, Any] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"{s.client_id or device.device_id}-selftest"[:64],
                         clean_session=True, protocol=mqtt.MQTTv311)
    client.username_pw_set(s.username or device.device_id, password)

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        seen["connect"] = reason
        if reason.is_failure:
            done.set()
        else:
            c.subscribe(ack_topic, qos=1)

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, codes: list[Any], props: Any) -> None:
        seen["suback"] = codes
        done.set()

    def on_message(c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        seen["ack"] = bytes(message.payload)

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    where = f"{s.host}:{s.port}{' TLS' if s.tls else ''}"
    try:
        if s.tls is not None:
            client.tls_set(ca_certs=s.tls.ca_file, certfile=s.tls.cert_file,
                           keyfile=s.tls.key_file)
        client.connect_async(s.host, s.port, keepalive=max(s.keepalive_s, 5))
        client.loop_start()
        done.wait(timeout_s)
        if "suback" in seen:
            time.sleep(min(0.5, timeout_s))  # the retained ack follows the grant
    except Exception as exc:
        return Item("broker", "FAIL", f"{where}: {exc}")
    finally:
        client.disconnect()
        client.loop_stop()
    if "connect" not in seen:
        return Item("broker", "FAIL", f"{where}: no connection within {timeout_s:g} s")
    if seen["connect"].is_failure:
        return Item("broker", "FAIL", f"{where}: refused: {seen['connect']}")
    codes = seen.get("suback")
    if not codes:
        return Item("broker", "FAIL", f"{where}: connected, no answer to the ack subscription")
    if any(code.is_failure for code in codes):
        return Item("broker", "FAIL", f"{where}: connected, subscription to {ack_topic} refused")
    detail = f"{where}: connected as {s.username or device.device_id}, {ack_topic} granted"
    if "ack" in seen:
        try:
            ack = json.loads(seen["ack"])
            detail += f"; the hub acknowledged up to {ack.get('upto')}"
        except ValueError:
            detail += "; retained ack unreadable"
    else:
        detail += "; no retained ack yet (the hub has stored nothing from this device)"
    return Item("broker", "PASS", detail)


def check_clock(probe: Callable[[], bool | None]) -> Item:
    try:
        synced = probe()
    except Exception as exc:
        return Item("clock sync", "WARN", f"cannot tell: {exc}")
    if synced is None:
        return Item("clock sync", "WARN", "cannot tell (neither adjtimex nor timedatectl)")
    if synced:
        return Item("clock sync", "PASS", "system clock synchronised (NTP)")
    return Item("clock sync", "WARN", "system clock NOT synchronised: records are flagged"
                " until it is (check NTP: timedatectl timesync-status)")


# -- output ----------------------------------------------------------------------------------


def render_table(report: Report) -> str:
    when = datetime.fromisoformat(report.at.replace("Z", "+00:00")).astimezone(UTC)
    lines = [
        "Voyant room agent self-test",
        f"  date (UTC): {when:%Y-%m-%d %H:%M:%S}",
        f"  device:     {report.device} (site {report.site}, room {report.room})",
        "  versions:   " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
        "",
        f"  {'item':<14} {'verdict':<7} detail",
        f"  {'-' * 14} {'-' * 7} {'-' * 50}",
    ]
    lines += [f"  {i.name:<14} {i.verdict:<7} {i.detail}" for i in report.items]
    lines += ["", f"  overall: {report.verdict}"]
    return "\n".join(lines)
