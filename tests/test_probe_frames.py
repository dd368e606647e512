"""The agent's frame decoder: every check, resynchronisation, bounded memory."""

from __future__ import annotations

import binascii
import random
import struct

import pytest

from edge_agent.probe.frames import CHUNK, MAX_COUNTS_PER_FRAME, Frame, FrameDecoder
from firmware_py.frame import (
    FLAG_BOOT,
    FLAG_COUNTER_OVERFLOW,
    FLAG_HV_OK,
    FLAG_WDT_RESET,
    FRAME_LEN,
    SYNC,
    crc16,
    encode_frame,
)


def good(seq: int = 1, counts: int = 3, flags: int = FLAG_HV_OK) -> bytes:
    return encode_frame(seq, 100 * seq, counts, flags)


def with_crc(body: bytes) -> bytes:
    """A frame around ``body`` (bytes 2..11) whose CRC is right, whatever the body says."""
    return SYNC + body + struct.pack("<H", crc16(body))


@pytest.fixture
def decoder() -> FrameDecoder:
    return FrameDecoder()


def test_round_trip_every_flag(decoder: FrameDecoder) -> None:
    flags = FLAG_HV_OK | FLAG_BOOT | FLAG_WDT_RESET
    frames = decoder.feed(encode_frame(65535, 2**32 - 1, 2000, flags))
    assert frames == [Frame(65535, 2**32 - 1, 2000, True, True, True, False)]
    assert decoder.feed(encode_frame(0, 0, 0, 0)) == [Frame(0, 0, 0, False, False, False, False)]


def test_crc_matches_binascii() -> None:
    rng = random.Random(7)
    for _ in range(50):
        data = rng.randbytes(rng.randrange(0, 64))
        assert crc16(data) == binascii.crc_hqx(data, 0xFFFF)


def test_garbage_before_and_between_frames(decoder: FrameDecoder) -> None:
    data = b"\x00\xa5junk" + good(1) + b"\xa5\xa5\x5a" + good(2) + b"\x5a"
    assert [f.seq for f in decoder.feed(data)] == [1, 2]
    assert decoder.garbage_bytes == 6 + 3 + 1
    assert decoder.resyncs == 2
    assert decoder.buffered == 0


def test_truncated_frame_then_good_one(decoder: FrameDecoder) -> None:
    frames = decoder.feed(good(1)[:7] + good(2))
    assert [f.seq for f in frames] == [2]
    assert decoder.crc_errors == 1 and decoder.garbage_bytes == 7


@pytest.mark.parametrize("bit", range(16, FRAME_LEN * 8))
def test_any_flipped_bit_is_rejected_and_counted(decoder: FrameDecoder, bit: int) -> None:
    damaged = bytearray(good(1))
    damaged[bit // 8] ^= 1 << (bit % 8)
    assert decoder.feed(bytes(damaged)) == []
    assert decoder.crc_errors == 1
    assert [f.seq for f in decoder.feed(good(2))] == [2]


def test_wrong_version_reserved_bits_and_counts_are_bad_frames(decoder: FrameDecoder) -> None:
    bodies = [
        struct.pack("<BHIHB", 2, 1, 100, 3, 0),
        struct.pack("<BHIHB", 1, 1, 100, 3, 0x10),
        struct.pack("<BHIHB", 1, 1, 100, MAX_COUNTS_PER_FRAME + 1, 0),
        struct.pack("<BHIHB", 1, 1, 100, 5, FLAG_COUNTER_OVERFLOW),
    ]
    assert decoder.feed(b"".join(with_crc(b) for b in bodies)) == []
    assert decoder.bad_frames == 4 and decoder.crc_errors == 0


def test_saturated_frame_with_its_flag_is_accepted(decoder: FrameDecoder) -> None:
    (frame,) = decoder.feed(encode_frame(1, 100, 0xFFFF, FLAG_COUNTER_OVERFLOW))
    assert frame.overflow and frame.counts == 0xFFFF


def test_byte_by_byte(decoder: FrameDecoder) -> None:
    stream = b"\xa5" + good(1) + good(2) + b"\x01" + good(3)
    frames = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert [f.seq for f in frames] == [1, 2, 3]
    assert decoder.frames_ok == 3 and decoder.garbage_bytes == 2


def test_random_flood_accepts_nothing_and_stays_bounded(decoder: FrameDecoder) -> None:
    flood = random.Random(3).randbytes(1 << 20)
    for start in range(0, len(flood), 65536):
        assert decoder.feed(flood[start : start + 65536]) == []
        assert decoder.buffered < CHUNK + FRAME_LEN
    assert decoder.frames_ok == 0
    assert decoder.garbage_bytes >= len(flood) - FRAME_LEN
    assert [f.seq for f in decoder.feed(good(9))] == [9]


def test_flood_of_sync_patterns_is_handled(decoder: FrameDecoder) -> None:
    assert decoder.feed(SYNC * 50_000) == []
    assert decoder.buffered < CHUNK + FRAME_LEN
    assert [f.seq for f in decoder.feed(good(4))] == [4]


def test_empty_feed_and_reset_keep_counters(decoder: FrameDecoder) -> None:
    assert decoder.feed(b"") == []
    decoder.feed(b"xx" + good(1)[:9])
    decoder.reset()
    assert decoder.buffered == 0 and decoder.garbage_bytes == 11
    assert decoder.stats()["frames_ok"] == 0
    assert [f.seq for f in decoder.feed(good(2))] == [2]
