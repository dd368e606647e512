"""A real Mosquitto process for tests, the benchmark and the demo, configured like production.

It runs the files :mod:`hub.broker.files` generates (same ACL, same queue
limits, same password hashes) on a free loopback port, so what the tests prove
about the broker holds for the production configuration.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Final, NoReturn

from hub.broker.files import (
    Account,
    BrokerSettings,
    DeviceAccount,
    HubAccount,
    write_broker_files,
)
from wire.errors import SimError

HOST: Final = "127.0.0.1"
_SEARCH: Final = ("/usr/sbin", "/usr/local/sbin", "/sbin")  # not on a normal user's PATH


class MosquittoMissing(SimError, RuntimeError):
    """Mosquitto is not installed: the message names the Debian package."""


class MosquittoFailed(SimError, RuntimeError):
    """Mosquitto exited or did not listen in time; the message ends with its log."""


def find_mosquitto(executable: str = "mosquitto") -> str:
    """The broker's path, or :class:`MosquittoMissing` naming the package to install."""
    path = shutil.which(executable) or shutil.which(
        executable, path=os.pathsep.join(_SEARCH)
    )
    if path is None:
        raise MosquittoMissing(
            f"{executable!r} not found (PATH, {', '.join(_SEARCH)}): install the Debian "
            "package 'mosquitto' (sudo apt-get install mosquitto)"
        )
    return path


def free_port(host: str = HOST) -> int:
    """A port free right now (the OS picks it); :meth:`Mosquitto.start` retries a lost race."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One Mosquitto on ``host:port``, its files and persistence in ``directory``.

    ``accounts`` maps each username to its account (``.password``, and for
    devices ``.site``/``.room``). ``settings`` overrides :class:`BrokerSettings`
    fields, e.g. ``{"max_queued_messages": 1000}``.
    """

    host: Final = HOST

    def __init__(
        self, directory: Path, hub: HubAccount, devices: Sequence[DeviceAccount] = (), *,
        port: int | None = None, autosave_interval: int = 60,
        settings: dict[str, object] | None = None, executable: str = "mosquitto",
        start_timeout: float = 10.0,
    ) -> None:
        self.directory = Path(directory)
        self.hub, self.devices = hub, tuple(devices)
        everyone: list[Account] = [hub, *devices]
        self.accounts: dict[str, Account] = {a.username: a for a in everyone}
        self._executable = executable
        self._port = port
        self._autosave = autosave_interval
        self._overrides = dict(settings or {})
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Mosquitto has no port until start()")
        return self._port

    @property
    def pid(self) -> int | None:
        """The running process's id, None when stopped."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def conf_path(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def log_text(self) -> str:
        """Everything Mosquitto logged (all runs), for failure messages."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Mosquitto:
        """Write the files and start; return once the port accepts connections."""
        if self.running:
            raise RuntimeError(f"Mosquitto already running (pid {self.pid})")
        executable = find_mosquitto(self._executable)
        attempts = 3 if self._port is None else 1  # only a port chosen here may change
        for attempt in range(attempts):
            if attempts > 1:
                self._port = free_port()
            self._write_files()
            try:
                self._launch(executable)
                return self
            except MosquittoFailed as exc:  # another process took the free port first
                if attempt == attempts - 1 or "in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait; SIGKILL after ``timeout``."""
        if not self.running:
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash; queued messages since the last autosave are lost."""
        if self.running:
            assert self._process is not None
            self._process.kill()
            self._process.wait()

    def restart(self) -> None:
        """Stop if running, start again on the same port with the same persistence folder."""
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start() if not self.running else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------

    def _settings(self) -> BrokerSettings:
        self.directory.mkdir(parents=True, exist_ok=True)
        base = BrokerSettings(
            password_file=self.directory / "passwd", acl_file=self.directory / "acl",
            port=self.port, bind_address=self.host,
            persistence_location=self.directory / "persistence",
            autosave_interval=self._autosave,
            run_as_user=getpass.getuser() if os.geteuid() == 0 else None,
        )
        return replace(base, **self._overrides)  # type: ignore[arg-type]

    def _write_files(self) -> None:
        settings = self._settings()
        assert settings.persistence_location is not None
        settings.persistence_location.mkdir(parents=True, exist_ok=True)
        write_broker_files(settings, self.hub, self.devices, conf=self.conf_path)

    def _launch(self, executable: str) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- start on port {self.port}\n".encode())
        self._process = launch_mosquitto(executable, self.conf_path, self.log_path,
                                         [self.port], host=self.host,
                                         timeout=self._start_timeout)


def launch_mosquitto(executable: str, conf: Path, log_path: Path, ports: Sequence[int], *,
                     host: str = HOST, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Mosquitto on ``conf``, its output appended to ``log_path``; returned once every port
    in ``ports`` accepts connections. The one way tests start it (:class:`Mosquitto`, and
    the tests that run the files ``voyant-hub broker-config`` wrote): if it exits or does
    not listen in time it is killed and :class:`MosquittoFailed` says why, with its log."""
    with log_path.open("ab") as log:
        process = subprocess.Popen([executable, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT)
    for port in ports:
        failure = wait_listening(process, host, port, timeout)
        if failure is not None:
            _failed(process, f"mosquitto on {host}:{port} {failure}", log_path)
    failure = wait_reloadable(process, timeout)
    if failure is not None:
        _failed(process, f"mosquitto on {conf} {failure}", log_path)
    return process


def _failed(process: subprocess.Popen[bytes], what: str, log_path: Path) -> NoReturn:
    """Kill the broker and say why, with the end of its log."""
    process.kill()
    process.wait()
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    tail = "\n".join(text.splitlines()[-15:])
    raise MosquittoFailed(f"{what}; log {log_path}:\n{tail}")


def wait_reloadable(process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Poll until Mosquitto catches SIGHUP (None), or say why not.

    Mosquitto opens its listeners before it installs its signal handlers (its
    ``main``: ``listeners__start()``, then ``signal__setup()``): a reload sent as soon as
    the port answers (``systemctl reload``, a test adding an account) could find SIGHUP's
    default action still in place, and end the broker (seen under load: a test's
    broker gone, its buffered log lost)."""
    return _poll(process, lambda: catches_sighup(process.pid), timeout,
                 "did not install its signal handlers in time")


def catches_sighup(pid: int) -> bool:
    """Whether the process catches SIGHUP, as Linux says (``SigCgt`` in
    ``/proc/PID/status``); elsewhere there is nothing to read: True."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    caught = [line.split()[1] for line in text.splitlines() if line.startswith("SigCgt:")]
    return not caught or bool(int(caught[0], 16) & (1 << (signal.SIGHUP - 1)))


def wait_listening(process: subprocess.Popen[bytes], host: str, port: int,
                   timeout: float) -> str | None:
    """Poll ``port`` until it accepts a connection (None), or say why not: the process
    died, or the deadline passed."""
    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return _poll(process, accepts, timeout, f"not listening on {port} after {timeout} s")


def _poll(process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float,
          late: str) -> str | None:
    """Ask ``ready()`` until it holds (None) while the process runs: else why not (it
    exited, or ``late`` at the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with {process.returncode}"
        if ready():
            return None
        time.sleep(0.005)  # poll interval, bounded by the deadline above
    return late
