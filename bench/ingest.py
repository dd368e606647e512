"""Bench: the hub's ingest end to end, through a real Mosquitto, with the hub in its own process.

Run by hand (about a minute for both modes)::

    .venv/bin/python bench/ingest.py [--mode throughput|latency|both] [--seconds 20]
        [--warmup 5] [--rooms 1000] [--devices 100] [--batch 100] [--window 500]
        [--clients 2] [--keep DIR]

Targets of issue 3 (on 2 cores): at least 20,000 readings/s stored, sustained;
p99 publish-to-stored latency below 200 ms with 1,000 rooms each publishing
one reading a second.

What runs, for each mode, in a fresh temporary folder:

* Mosquitto (:class:`sim.broker.Mosquitto`): production's generated
  configuration, password file and ACL (the hub account ``hub`` reads every
  room and writes only ``ack`` topics), plus one bench-only account (below);
* the hub, as a separate process, exactly as in production:
  ``python -m hub.cli run --config hub.toml`` (its own event loop, store
  thread and SQLite file with ``synchronous=FULL``; default ``[ingest]``);
* the simulated devices, in this process: ``--clients`` paho clients, each
  multiplexing its share of the devices. Every device has its own journal id
  and consecutive sequence numbers from 1, and its payloads are built with
  :func:`wire.contract.batch_payload`, so the hub validates and stores them as
  it would an agent's.

Why a bench-only account instead of one account per room: with one account
per room, 1,000 rooms are 1,000 MQTT connections and (with paho) 1,000
network threads in this process, which would compete with the hub and
Mosquitto for the two cores being measured, and measure paho rather than the
hub. So the devices share a few connections, one per client, logged in as
``bench0``, ``bench1``, ... (each its own account: the broker binds a client id to
its username), whose ACL lines (appended to the generated files, nowhere in
production) allow writing ``voyant/v1/+/+/readings`` and reading
``voyant/v1/+/+/ack`` (and, for bench/alarm_latency.py only, a read-only
``bench-witness`` login to the alarms' topics). The hub's side (its account, its
subscription, its acks, its registry of rooms) is production's: every simulated
room is provisioned in the devices file the hub reads, as ``bench<client>.r<n>``.
Each client uses its own site name (``bench0``, ``bench1``, ...) so that it
subscribes only to the acks of its own devices.

``throughput``: ``--devices`` devices publish batches of ``--batch`` readings
as fast as the hub's acknowledgements allow, each keeping at most
``--window`` readings unacknowledged (as the agent's publisher does). Stored
readings per second = readings covered by the hub's acks over the steady
window (after ``--warmup`` s, for ``--seconds`` s). Then publishing stops,
the bench waits for every device to be acknowledged, stops the hub, and
checks in the hub's database that each device's journal holds exactly the
readings it sent (count, first and last seq) and that nothing was rejected.

``latency``: ``--rooms`` rooms each publish one reading a second (phases
spread over the second). Latency of a reading = when the ack covering it
arrives here − when it was published: it includes the ack's trip back
through Mosquitto, so it over-states publish-to-stored by about a
millisecond. Readings published during the warm-up are not counted. The same
database check follows.

Every process shares the machine: the figures are for the hub, Mosquitto and
these publishers on the cores printed at the start. The exit status is 0 when
every target passes and every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import queue
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402  (after the path set-up, as bench/detection.py)
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.provenance import commit, cores, interpreter  # noqa: E402
from hub.broker.files import DeviceAccount, HubAccount, hash_password  # noqa: E402
from hub.timefmt import iso  # noqa: E402
from sim.broker import Mosquitto, MosquittoFailed, MosquittoMissing  # noqa: E402
from wire.contract import ACK, ALARMS, READINGS, batch_payload, topic  # noqa: E402
from wire.contract import ROOT as TOPIC_ROOT  # noqa: E402
from wire.encode import batch_from_json  # noqa: E402

THROUGHPUT_TARGET = 20_000.0  # readings/s, sustained
RATIO_TARGET = 0.8  # of the plain SQLite loop's rate (issue 18 item 2)
#: Readings/s the throughput mode's pre-generated payloads can feed (past it: built late).
PREPARED_RATE = 45_000
P99_TARGET_MS = 200.0  # at 1,000 rooms x 1 reading/s
BENCH_USER = "bench"
#: bench/alarm_latency.py's read-only login to the alarms' topics (a second subscriber).
WITNESS_USER = "bench-witness"
T0 = 1_767_596_400  # 2026-01-05T07:00:00Z: reading n of a device starts at T0 + n s
READY_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 60.0


# -- Mosquitto with the bench account ----------------------------------------------------


class BenchMosquitto(Mosquitto):
    """Production's generated files plus the bench-only account (see the module docstring)."""

    def __init__(self, directory: Path, hub: HubAccount, bench_password: str,
                 clients: int, devices: tuple[DeviceAccount, ...] = (),
                 witness: bool = False) -> None:
        super().__init__(directory, hub, devices)
        self.bench_password, self.clients = bench_password, clients
        self.witness = witness

    def _write_files(self) -> None:
        super()._write_files()
        settings = self._settings()
        users = [f"{BENCH_USER}{index}" for index in range(self.clients)]
        with settings.password_file.open("a", encoding="utf-8") as passwd:
            for user in users + ([WITNESS_USER] if self.witness else []):
                passwd.write(f"{user}:{hash_password(self.bench_password)}\n")
        with settings.acl_file.open("a", encoding="utf-8") as acl:
            acl.write("\n# bench/ingest.py only: the simulated devices' shared logins\n")
            for user in users:
                acl.write(f"user {user}\ntopic write {TOPIC_ROOT}/+/+/{READINGS}\n"
                          f"topic read {TOPIC_ROOT}/+/+/{ACK}\n")
            if self.witness:  # bench/alarm_latency.py: when the broker delivered an alarm
                acl.write(f"user {WITNESS_USER}\ntopic read {TOPIC_ROOT}/+/+/{ALARMS}\n")


# -- the hub process ---------------------------------------------------------------------


class HubProcess:
    """``python -m hub.cli run --config FILE``, its log in the bench folder."""

    def __init__(self, folder: Path, port: int, hub: HubAccount, devices: Path,
                 web_port: int = 0, ingest: str = "") -> None:
        self.db = folder / "hub.db"
        self.log = folder / "hub.log"
        password = folder / "hub.password"
        password.write_text(hub.password + "\n", encoding="utf-8")
        password.chmod(0o600)
        self.config = folder / "hub.toml"
        self.config.write_text(
            f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nusername = "{hub.username}"\n'
            f'password_file = "{password}"\nclient_id = "voyant-hub-bench"\n\n'
            f'[broker]\ndevices = "{devices}"\n\n'
            f'[store]\npath = "{self.db}"\n\n[web]\nport = {web_port}\n\n[ingest]\n{ingest}\n',
            encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "run", "--config", str(self.config)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "event=mqtt_connected" not in self.log_text():
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode}:\n"
                                   + self.tail())
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not connect in {READY_TIMEOUT_S} s:\n"
                                   + self.tail())
            time.sleep(0.05)  # poll interval, bounded by the deadline

    def cpu_s(self) -> float | None:
        return None if self.process is None else cpu_seconds(self.process.pid)

    def workers_cpu_s(self) -> float | None:
        """CPU seconds of the hub's child processes (its decode worker, the forkserver)."""
        if self.process is None:
            return None
        found = [cpu_seconds(child) for child in descendants(self.process.pid)]
        return sum(x for x in found if x is not None)

    def stop(self) -> int | None:
        """SIGTERM (the hub drains and closes its store); SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``, by each process's parent in ``/proc/PID/stat``."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = [], [pid]
    while frontier:
        children = [child for child, up in parent.items() if up in frontier]
        out += children
        frontier = children
    return out


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a running process (Linux ``/proc``), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- simulated devices -------------------------------------------------------------------


@functools.lru_cache(maxsize=200_000)
def _at(second: int) -> str:
    return iso(T0 + second)


def reading(seq: int) -> dict[str, Any]:
    """One valid ReadingItem: a 1 s interval of background."""
    return {"seq": seq, "run": 1, "start": _at(seq), "end": _at(seq + 1), "counts": 2,
            "seconds_covered": 1.0, "cpm": 120.0, "dose_usv": 2.8e-5, "mean_usv_h": 0.1,
            "mean_sigma_usv_h": 0.07, "max_usv_h": 0.15, "max_sigma_usv_h": 0.1,
            "saturated": False, "calibration": "sbm20/Cs-137", "frames": 10, "frames_lost": 0}


#: :func:`reading` as ``json.dumps(..., separators=(",", ":"))`` writes it (a test of the
#: bench's own: :func:`check_template`).
READING_JSON = ('{"seq":%d,"run":1,"start":"%s","end":"%s","counts":2,"seconds_covered":1.0,'
                '"cpm":120.0,"dose_usv":2.8e-05,"mean_usv_h":0.1,"mean_sigma_usv_h":0.07,'
                '"max_usv_h":0.15,"max_sigma_usv_h":0.1,"saturated":false,'
                '"calibration":"sbm20/Cs-137","frames":10,"frames_lost":0}')


def check_template() -> None:
    seq = 12345
    made = json.loads(READING_JSON % (seq, _at(seq), _at(seq + 1)))
    if made != reading(seq):
        raise RuntimeError("bench/ingest.py: READING_JSON no longer matches reading()")


@dataclass(eq=False)
class Device:
    site: str
    room: str
    journal: str = field(default_factory=lambda: uuid.uuid4().hex)
    sent: int = 0  # last seq published
    acked: int = 0  # last upto acknowledged by the hub
    queued: bool = False  # waiting in its publisher's ready queue
    #: (last seq, publish time) of each unacknowledged message, oldest first.
    inflight: deque[tuple[int, float]] = field(default_factory=deque)
    #: Pre-generated messages of ``pool_size`` readings each, in seq order from ``sent + 1``.
    pool: deque[bytes] = field(default_factory=deque)
    pool_size: int = 0
    made_late: int = 0  # messages built while publishing (the pool ran out)

    @property
    def name(self) -> str:
        return f"{self.site}.{self.room}"

    @property
    def topic(self) -> str:
        return topic(self.site, self.room, READINGS)

    def payload(self, count: int) -> bytes:
        if count == self.pool_size and self.pool:
            return self.pool.popleft()
        self.made_late += 1
        self.pool.clear()
        items = [reading(seq) for seq in range(self.sent + 1, self.sent + count + 1)]
        return batch_payload(READINGS, self.name, self.site, self.room, self.journal,
                             iso(time.time()), items)

    def prepare(self, messages: int, size: int) -> None:
        """Build ``messages`` messages of ``size`` readings before the run, so that making
        them costs the measured cores nothing (the text of :func:`reading`, as json writes
        it, from a template)."""
        self.pool_size, sent, first = size, iso(time.time()), self.sent + 1
        for start in range(first, first + messages * size, size):
            items = [READING_JSON % (seq, _at(seq), _at(seq + 1))
                     for seq in range(start, start + size)]
            self.pool.append(batch_from_json(READINGS, self.name, self.site, self.room,
                                             self.journal, sent, items, start,
                                             start + size - 1))


class Publisher:
    """One paho connection (as ``bench``) carrying the messages of many devices.

    Threads: paho's network thread (acks in), and one sender (messages out).
    Shared fields are single ints or deques, updated under the GIL.
    """

    def __init__(self, index: int, port: int, password: str, devices: list[Device],
                 warm_until: float) -> None:
        self.site = f"bench{index}"
        self.devices = devices
        self.by_key = {(d.name, d.journal): d for d in devices}
        self.warm_until = warm_until
        self.latencies: list[float] = []  # seconds, readings published after the warm-up
        self.errors: list[str] = []
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self.ready: queue.SimpleQueue[Device] = queue.SimpleQueue()
        self.on_ack_ready: bool = False  # throughput mode: refill the window on each ack
        self.batch, self.window = 1, 1
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{BENCH_USER}{index}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.username_pw_set(f"{BENCH_USER}{index}", password)
        self.client.max_inflight_messages_set(0)  # no client-side cap: the window is the cap
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()

    # paho's thread

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.errors.append(f"{self.site}: connection refused: {rc}")
            return
        client.subscribe(f"{TOPIC_ROOT}/{self.site}/+/{ACK}", qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[Any],
                      _p: Any) -> None:
        if any(c.is_failure for c in codes):
            self.errors.append(f"{self.site}: subscription refused: {codes}")
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        body = json.loads(message.payload)
        device = self.by_key.get((body["device"], body["journal"]))
        if device is None:
            return
        upto = int(body["upto"])
        if upto <= device.acked:
            return
        device.acked = upto
        inflight = device.inflight
        while inflight and inflight[0][0] <= upto:
            _, published = inflight.popleft()
            if published >= self.warm_until:
                self.latencies.append(now - published)
        if (self.on_ack_ready and not device.queued
                and device.sent - upto + self.batch <= self.window):
            device.queued = True
            self.ready.put(device)

    # sender thread

    def _publish(self, device: Device, count: int) -> None:
        payload = device.payload(count)
        device.inflight.append((device.sent + count, time.monotonic()))
        info = self.client.publish(device.topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.errors.append(f"{device.name}: publish failed: {info.rc}")
        device.sent += count

    def flood(self, batch: int, window: int) -> None:
        """Throughput: keep every device's window full, refilled as acks arrive."""
        self.batch, self.window, self.on_ack_ready = batch, window, True
        for device in self.devices:
            device.queued = True
            self.ready.put(device)
        while not self.stopping.is_set():
            try:
                device = self.ready.get(timeout=0.1)
            except queue.Empty:
                continue
            device.queued = False  # before the check: an ack from now on queues it again
            while device.sent - device.acked + batch <= window and not self.stopping.is_set():
                self._publish(device, batch)

    def paced(self, per_device_s: float) -> None:
        """Latency: each device publishes one reading every ``per_device_s``, phases spread."""
        count = len(self.devices)
        start, done = time.monotonic(), 0
        while not self.stopping.is_set():
            due = int((time.monotonic() - start) * count / per_device_s)
            while done < due:
                self._publish(self.devices[done % count], 1)
                done += 1
            time.sleep(0.001)  # pacing tick

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- one mode ------------------------------------------------------------------------------


@dataclass
class Outcome:
    lines: list[str]
    passed: bool


def provision(folder: Path, per_client: list[int],
              rooms: tuple[DeviceAccount, ...] = ()) -> Path:
    """The devices file of every simulated room (and of ``rooms``, real agents): the hub
    takes only provisioned rooms."""
    path = folder / "devices.toml"
    lines = [f'[devices."bench{index}.r{n:04d}"]\nsite = "bench{index}"\nroom = "r{n:04d}"\n'
             for index, count in enumerate(per_client) for n in range(count)]
    lines += [f'[devices."{d.username}"]\nsite = "{d.site}"\nroom = "{d.room}"\n'
              for d in rooms]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextlib.contextmanager
def rig(folder: Path, per_client: list[int], ingest: str = ""
        ) -> Iterator[tuple[BenchMosquitto, HubProcess, str]]:
    """Mosquitto and the hub process, stopped on the way out."""
    hub_account = HubAccount("hub", secrets.token_urlsafe(16))
    bench_password = secrets.token_urlsafe(16)
    broker = BenchMosquitto(folder / "mosquitto", hub_account, bench_password, len(per_client))
    broker.start()
    hub = HubProcess(folder, broker.port, hub_account, provision(folder, per_client),
                     ingest=ingest)
    try:
        hub.start()
        yield broker, hub, bench_password
    finally:
        hub.stop()
        broker.stop()


def make_publishers(port: int, password: str, per_client: list[int],
                    warm_until: float, prepare: tuple[int, int] = (0, 1)) -> list[Publisher]:
    """``prepare``: (messages, readings each) built per device before connecting."""
    publishers = []
    for index, count in enumerate(per_client):
        devices = [Device(f"bench{index}", f"r{n:04d}") for n in range(count)]
        for device in devices:
            device.prepare(*prepare)
        publishers.append(Publisher(index, port, password, devices, warm_until))
    deadline = time.monotonic() + READY_TIMEOUT_S
    for pub in publishers:
        if not pub.subscribed.wait(max(0.0, deadline - time.monotonic())) or pub.errors:
            raise RuntimeError(f"publisher {pub.site} not ready: {pub.errors}")
    return publishers


def split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def drain(publishers: list[Publisher]) -> tuple[bool, float]:
    """Wait until the hub acknowledged everything sent; (all acked, seconds waited)."""
    start = time.monotonic()
    deadline = start + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(d.acked == d.sent for p in publishers for d in p.devices):
            return True, time.monotonic() - start
        time.sleep(0.05)  # poll interval, bounded by the deadline
    return False, time.monotonic() - start


def check_store(db: Path, publishers: list[Publisher]) -> list[str]:
    """Mismatches between what was sent and what the hub's database holds (empty: exact)."""
    expected = {(d.name, d.journal): d.sent for p in publishers for d in p.devices}
    problems: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT device, journal, COUNT(*), MIN(seq), MAX(seq) "
                            "FROM readings GROUP BY device, journal").fetchall()
        received = conn.execute("SELECT COUNT(*) FROM received").fetchone()[0]
        rejected = conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
    found = {(device, journal): (count, low, high) for device, journal, count, low, high in rows}
    for key, sent in expected.items():
        got = found.pop(key, (0, None, None))
        if got != (sent, 1 if sent else None, sent if sent else None):
            problems.append(f"{key[0]}: sent seq 1..{sent}, stored {got[0]} "
                            f"(seq {got[1]}..{got[2]})")
    problems += [f"{device}/{journal}: stored but never sent" for device, journal in found]
    total = sum(expected.values())
    if received != total:
        problems.append(f"received table: {received} records, {total} sent")
    if rejected:
        problems.append(f"{rejected} messages rejected by the hub")
    return problems


def cpu_line(hub: HubProcess, broker: Mosquitto, before: dict[str, float | None],
             seconds: float) -> str:
    now = cpu_now(hub, broker)
    parts = []
    for name, value in now.items():
        start = before.get(name)
        if value is not None and start is not None:
            parts.append(f"{name} {100 * (value - start) / seconds:.0f}%")
    return "  CPU over the steady window (100% = one core): " + ", ".join(parts)


def cpu_now(hub: HubProcess, broker: Mosquitto) -> dict[str, float | None]:
    return {"hub": hub.cpu_s(), "hub's decode worker": hub.workers_cpu_s(),
            "mosquitto": cpu_seconds(broker.pid), "bench": time.process_time()}


def store_lines(hub: HubProcess, publishers: list[Publisher], exit_code: int | None,
                drained: bool, drain_s: float) -> tuple[list[str], bool]:
    sent = sum(d.sent for p in publishers for d in p.devices)
    problems = [] if drained else [f"not every reading acknowledged {DRAIN_TIMEOUT_S} s after "
                                   "the last publish"]
    problems += [e for p in publishers for e in p.errors]
    if exit_code != 0:
        problems.append(f"the hub exited with {exit_code}: {hub.tail(5)}")
    problems += check_store(hub.db, publishers)
    devices = sum(len(p.devices) for p in publishers)
    lines = [f"  store check: {sent:,} readings sent by {devices:,} devices, all acknowledged "
             f"{drain_s:.1f} s after the last publish" if drained else
             f"  store check: {sent:,} readings sent by {devices:,} devices"]
    if problems:
        lines += [f"  store check FAILED: {p}" for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"  ... and {len(problems) - 20} more")
    else:
        lines.append("  store check OK: the hub's database holds exactly what each device sent "
                     "(count, first and last seq per journal), nothing rejected")
    return lines, not problems


def run_throughput(folder: Path, args: argparse.Namespace) -> Outcome:
    per_client = split(args.devices, args.clients)
    readings = PREPARED_RATE * (args.warmup + args.seconds) / args.devices + args.window
    prepare = (math.ceil(readings / args.batch), args.batch)
    with rig(folder, per_client, args.hub_ingest) as (broker, hub, password):
        publishers = make_publishers(broker.port, password, per_client, float("inf"),
                                     prepare)
        warm_until = time.monotonic() + args.warmup
        for pub in publishers:
            pub.warm_until = warm_until
        senders = [threading.Thread(target=p.flood, args=(args.batch, args.window), daemon=True)
                   for p in publishers]
        for thread in senders:
            thread.start()
        time.sleep(args.warmup)  # the warm-up is a duration, not a wait for a condition
        acked_start, t_start = total_acked(publishers), time.monotonic()
        cpu_start = cpu_now(hub, broker)
        time.sleep(args.seconds)  # the steady window is a duration as well
        acked_end, t_end = total_acked(publishers), time.monotonic()
        cpu = cpu_line(hub, broker, cpu_start, t_end - t_start)
        for pub in publishers:
            pub.stopping.set()
        for thread in senders:
            thread.join()
        drained, drain_s = drain(publishers)
        for pub in publishers:
            pub.close()
        exit_code = hub.stop()
    rate = (acked_end - acked_start) / (t_end - t_start)
    per_commit = messages_per_commit(hub.db)
    plain = plain_sqlite_rate(folder, args.devices, args.batch, args.baseline_rows, per_commit)
    late = sum(d.made_late for p in publishers for d in p.devices)
    ok = rate >= THROUGHPUT_TARGET and rate / plain >= RATIO_TARGET
    per_msg = sorted(x for p in publishers for x in p.latencies)
    lines = [f"throughput: {args.devices} devices x batches of {args.batch} readings, window "
             f"{args.window} unacknowledged readings each, {args.clients} connection(s)",
             f"  stored and acknowledged: {rate:,.0f} readings/s over {t_end - t_start:.1f} s "
             f"after {args.warmup:g} s of warm-up "
             f"({(acked_end - acked_start) / args.batch / (t_end - t_start):,.0f} messages/s)",
             f"  plain SQLite loop, same rows the same way, {per_commit} message(s) of "
             f"{args.batch} readings per commit as the hub's mean: "
             f"{plain:,.0f} readings/s; the hub stores {rate / plain:.2f} of it",
             f"  payloads pre-generated ({prepare[0]} messages per device; "
             f"{late} built during the run when a pool ran out)",
             f"  {'PASS' if ok else 'FAIL'}: target at least {THROUGHPUT_TARGET:,.0f} readings/s "
             f"and at least {RATIO_TARGET:.1f} of the plain SQLite loop",
             cpu]
    if per_msg:
        lines.append(f"  (at saturation, publish-to-ack per message: p50 "
                     f"{1000 * quantile(per_msg, 0.5):.0f} ms, p99 "
                     f"{1000 * quantile(per_msg, 0.99):.0f} ms: queueing behind the windows)")
    store, exact = store_lines(hub, publishers, exit_code, drained, drain_s)
    return Outcome(lines + store, ok and exact)


def run_latency(folder: Path, args: argparse.Namespace) -> Outcome:
    per_client = split(args.rooms, args.clients)
    prepare = (math.ceil(args.warmup + args.seconds) + 5, 1)
    with rig(folder, per_client, args.hub_ingest) as (broker, hub, password):
        publishers = make_publishers(broker.port, password, per_client, float("inf"),
                                     prepare)
        start = time.monotonic()
        for pub in publishers:
            pub.warm_until = start + args.warmup
        senders = [threading.Thread(target=p.paced, args=(1.0,), daemon=True)
                   for p in publishers]
        for thread in senders:
            thread.start()
        time.sleep(args.warmup)  # durations, as in throughput mode
        acked_start, t_start = total_acked(publishers), time.monotonic()
        cpu_start = cpu_now(hub, broker)
        time.sleep(args.seconds)
        acked_end, t_end = total_acked(publishers), time.monotonic()
        cpu = cpu_line(hub, broker, cpu_start, t_end - t_start)
        for pub in publishers:
            pub.stopping.set()
        for thread in senders:
            thread.join()
        drained, drain_s = drain(publishers)
        for pub in publishers:
            pub.close()
        exit_code = hub.stop()
    lat = sorted(x for p in publishers for x in p.latencies)
    rate = (acked_end - acked_start) / (t_end - t_start)
    lines = [f"latency: {args.rooms} rooms x 1 reading/s, {args.clients} connection(s); "
             f"{rate:,.0f} readings/s stored over the steady window"]
    ok = False
    if lat:
        p50, p99 = 1000 * quantile(lat, 0.5), 1000 * quantile(lat, 0.99)
        ok = p99 < P99_TARGET_MS
        lines += [f"  publish -> ack received: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"max {1000 * lat[-1]:.1f} ms over {len(lat):,} readings "
                  f"(published after {args.warmup:g} s of warm-up)",
                  "  (this includes the ack's trip back through Mosquitto: it over-states "
                  "publish-to-stored by about 1 ms)",
                  f"  {'PASS' if ok else 'FAIL'}: target p99 below {P99_TARGET_MS:.0f} ms"]
    else:
        lines.append("  FAIL: no reading was acknowledged")
    lines.append(cpu)
    store, exact = store_lines(hub, publishers, exit_code, drained, drain_s)
    return Outcome(lines + store, ok and exact)


# -- the store's own limit -----------------------------------------------------------------


def plain_sqlite_rate(folder: Path, devices: int, batch: int, total: int,
                      per_commit: int = 1) -> float:
    """Readings/s of a plain loop storing what the hub stores for readings messages.

    The store is made by the hub's own ``Store.open`` (same schema, keys, indexes,
    triggers, WAL, ``synchronous=FULL``); the loop then writes, per commit of ``batch``
    readings of one device (one message of the throughput mode), with the hub's own SQL
    and statements (several rows per ``INSERT``, :func:`hub.db.connection.insert_rows`,
    as the hub writes them: the store's own limit, not a slower way of reaching it):
    the ``received`` rows (key, hash, prev, canonical body), the ``readings`` rows, the
    device's and the journal's rows (``upsert_devices``, ``upsert_journals``), for each of
    ``per_commit`` messages (the hub's own mean messages per transaction in the run), then
    the counters, in ``BEGIN IMMEDIATE`` ... ``COMMIT``. Rows are built before the clock
    starts (with the hub's ``reading_row`` and ``Arrived``), so only SQLite is timed.
    """
    from hub.chain.arrival import Arrived
    from hub.db import chain_store
    from hub.db.connection import write
    from hub.db.store import Store
    from hub.ingest.core import COUNTERS
    from hub.ingest.records import reading_row
    from wire.contract import ReadingItem

    path = folder / "plain.db"
    store = Store.open(path)
    conn = store.conn
    at = iso(time.time())
    counters = dict.fromkeys(COUNTERS, 1)
    per_device = max(1, total // devices // batch)
    commits: list[tuple[list[Any], list[Any], dict[str, Any], tuple[Any, ...]]] = []
    for n in range(devices):
        device, journal = f"plain.r{n:04d}", uuid.uuid4().hex
        for k in range(per_device):
            first = 1 + k * batch
            received, rows = [], []
            for seq in range(first, first + batch):
                raw = json.loads(READING_JSON % (seq, _at(seq), _at(seq + 1)))
                arrived = Arrived.of(seq, READINGS, raw)
                received.append((device, journal, seq, READINGS, at, arrived.hash,
                                 arrived.prev, arrived.body))
                rows.append(reading_row(device, "plain", f"r{n:04d}", journal,
                                        ReadingItem.model_validate(raw)))
            dev = {"device": device, "site": "plain", "room": f"r{n:04d}", "journal": journal,
                   "acked_upto": first + batch - 1, "last_seen": at, "online": 1,
                   "status_state": None, "status_at": None, "heartbeat_s": None, "agent": None}
            values = [value for row in rows for value in row]  # the rows one after another
            commits.append((received, values, dev, (device, journal, first + batch - 1, at)))
    commits.sort(key=lambda c: c[0][0][2])  # devices interleaved, as they arrive
    start = time.perf_counter()
    for first in range(0, len(commits), per_commit):
        with write(conn):  # BEGIN IMMEDIATE ... COMMIT, as the hub's transactions
            for received, values, dev, journal_row in commits[first:first + per_commit]:
                chain_store.insert_received_batch(conn, received)
                store.insert_readings_values(values)
                store.upsert_devices([dev])
                store.upsert_journals([journal_row])
            store.save_counters(counters)
    elapsed = time.perf_counter() - start
    store.close()
    return len(commits) * batch / elapsed


def messages_per_commit(db: Path) -> int:
    """The hub's mean messages per transaction in the run (its ``counters``)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        found = dict(conn.execute("SELECT name, value FROM counters WHERE name IN"
                                  " ('messages_ok', 'batches')").fetchall())
    return max(1, round(int(found.get("messages_ok", 0)) / max(1, int(found.get("batches", 0)))))


def total_acked(publishers: list[Publisher]) -> int:
    return sum(d.acked for p in publishers for d in p.devices)


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mode", choices=["throughput", "latency", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="steady window measured, per mode (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds before the steady window, not counted (default 5)")
    parser.add_argument("--rooms", type=int, default=1000, help="latency mode (default 1000)")
    parser.add_argument("--devices", type=int, default=100,
                        help="throughput mode devices (default 100)")
    parser.add_argument("--batch", type=int, default=100,
                        help="throughput mode readings per message (default 100)")
    parser.add_argument("--window", type=int, default=500,
                        help="throughput mode: unacknowledged readings per device (default 500)")
    parser.add_argument("--clients", type=int, default=2,
                        help="MQTT connections carrying the devices (default 2)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the broker's and hub's files (logs, hub.db) in this folder")
    parser.add_argument("--hub-ingest", default="",
                        help='TOML lines of the hub\'s [ingest] table, e.g. "decode_workers = 0"')
    parser.add_argument("--baseline-rows", type=int, default=300_000,
                        help="readings the plain SQLite loop stores (default 300000)")
    args = parser.parse_args(argv)
    if args.batch > args.window:
        parser.error("--batch must not exceed --window")

    check_template()
    print(f"bench/ingest.py: commit {commit()}, {cores()} cores usable"
          f" ({os.cpu_count()} on the machine), "
          f"{interpreter()}; hub = separate process (python -m hub.cli run), "
          f"real Mosquitto, publishers in this process")
    print(f"targets on 2 cores: >= {THROUGHPUT_TARGET:,.0f} readings/s sustained; "
          f"p99 < {P99_TARGET_MS:.0f} ms at 1,000 rooms x 1 reading/s\n", flush=True)
    modes = ["throughput", "latency"] if args.mode == "both" else [args.mode]
    runners = {"throughput": run_throughput, "latency": run_latency}
    passed = True
    with contextlib.ExitStack() as stack:
        base = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="voyant-bench-")))
        for mode in modes:
            folder = base / mode
            folder.mkdir(parents=True, exist_ok=True)
            try:
                outcome = runners[mode](folder, args)
            except (MosquittoMissing, MosquittoFailed, RuntimeError) as exc:
                outcome = Outcome([f"{mode}: could not run: {exc}"], False)
            print("\n".join(outcome.lines) + "\n", flush=True)
            passed = passed and outcome.passed
    print("overall:", "PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
