"""``voyant-edge selftest``: the checks of a commissioning record, one verdict per item.

Inputs (each readable, none stuck in an implausible state at rest), lamp
feedback, probe link, journal, broker and clock synchronisation, each PASS,
WARN or FAIL with what was seen; the overall verdict is the worst. Run it with
the room at rest and the ``voyant-edge`` service stopped (it holds the GPIO
lines and the probe's port).
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.clock import SystemClock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.errors import ConfigError, JournalError
from edge_agent.inputs import SignalInput, _device_class
from edge_agent.journal import Journal
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
    clock_probe: ClockProbe = system_clock_synced,
) -> Report:
    report = Report(iso_utc(time.time()), config.device.device_id, config.device.site,
                    config.device.room, versions())
    values, items = check_inputs(config, pin_factory)
    report.items += items
    report.items.append(check_lamps(values))
    report.items.append(check_probe(config, timeout_s, pin_factory))
    report.items.append(check_journal(config))
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


def check_journal(config: AgentConfig) -> Item:
    path = config.journal.path
    try:
        journal = Journal(path)
    except JournalError as exc:
        return Item("journal", "FAIL", str(exc))
    try:
        stamp = iso_utc(time.time())
        journal.set_meta("selftest_at", stamp)
        if journal.get_meta("selftest_at") != stamp:
            return Item("journal", "FAIL", f"{path}: a write did not read back")
        check = journal.quick_check()
        outbox = journal.outbox_state()
        size = journal.size_bytes()
    except (JournalError, Exception) as exc:
        return Item("journal", "FAIL", f"{path}: {exc}")
    finally:
        journal.close()
    detail = (f"{path}: writable, quick_check {check}, {size / 1e6:.1f} MB,"
              f" outbox {outbox['waiting']} record(s) waiting (last seq {outbox['last_seq']})")
    if check != "ok":
        return Item("journal", "FAIL", detail)
    if outbox["waiting"] > BACKLOG_WARN:
        return Item("journal", "WARN", detail + ": is the hub acknowledging?")
    return Item("journal", "PASS", detail)


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
