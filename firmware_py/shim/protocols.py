"""Types for the duck-typed objects the firmware receives (CPython type checking only).

Firmware modules import these under ``if TYPE_CHECKING:`` with their own
``TYPE_CHECKING = False``, which mypy treats as true and MicroPython skips.
"""

from __future__ import annotations

from typing import Protocol


class Writer(Protocol):
    """A byte stream: ``sys.stdout.buffer`` on the Pico, a pty or a buffer elsewhere."""

    def write(self, data: bytes, /) -> int | None: ...


class Ticks(Protocol):
    """MicroPython's ``time.ticks_*`` and ``sleep_ms``."""

    def ticks_ms(self) -> int: ...

    def ticks_add(self, ticks: int, delta: int, /) -> int: ...

    def ticks_diff(self, end: int, start: int, /) -> int: ...

    def sleep_ms(self, ms: int, /) -> None: ...
