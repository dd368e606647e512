"""The firmware probe over USB serial: bytes in, :class:`ProbeSample` out.

Reads are non-blocking (``timeout=0``) so the agent's loop never stalls on
the port. A port that errors or vanishes (the Pico unplugged, a USB reset) is
closed and reopened on the agent's clock, never more often than
``reopen_interval_s``; :meth:`SerialProbeLink.poll` never raises.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable
from typing import Protocol

import serial

from edge_agent.clock import Clock
from edge_agent.probe.frames import Frame, FrameDecoder
from edge_agent.probe.sample import ProbeSample
from firmware_py.frame import PROBE_MS_MODULO, SEQ_MODULO

log = logging.getLogger("voyant.probe")

READ_CHUNK = 4096
MAX_READ_PER_POLL = 256 * 1024
"""Bound on one poll's work; the probe sends 140 bytes/s, so only a flood reaches it."""

#: Sample ends are rounded to this many decimals (the microsecond).
END_DECIMALS = 6
MIN_WINDOW_S = 0.005
MAX_WINDOW_S = 2.5
"""A window longer than this cannot be real: the firmware's 2 s watchdog would have reset it."""


class SerialPort(Protocol):
    """What the link needs of a ``serial.Serial``."""

    def read(self, size: int = ...) -> bytes: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


SerialFactory = Callable[..., SerialPort]


class SampleMaker:
    """Turns checked frames into samples on the agent's clock; tracks sequence and boots.

    A read's last frame ends at its receipt time; earlier frames of the same
    read are back-dated by the probe's own ms differences. A window's duration
    is its probe_ms delta (spread evenly over frames lost in between); after a
    boot, or when the delta is implausible, it is the nominal ``frame_s``.
    Across a port reopen nothing is assumed: a USB probe that reset lost its
    BOOT frame with the port, so frames missed during the outage are not
    reported as ``lost_before`` (the outage shows as time without samples).
    Ends are kept to the microsecond (:data:`END_DECIMALS`), so that a frame is
    dated the same whether USB hands it over alone or in a burst with the next ones.
    """

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self._prev: Frame | None = None
        self._last_end = float("-inf")
        self.seq_gaps = 0
        self.frames_lost = 0
        self.boots = 0
        self.wdt_resets = 0
        self.restarts_unseen = 0

    def forget(self) -> None:
        """Drop sequence continuity: after a reopen the probe may have restarted unseen."""
        self._prev = None

    def convert(self, frames: list[Frame], received: float) -> list[ProbeSample]:
        timings = [self._timing(frame) for frame in frames]
        ends: list[float] = []
        end = received
        for _lost, _duration, span in reversed(timings):
            ends.append(round(end, END_DECIMALS))
            end -= span
        ends.reverse()
        samples = []
        last_end = self._last_end
        for frame, (lost, duration, _span), end in zip(frames, timings, ends, strict=True):
            last_end = max(end, last_end)
            samples.append(self._sample(frame, lost, duration, last_end))
        self._last_end = last_end
        return samples

    def _sample(self, frame: Frame, lost: int, duration: float, end: float) -> ProbeSample:
        return ProbeSample(end, duration, frame.counts, frame.hv_ok,
                           "counter_overflow" if frame.overflow else None, lost)

    def _timing(self, frame: Frame) -> tuple[int, float, float]:
        """(frames lost before it, its duration, seconds since the previous frame's end)."""
        prev, self._prev = self._prev, frame
        if frame.boot:
            self.boots += 1
            self.wdt_resets += frame.wdt_reset
            return 0, self.frame_s, self.frame_s
        if prev is None:
            return 0, self.frame_s, self.frame_s
        lost = (frame.seq - prev.seq - 1) % SEQ_MODULO
        delta_s = ((frame.probe_ms - prev.probe_ms) % PROBE_MS_MODULO) / 1000
        if delta_s < (lost + 1) * MIN_WINDOW_S or delta_s > PROBE_MS_MODULO / 2000:
            # Time went back or the sequence jumped further than time allows:
            # the probe restarted and its BOOT frame was lost.
            self.restarts_unseen += 1
            return 0, self.frame_s, self.frame_s
        if lost:
            self.seq_gaps += 1
            self.frames_lost += lost
        per_window = delta_s / (lost + 1)
        if per_window > MAX_WINDOW_S:
            return lost, self.frame_s, self.frame_s * (lost + 1)
        return lost, per_window, delta_s

    def stats(self) -> dict[str, int]:
        return {
            "seq_gaps": self.seq_gaps,
            "frames_lost": self.frames_lost,
            "boots": self.boots,
            "wdt_resets": self.wdt_resets,
            "restarts_unseen": self.restarts_unseen,
        }


class SerialProbeLink:
    """The firmware probe on a serial port, polled by the agent's loop.

    >>> link = SerialProbeLink("/dev/ttyACM0", SystemClock())   # doctest: +SKIP
    >>> while True:
    ...     link.wait_readable(0.5)
    ...     monitor.add_samples(link.poll())
    """

    def __init__(
        self,
        port: str,
        clock: Clock,
        *,
        baudrate: int = 115200,
        frame_s: float = 0.1,
        reopen_interval_s: float = 2.0,
        serial_factory: SerialFactory = serial.Serial,
    ) -> None:
        self.port = port
        self._clock = clock
        self._baudrate = baudrate
        self._reopen_interval_s = reopen_interval_s
        self._factory = serial_factory
        self._serial: SerialPort | None = None
        self._decoder = FrameDecoder()
        self._samples = SampleMaker(frame_s)
        self._next_open = clock.monotonic()
        self._opened_once = False
        self._outage_logged = False
        self._counts = {"opens": 0, "reopens": 0, "open_failures": 0, "read_errors": 0}
        self.bytes_read = 0
        self._open()

    def poll(self) -> list[ProbeSample]:
        """Samples from every complete frame received since the last poll."""
        if self._serial is None and not self._open():
            return []
        data = self._read_available()
        if not data:
            return []
        frames = self._decoder.feed(data)
        return self._samples.convert(frames, self._clock.monotonic())

    def fileno(self) -> int | None:
        """The open port's descriptor, for a select()-based loop; None while closed."""
        if self._serial is None:
            return None
        try:
            return self._serial.fileno()
        except (OSError, ValueError, serial.SerialException):
            return None

    def wait_readable(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` real seconds for bytes; False at once while closed."""
        fd = self.fileno()
        if fd is None:
            return False
        try:
            readable, _, _ = select.select([fd], [], [], max(0.0, timeout_s))
        except (OSError, ValueError):
            return False
        return bool(readable)

    def next_deadline(self) -> float | None:
        """None while the port is open (frames drive the loop); else the next reopen time."""
        return None if self._serial is not None else self._next_open

    def stats(self) -> dict[str, int]:
        return {
            **self._decoder.stats(),
            **self._samples.stats(),
            **self._counts,
            "bytes_read": self.bytes_read,
            "connected": int(self._serial is not None),
        }

    def close(self) -> None:
        self._drop_port()

    def _open(self) -> bool:
        """Try the port if the reopen interval has passed; True when it is open."""
        now = self._clock.monotonic()
        if now < self._next_open:
            return False
        try:
            self._serial = self._factory(self.port, baudrate=self._baudrate, timeout=0)
        except (OSError, ValueError, serial.SerialException) as exc:
            self._counts["open_failures"] += 1
            self._next_open = now + self._reopen_interval_s
            self._log_outage("cannot open probe port %s: %s", exc)
            return False
        self._counts["reopens" if self._opened_once else "opens"] += 1
        self._opened_once = True
        self._outage_logged = False
        self._decoder.reset()
        self._samples.forget()
        log.info("probe port %s open", self.port)
        return True

    def _read_available(self) -> bytes:
        """All bytes waiting (bounded); a failing port is closed and scheduled for reopening."""
        data = bytearray()
        port = self._serial
        try:
            while port is not None and len(data) < MAX_READ_PER_POLL:
                chunk = port.read(READ_CHUNK)
                data += chunk
                if len(chunk) < READ_CHUNK:
                    break
        except (OSError, serial.SerialException) as exc:
            self._counts["read_errors"] += 1
            self._log_outage("probe port %s lost: %s", exc)
            self._drop_port()
            self._next_open = self._clock.monotonic() + self._reopen_interval_s
        self.bytes_read += len(data)
        return bytes(data)

    def _drop_port(self) -> None:
        port, self._serial = self._serial, None
        if port is None:
            return
        try:
            port.close()
        except (OSError, serial.SerialException):
            log.debug("closing probe port %s failed", self.port, exc_info=True)

    def _log_outage(self, message: str, exc: BaseException) -> None:
        """One warning per outage, not one per retry."""
        if not self._outage_logged:
            log.warning(message, self.port, exc)
            self._outage_logged = True
