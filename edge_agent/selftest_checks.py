"""The self-test's checks of the room's hardware and links: inputs, lamps, probe, broker, clock.

Apart from :mod:`edge_agent.selftest` (the report and its order) and
:mod:`edge_agent.selftest_journal` (the journal, read-only), so that each check
of something outside the Pi's disk reads in one place. Each returns one
:class:`Item`; none writes anything.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.clock import SystemClock
from edge_agent.config import AgentConfig
from edge_agent.dose.calibrations import calibration_from_config
from edge_agent.inputs import SignalInput, _device_class
from edge_agent.probe.gpio_counter import GpioPulseProbe
from edge_agent.probe.sample import ProbeSample
from edge_agent.probe.serial_link import SerialProbeLink
from wire import contract as wire
from wire.errors import ConfigError

Verdict = Literal["PASS", "WARN", "FAIL"]
#: Serial probe: good frames needed for a PASS.
FRAMES_NEEDED = 3
BUSY_HINT = " (is the voyant-edge service running? stop it for the self-test)"


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    verdict: Verdict
    detail: str


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



# -- broker and clock -----------------------------------------------------------------------


def check_broker(config: AgentConfig, timeout_s: float) -> Item:
    """Connect as the device (another client id: the agent's session stays untouched),
    subscribe to its ``ack`` topic and wait for the grant; publish nothing."""
    s = config.mqtt
    if s is None:
        return Item("broker", "WARN", "no [mqtt]: records stay in the journal's outbox")
    try:
        password = s.read_password()
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
