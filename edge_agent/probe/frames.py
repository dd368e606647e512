"""Decode the probe's byte stream into frames, resynchronising after any damage.

The format comes from :mod:`firmware_py.frame` (one source of truth). The
decoder trusts nothing: a frame is yielded only when its sync, version,
reserved bits, CRC and counts all pass; any failure drops one byte and the
search for the next sync starts again. Memory stays bounded whatever arrives.
"""

from __future__ import annotations

import binascii
import struct
from typing import NamedTuple

from firmware_py.frame import (
    BODY_END,
    BODY_FORMAT,
    BODY_START,
    COUNTS_MAX,
    CRC_INIT,
    FLAG_BOOT,
    FLAG_COUNTER_OVERFLOW,
    FLAG_HV_OK,
    FLAG_WDT_RESET,
    FLAGS_RESERVED,
    FRAME_LEN,
    SYNC,
    VERSION,
)

MAX_COUNTS_PER_FRAME = 2000
"""20,000 counts/s: far above any GM tube's dead-time limit (SBM-20: ~5,000/s)."""

CHUNK = 4096
"""Input is taken in chunks of this size, so the buffer never exceeds CHUNK + FRAME_LEN."""

_CRC = struct.Struct("<H")
_BODY = struct.Struct(BODY_FORMAT)


class Frame(NamedTuple):
    """One decoded, fully checked frame (a named tuple: immutable, and made ten times a second
    on a Pi Zero, three times faster than a frozen dataclass)."""

    seq: int
    probe_ms: int
    counts: int
    hv_ok: bool
    boot: bool
    wdt_reset: bool
    overflow: bool


class FrameDecoder:
    """Feed bytes as they arrive; get back the frames that passed every check.

    Counters: ``frames_ok``, ``crc_errors`` (candidates whose CRC failed),
    ``bad_frames`` (CRC right but version, reserved bits or counts wrong),
    ``garbage_bytes`` (bytes dropped outside accepted frames), ``resyncs``
    (frames found again after bytes had to be dropped).
    """

    def __init__(self, max_counts: int = MAX_COUNTS_PER_FRAME) -> None:
        self.max_counts = max_counts
        self._buf = bytearray()
        self.frames_ok = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.garbage_bytes = 0
        self.resyncs = 0
        self._lost_alignment = False

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (always < CHUNK + FRAME_LEN)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget a partial frame (the stream was reopened); counters are kept."""
        self._skip(len(self._buf))
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Decode ``data`` appended to what was buffered; never raises on content."""
        frames: list[Frame] = []
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self._buf += view[start : start + CHUNK]
            self._scan(frames)
        return frames

    def stats(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "crc_errors": self.crc_errors,
            "bad_frames": self.bad_frames,
            "garbage_bytes": self.garbage_bytes,
            "resyncs": self.resyncs,
        }

    def _scan(self, frames: list[Frame]) -> None:
        """Take every complete frame from the buffer; keep only a possible partial one."""
        buf = self._buf
        pos = 0
        while True:
            sync = buf.find(SYNC, pos)
            if sync < 0:
                keep = 1 if pos < len(buf) and buf[-1] == SYNC[0] else 0
                self._skip(len(buf) - keep - pos)
                pos = len(buf) - keep
                break
            if sync != pos:
                self._skip(sync - pos)
                pos = sync
            if len(buf) - pos < FRAME_LEN:
                break
            frame = self._check(buf, pos)
            if frame is None:
                self._skip(1)
                pos += 1
            else:
                frames.append(frame)
                self.frames_ok += 1
                if self._lost_alignment:
                    self._accepted_again()
                pos += FRAME_LEN
        del buf[:pos]

    def _skip(self, n: int) -> None:
        if n > 0:
            self.garbage_bytes += n
            self._lost_alignment = True

    def _accepted_again(self) -> None:
        """A frame accepted after bytes were dropped: alignment found again."""
        self.resyncs += 1
        self._lost_alignment = False

    def _check(self, buf: bytearray, pos: int) -> Frame | None:
        """The frame at ``pos`` if it passes every check, else None (and counted)."""
        body = buf[pos + BODY_START : pos + BODY_END]
        (crc,) = _CRC.unpack_from(buf, pos + BODY_END)
        if binascii.crc_hqx(body, CRC_INIT) != crc:
            self.crc_errors += 1
            return None
        version, seq, probe_ms, counts, flags = _BODY.unpack(body)
        overflow = bool(flags & FLAG_COUNTER_OVERFLOW)
        if version != VERSION or flags & FLAGS_RESERVED or not self._plausible(counts, overflow):
            self.bad_frames += 1
            return None
        return Frame(seq, probe_ms, counts, bool(flags & FLAG_HV_OK), bool(flags & FLAG_BOOT),
                     bool(flags & FLAG_WDT_RESET), overflow)

    def _plausible(self, counts: int, overflow: bool) -> bool:
        """Counts within the tube's reach, or the firmware's saturated value with its flag."""
        if overflow:
            return counts == COUNTS_MAX
        return counts <= self.max_counts
