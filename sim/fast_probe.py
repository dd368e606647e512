"""The simulated Pico without the pty: the same firmware, the same frame bytes, in process.

``voyant-sim run --fast`` hands the agent's real :class:`SerialProbeLink`
(decoder, sample dating, reopening) a port object instead of a pty: what the
firmware writes is what the link reads, with no system call and no wait on
the kernel. It keeps the pty's behaviour that the agent can see: frames
written while no port is open are dropped; unplugging fails the open port's
next read (as a pty whose master closed does) and every open until the probe
is plugged in again, when it boots afresh.
"""

from __future__ import annotations

import serial

from edge_agent.clock import Clock
from edge_agent.probe.serial_link import SerialProbeLink
from sim.probe_pty import PtyProbe


class MemoryPort:
    """One open of the probe's port: the bytes written to it since, until read."""

    def __init__(self, line: MemoryLine, session: int) -> None:
        self._line = line
        self.session = session
        self.buffer = bytearray()
        self.closed = False

    def read(self, size: int = 1) -> bytes:
        if self.session != self._line.session:
            raise serial.SerialException("read failed: [Errno 5] Input/output error")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def fileno(self) -> int:
        return -1  # nothing to wait on: the bytes are there as soon as they are written

    def close(self) -> None:
        self.closed = True
        if self._line.port is self:
            self._line.port = None


class MemoryLine:
    """The probe's USB line: plugged in or not, and the port the agent holds open on it."""

    def __init__(self) -> None:
        self.session = 0
        self.plugged = False
        self.port: MemoryPort | None = None

    def open(self, path: str, **_settings: object) -> MemoryPort:
        """The agent's ``serial.Serial(path, ...)``."""
        if not self.plugged:
            raise serial.SerialException(f"could not open port {path}: [Errno 2] No such file")
        self.port = MemoryPort(self, self.session)
        return self.port

    def listening(self) -> bool:
        return self.port is not None and not self.port.closed and self.port.session == self.session


class _LineWriter:
    """The firmware's ``out``: the open port, or nowhere (as the pty's master writer)."""

    def __init__(self, probe: MemoryProbe) -> None:
        self._probe = probe

    def host_listening(self) -> bool:
        return self._probe.line.listening()

    def write(self, data: bytes) -> int:
        line = self._probe.line
        if not line.listening():
            self._probe.bytes_dropped += len(data)
            return len(data)
        assert line.port is not None
        line.port.buffer += data
        self._probe.bytes_written += len(data)
        return len(data)


class MemoryProbe(PtyProbe):
    """:class:`PtyProbe` on a :class:`MemoryLine`: the same boards and firmware, no pty."""

    def __init__(self, now_ms: int = 0, *, name: str = "ttyACM-voyant-probe") -> None:
        self.line = MemoryLine()
        super().__init__(now_ms, name=name)

    def link(self, clock: Clock, frame_s: float) -> SerialProbeLink:
        """The agent's link to this probe (its port opened through the line)."""
        return SerialProbeLink(self.port_path, clock, frame_s=frame_s,
                               serial_factory=self.line.open)

    def hold(self) -> None:
        """Nothing to hold: the agent reads only when it steps."""

    def flush(self) -> int:
        return 0

    def _open_pty(self) -> None:
        self.line.session += 1
        self.line.plugged = True
        self.tty_name = "memory"
        self._writer = _LineWriter(self)

    def _close_pty(self) -> None:
        self.line.plugged = False
        self.line.session += 1
        self._writer = None
        self._board = None
