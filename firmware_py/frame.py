"""The probe's wire format: one 14-byte frame per counting window.

This module is the single source of truth for the format: the firmware
encodes with it and the agent's decoder imports its constants and
:func:`crc16`. It runs unchanged on MicroPython (``struct`` only, no
``typing``), so it holds nothing but constants and two small functions.

Layout (little-endian)::

    off size field
    0   2    sync 0xA5 0x5A
    2   1    version = 1
    3   2    seq, uint16, +1 per frame, wraps
    5   4    probe_ms, uint32, ms since probe boot at the end of the window, wraps
    9   2    counts in this window, uint16
    11  1    flags (see FLAG_*), bits 4-7 reserved = 0
    12  2    CRC-16/CCITT-FALSE over bytes 2..11
"""

import struct

SYNC = b"\xa5\x5a"
VERSION = 1
FRAME_LEN = 14
FRAME_PERIOD_MS = 100

# Bytes 2..11 (version, seq, probe_ms, counts, flags): what the CRC covers.
BODY_FORMAT = "<BHIHB"
BODY_START = 2
BODY_END = 12

FLAG_HV_OK = 0x01
FLAG_BOOT = 0x02
FLAG_WDT_RESET = 0x04
FLAG_COUNTER_OVERFLOW = 0x08
FLAGS_RESERVED = 0xF0

SEQ_MODULO = 0x10000
PROBE_MS_MODULO = 0x100000000
COUNTS_MAX = 0xFFFF

CRC_INIT = 0xFFFF
CRC_POLY = 0x1021


def _crc_table() -> list[int]:
    """CRC-16/CCITT-FALSE lookup table: one entry per leading byte."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16_table(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0), by table."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


try:  # CPython's binascii computes the same CRC in C (the simulator makes millions of frames)
    from binascii import crc_hqx as _crc_hqx
except ImportError:  # pragma: no cover - MicroPython's binascii has no crc_hqx: the table
    _crc_hqx = None  # type: ignore[assignment]


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE: :func:`crc16_table`'s, in C where the platform has it."""
    if _crc_hqx is not None:
        return _crc_hqx(data, crc)
    return crc16_table(data, crc)


def encode_frame(seq: int, probe_ms: int, counts: int, flags: int) -> bytes:
    """One frame; ``seq`` and ``probe_ms`` wrap, out-of-range counts or flags raise."""
    if counts < 0 or counts > COUNTS_MAX:
        raise ValueError("counts out of range")
    if flags < 0 or flags > 0xFF or flags & FLAGS_RESERVED:
        raise ValueError("reserved flag bits set")
    body = struct.pack(
        BODY_FORMAT, VERSION, seq % SEQ_MODULO, probe_ms % PROBE_MS_MODULO, counts, flags
    )
    return SYNC + body + struct.pack("<H", crc16(body))
