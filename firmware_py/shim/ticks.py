"""CPython version of MicroPython's ``time.ticks_*``: ms ticks that wrap at 2**30.

The wrap is kept on purpose so that code tested here survives the Pico's
tick wrap (every 12.4 days). :class:`VirtualTicks` is the same on a manual
clock whose ``sleep_ms`` advances virtual time, for schedule tests.
"""

from __future__ import annotations

import time

TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD // 2


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) % TICKS_PERIOD


def ticks_diff(end: int, start: int) -> int:
    """Signed difference ``end - start`` across the wrap, as MicroPython defines it."""
    return ((end - start + _HALF) % TICKS_PERIOD) - _HALF


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) % TICKS_PERIOD


def sleep_ms(ms: int) -> None:
    if ms > 0:
        time.sleep(ms / 1000)


class VirtualTicks:
    """Tick functions on virtual time: ``sleep_ms`` advances it, ``work_ms`` models CPU time."""

    def __init__(self, start_ms: int = 0, work_ms: int = 0) -> None:
        self.now = start_ms
        self.work_ms = work_ms

    def ticks_ms(self) -> int:
        """Each read costs ``work_ms`` of virtual time, like code running between reads."""
        value = self.now % TICKS_PERIOD
        self.now += self.work_ms
        return value

    def ticks_add(self, ticks: int, delta: int) -> int:
        return ticks_add(ticks, delta)

    def ticks_diff(self, end: int, start: int) -> int:
        return ticks_diff(end, start)

    def sleep_ms(self, ms: int) -> None:
        self.now += max(0, ms)
