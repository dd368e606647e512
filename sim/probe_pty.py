"""A simulated Pico probe behind a real pseudo-terminal.

The real firmware (:mod:`firmware_py.probe`) runs on shim pins and writes
its frames into the master side of a pty; the agent opens the slave side
with pyserial exactly as it opens ``/dev/ttyACM0``. ``port_path`` is a
stable symlink (like ``/dev/serial/by-id/...``) re-pointed at each new pty,
so an unplugged and replugged probe reappears under the same name.

Like the Pico's USB serial with no host listening, frames written while no
one has the port open are dropped (and the firmware carries on).

Frames may be *held* (:meth:`PtyProbe.hold`) and written together by
:meth:`PtyProbe.flush`, as USB hands a host a burst of them: the firmware
still makes each one at its own millisecond. :mod:`sim.fast_probe` is the
same probe without the pty (``voyant-sim run --fast``).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import time
import tty
from typing import Protocol

from edge_agent.errors import ProbeError
from edge_agent.probe.sample import ProbeSample
from edge_agent.probe.serial_link import SerialProbeLink
from firmware_py.counter import PulseCounter
from firmware_py.main import GM_PIN, HV_OK_PIN, WDT_TIMEOUT_MS
from firmware_py.probe import ProbeFirmware
from firmware_py.shim import machine


class Line(Protocol):
    """Where the firmware's frames go: the pty's master, or :mod:`sim.fast_probe`'s port."""

    def host_listening(self) -> bool: ...

    def write(self, data: bytes) -> int: ...


class _MasterWriter:
    """The firmware's ``out``: the pty master, or nowhere when no host has the port open."""

    def __init__(self, probe: PtyProbe, master: int) -> None:
        self._probe = probe
        self._master = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLOUT)

    def host_listening(self) -> bool:
        """False while no process has the slave open (the master reports a hang-up)."""
        return not any(ev & select.POLLHUP for _, ev in self._poll.poll(0))

    def write(self, data: bytes) -> int:
        probe = self._probe
        if not (probe.held_listening if probe.holding else self.host_listening()):
            probe.bytes_dropped += len(data)
            return len(data)
        if probe.holding:
            probe.held += data
            return len(data)
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        self._probe.bytes_written += written
        return written


class _Board:
    """One power-on of the simulated Pico: pins, watchdog and firmware."""

    def __init__(self, probe: PtyProbe, writer: Line, now_ms: int, cause: int) -> None:
        self.boot_ms = now_ms
        self.gm = machine.Pin(GM_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self.hv_ok = machine.Pin(HV_OK_PIN, machine.Pin.IN, machine.Pin.PULL_DOWN)
        self.wdt = machine.WDT(timeout=WDT_TIMEOUT_MS, clock=lambda: probe.now_ms)
        machine.set_reset_cause(cause)
        try:
            self.firmware = ProbeFirmware(PulseCounter(self.gm), self.hv_ok, writer, self.wdt)
        finally:
            machine.set_reset_cause(machine.PWRON_RESET)


class PtyProbe:
    """The Pico on a pty, driven one frame at a time by the simulator.

    >>> probe = PtyProbe()
    >>> link = SerialProbeLink(probe.port_path, clock)          # doctest: +SKIP
    >>> deliver_and_poll(probe, link, counts=3, now_ms=100)     # doctest: +SKIP
    """

    def __init__(self, now_ms: int = 0, *, name: str = "ttyACM-voyant-probe") -> None:
        self._dir = tempfile.mkdtemp(prefix="voyant-probe-")
        self.port_path = os.path.join(self._dir, name)
        self.now_ms = now_ms
        self.bytes_written = 0
        self.bytes_dropped = 0
        self.watchdog_resets = 0
        self.tty_name = ""
        self._master = -1
        self._writer: Line | None = None
        self._board: _Board | None = None
        #: While holding, frames written wait in ``held`` for :meth:`flush`.
        self.holding = False
        self.held = bytearray()
        self.held_listening = False
        self.set_connected(True, now_ms)

    @property
    def connected(self) -> bool:
        return self._board is not None

    def deliver(self, counts: int, now_ms: int, hv_ok: bool = True) -> int:
        """Pulse the GM pin ``counts`` times, tick the firmware once; bytes written to the pty."""
        board = self._board
        if board is None:
            return 0
        self.now_ms = now_ms
        if board.wdt.expired_at(now_ms):
            board = self._reboot(now_ms, machine.WDT_RESET)
        board.hv_ok.set_value(hv_ok)
        board.gm.pulse(counts)
        before = self.bytes_written
        board.firmware.tick(now_ms - board.boot_ms)
        return self.bytes_written - before

    def hold(self) -> None:
        """Keep the frames the firmware writes from now on, until :meth:`flush`; whether a
        host listens is asked once (no one opens or closes the port until the flush: the
        agent does not step meanwhile), not once a frame."""
        self.holding = True
        self.held_listening = self._writer is not None and self._writer.host_listening()

    def flush(self) -> int:
        """Write the held frames in one go; the bytes written (all of them, or it raises)."""
        self.holding = False
        data, self.held = bytes(self.held), bytearray()
        if not data:
            return 0
        written = os.write(self._master, data) if self._master >= 0 else 0
        if written != len(data):
            raise ProbeError(f"the pty took {written} of {len(data)} held bytes")
        self.bytes_written += written
        return written

    def inject(self, raw: bytes) -> int:
        """Write arbitrary bytes into the stream (line noise for tests); bytes written."""
        if self._writer is None:
            return 0
        return self._writer.write(raw) if self._writer.host_listening() else 0

    def set_connected(self, flag: bool, now_ms: int) -> None:
        """Unplug (the port vanishes) or plug in (a fresh boot: seq 0, BOOT flag)."""
        if flag == self.connected:
            return
        self.now_ms = now_ms
        if flag:
            self._open_pty()
            self._reboot(now_ms, machine.PWRON_RESET)
        else:
            self._close_pty()

    def close(self) -> None:
        self._close_pty()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _reboot(self, now_ms: int, cause: int) -> _Board:
        assert self._writer is not None
        if cause == machine.WDT_RESET:
            self.watchdog_resets += 1
        self._board = _Board(self, self._writer, now_ms, cause)
        return self._board

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # before any byte: no echo, no CR/LF translation
        self.tty_name = os.ttyname(slave)
        os.close(slave)  # the agent's open is then the only one: hang-up tells us it left
        os.set_blocking(master, False)
        self._master = master
        self._writer = _MasterWriter(self, master)
        link = self.port_path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(self.tty_name, link)
        os.replace(link, self.port_path)

    def _close_pty(self) -> None:
        self.held.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.port_path)
        if self._master >= 0:
            os.close(self._master)
        self._master = -1
        self._writer = None
        self._board = None


def drain(
    link: SerialProbeLink, target_bytes_read: int, timeout_s: float = 2.0
) -> list[ProbeSample]:
    """Poll ``link`` until it has consumed ``target_bytes_read`` bytes (lockstep).

    Waits in real time only for the pty to pass bytes already written; gives
    up at once if the link's port is closed (those bytes are lost, as on a
    real unplug) and raises :class:`ProbeError` after ``timeout_s``.
    """
    samples = link.poll()
    deadline = time.monotonic() + timeout_s
    while link.bytes_read < target_bytes_read and link.fileno() is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"link read {link.bytes_read} of {target_bytes_read} bytes")
        link.wait_readable(min(remaining, 0.05))
        samples += link.poll()
    return samples


def deliver_and_poll(
    probe: PtyProbe, link: SerialProbeLink, counts: int, now_ms: int, hv_ok: bool = True
) -> list[ProbeSample]:
    """One simulator tick: the probe sends its frame, the agent reads all of it."""
    target = link.bytes_read + probe.deliver(counts, now_ms, hv_ok)
    return drain(link, target)
