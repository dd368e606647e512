"""``voyant-sim demo``: the embedded broker, the hub and three simulated rooms, live.

One process tree, all of it on loopback:

1. a demo folder (``./.demo`` by default, emptied at each start) gets a
   devices TOML for three rooms, their generated MQTT passwords, a hub
   configuration with ``[broker] mode = "embedded"`` and a web port, and a
   store holding the demo PCR account (:data:`PCR_USERNAME` /
   :data:`PCR_PASSWORD`);
2. the hub runs as a child process (``python -m hub.cli run``: embedded
   broker, ingest and web); the demo waits until ``/healthz`` answers;
3. the three rooms play their library scenarios (``demo_*.toml``) in real
   time, over and over, each in a thread of the demo process: the real agent
   on mock pins, its journal in the demo folder, its publisher sending to the
   embedded broker;
4. a control endpoint on ``127.0.0.1`` (its URL in ``control.json`` in the
   demo folder) takes ``POST /inject`` ``{"room": ..., "fault": ...,
   "duration_s": ...}``: ``voyant-sim demo --inject unsolicited --room R``
   sends it to the running demo; the browser tests use it directly.

Ctrl-C or SIGTERM stops the rooms (each says ``offline`` and flushes its
outbox), then the hub (SIGTERM: it drains, commits and stops its broker),
and exits 0. The hub runs in its own session, so that a Ctrl-C in the
terminal reaches the demo only and the order above holds.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from sim.broker import free_port
from sim.demo_control import control_server
from sim.demo_files import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    PCR_NAME,
    PCR_PASSWORD,
    PCR_USERNAME,
    ROOMS,
    DemoError,
    DemoFiles,
    DemoRoom,
    clear_directory,
    library_path,
    room_settings,
    write_files,
)
from sim.demo_history import READING_PERIOD_S, History, ensure_history
from sim.inject import RoomControl, parse_fault
from sim.live_room import RoomSettings, play_room
from sim.scenario import load_scenario

HUB_START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 20.0
#: Plays forever, in practice: the demo stops on Ctrl-C.
FOREVER: Final = 10**9


@dataclass
class _RunningRoom:
    room: DemoRoom
    control: RoomControl
    thread: threading.Thread
    error: list[BaseException] = field(default_factory=list)


class Demo:
    """The demo stack (see the module docstring): :meth:`start`, :meth:`inject`, :meth:`stop`.

    ``web_port`` 0 picks a free port; ``speed`` is virtual seconds per real second;
    ``hub_argv`` replaces ``python -m hub.cli run`` (``--config FILE`` is appended).
    """

    def __init__(self, directory: Path, *, web_port: int = 0, broker_port: int = 0,
                 control_port: int = 0, rooms: Sequence[DemoRoom] = ROOMS,
                 speed: float = 1.0, hub_argv: Sequence[str] | None = None,
                 history: bool = False, out: Callable[[str], None] = print) -> None:
        self.files = DemoFiles(Path(directory).resolve())
        self.web_port = web_port or free_port()
        self.broker_port = broker_port or free_port()
        self.control_port = control_port
        self.rooms_spec = tuple(rooms)
        self.speed = speed
        self._hub_argv = hub_argv
        self.with_history = history
        self.history: History | None = None
        self.out = out
        self.hub: subprocess.Popen[bytes] | None = None
        self.rooms: dict[str, _RunningRoom] = {}
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def control_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- starting ------------------------------------------------------------------

    def start(self) -> None:
        """Write the files, start the hub, wait for it, start the rooms and the control."""
        scenarios = {r.room: load_scenario(library_path(r.scenario)) for r in self.rooms_spec}
        clear_directory(self.files.directory)
        write_files(self.files, self.rooms_spec, web_port=self.web_port,
                    broker_port=self.broker_port)
        if self.with_history:
            self.history = ensure_history(self.files, self.rooms_spec, self.broker_port,
                                          out=self.out)
        self._start_hub()
        for spec in self.rooms_spec:
            control = RoomControl()
            settings = room_settings(self.files, spec, self.broker_port)
            running = _RunningRoom(spec, control, threading.Thread())
            running.thread = threading.Thread(
                target=self._play, args=(running, scenarios[spec.room], settings),
                name=f"room-{spec.room}", daemon=True)
            self.rooms[spec.room] = running
            running.thread.start()
        self._start_control()

    def _start_hub(self) -> None:
        with self.files.hub_log.open("wb") as log:
            argv = self._hub_argv or [sys.executable, "-m", "hub.cli", "run"]
            self.hub = subprocess.Popen(
                [*argv, "--config", str(self.files.hub_config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)  # Ctrl-C reaches the demo, which stops it in order
        deadline = time.monotonic() + HUB_START_TIMEOUT_S
        while not self._healthy():
            if self.hub.poll() is not None:
                raise DemoError(f"the hub exited ({self.hub.returncode}) at start:\n"
                                + self.hub_log_tail())
            if time.monotonic() > deadline:
                raise DemoError(f"the hub did not answer {self.url}/healthz within "
                                f"{HUB_START_TIMEOUT_S:g} s:\n" + self.hub_log_tail())
            time.sleep(0.1)  # poll interval, bounded by the deadline

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1.0) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def hub_log_tail(self, lines: int = 40) -> str:
        try:
            text = self.files.hub_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _play(self, running: _RunningRoom, scenario: Any, settings: RoomSettings) -> None:
        try:
            play_room(scenario, settings, speed=self.speed, repeat=FOREVER, linger_s=2.0,
                      control=running.control)
        except Exception as exc:  # reported by status(), and on stderr now
            running.error.append(exc)
            traceback.print_exc()

    def _start_control(self) -> None:
        self._server = control_server(self, self.control_port)
        self._server_thread = threading.Thread(target=self._server.serve_forever,
                                               name="demo-control", daemon=True)
        self._server_thread.start()
        self.files.control.write_text(json.dumps({
            "control": self.control_url, "url": self.url,
            "hub_pid": self.hub.pid if self.hub else None,
            "rooms": [r.room for r in self.rooms_spec],
        }, indent=1), encoding="utf-8")

    # -- while running -------------------------------------------------------------

    def inject(self, room: str, kind: str, duration_s: float = 5.0) -> None:
        """Inject a fault into a running room; ValueError names the rooms or faults."""
        fault = parse_fault(kind, duration_s)
        if room not in self.rooms:
            raise ValueError(f"unknown room {room!r}; expected one of {', '.join(self.rooms)}")
        self.rooms[room].control.inject(fault)

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "hub_running": self.hub is not None and self.hub.poll() is None,
            "rooms": {name: {"alive": r.thread.is_alive(), "injected": r.control.injected,
                             "error": repr(r.error[0]) if r.error else None}
                      for name, r in self.rooms.items()},
        }

    # -- stopping ------------------------------------------------------------------

    def stop(self) -> int:
        """Rooms first (each flushes and says offline), then the hub; the hub's exit code."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for running in self.rooms.values():
            running.control.stop()
        for running in self.rooms.values():
            running.thread.join(STOP_TIMEOUT_S)
        code = 0
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                code = self.hub.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                code = self.hub.wait()
        elif self.hub is not None:
            code = self.hub.returncode
        with contextlib.suppress(OSError):
            self.files.control.unlink()
        return code


# -- the command line -----------------------------------------------------------------


def run_demo(directory: Path, *, web_port: int, speed: float = 1.0, history: bool = True,
             out: Callable[[str], None] = print) -> int:
    """Start the demo (with its history unless ``history`` is false), print where to look,
    wait for Ctrl-C/SIGTERM, stop in order."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    out("Voyant demo: starting...")
    demo = Demo(directory, web_port=web_port if _port_free(web_port) else 0, speed=speed,
                history=history, out=out)
    try:
        try:
            demo.start()
        except DemoError as exc:
            print(f"voyant-sim demo: {exc}", file=sys.stderr)
            demo.stop()
            return 1
        rooms = ", ".join(f"{r.room} ({r.scenario})" for r in demo.rooms_spec)
        out(f"Voyant demo: open {demo.url}/")
        out(f"  log in as {PCR_USERNAME} / {PCR_PASSWORD} ({PCR_NAME}, the CRP)")
        out(f"  or as {ADMIN_USERNAME} / {ADMIN_PASSWORD} ({ADMIN_NAME}, admin)")
        if demo.history is not None:
            made = demo.history
            out(f"  history: {_day(made.start)} to now, readings every "
                f"{READING_PERIOD_S:g} s (live rooms: 10 s), "
                f"{'made' if made.made else 'reused'} in {made.seconds:.0f} s")
        out(f"  rooms playing in real time: {rooms}")
        out(f"  inject a fault now: voyant-sim demo --dir {directory} --inject unsolicited "
            f"--room {demo.rooms_spec[-1].room}")
        out(f"  hub log: {demo.files.hub_log}; Ctrl-C stops everything")
        while not stop.wait(0.5):
            if demo.hub is not None and demo.hub.poll() is not None:
                print(f"voyant-sim demo: the hub exited ({demo.hub.returncode}):\n"
                      + demo.hub_log_tail(), file=sys.stderr)
                demo.stop()
                return 1
        out("Stopping the rooms, then the hub...")
        code = demo.stop()
        out("Demo stopped." if code == 0 else f"The hub exited with {code}.")
        return 0 if code == 0 else 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _day(moment: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(moment))


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
