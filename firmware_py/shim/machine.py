"""CPython shim of MicroPython's ``machine`` module (the parts the probe uses)."""

from __future__ import annotations

import time
from collections.abc import Callable

PWRON_RESET = 1
WDT_RESET = 3

IrqHandler = Callable[["Pin"], None]


class _IrqState:
    """Global IRQ enable state: pulses arriving while disabled wait, as on the chip."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list[tuple[Pin, int]] = []


_irq = _IrqState()
_reset_cause = PWRON_RESET


def disable_irq() -> int:
    """Hold back IRQs; returns the state to hand to :func:`enable_irq`."""
    _irq.depth += 1
    return _irq.depth - 1


def enable_irq(state: int) -> None:
    """Restore the IRQ state; at depth 0, run the IRQs that arrived meanwhile."""
    _irq.depth = state
    while _irq.depth == 0 and _irq.pending:
        pin, calls = _irq.pending.pop(0)
        pin._fire(calls)


def reset_cause() -> int:
    return _reset_cause


def set_reset_cause(cause: int) -> None:
    """Test helper: what the next :func:`reset_cause` reports (PWRON_RESET or WDT_RESET)."""
    global _reset_cause
    _reset_cause = cause


class Pin:
    """A GPIO pin: input with optional pull, or output; IRQ on edges."""

    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(
        self, id: int, mode: int = IN, pull: int | None = None, value: int | None = None
    ) -> None:
        self.id = id
        self.mode = mode
        self.pull = pull
        idle = 1 if pull == Pin.PULL_UP else 0
        self._value = idle if value is None else int(bool(value))
        self._handler: IrqHandler | None = None
        self._trigger = 0

    def value(self, v: int | bool | None = None) -> int:
        """Read the level, or drive it when the pin is an output."""
        if v is not None:
            self._value = int(bool(v))
        return self._value

    def on(self) -> None:
        self._value = 1

    def off(self) -> None:
        self._value = 0

    def irq(
        self, handler: IrqHandler | None = None, trigger: int = IRQ_FALLING, hard: bool = False
    ) -> None:
        """Install ``handler`` for ``trigger`` edges (``hard`` is accepted and ignored)."""
        self._handler = handler
        self._trigger = trigger

    def set_value(self, v: int | bool) -> None:
        """Simulator helper: the outside world sets an input's level (edges fire IRQs)."""
        level = int(bool(v))
        if level == self._value:
            return
        self._value = level
        edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self._handler is not None and self._trigger & edge:
            self._fire(1)

    def pulse(self, n: int = 1) -> None:
        """Simulator helper: ``n`` short pulses to the opposite level and back.

        Each pulse makes one falling and one rising edge; the installed handler
        runs once per edge that matches its trigger, unless IRQs are disabled,
        in which case the pulses wait for :func:`enable_irq`.
        """
        edges = bool(self._trigger & Pin.IRQ_FALLING) + bool(self._trigger & Pin.IRQ_RISING)
        if n > 0 and self._handler is not None and edges:
            self._fire(n * edges)

    def _fire(self, calls: int) -> None:
        """Run the handler ``calls`` times now, or later if IRQs are disabled."""
        if _irq.depth:
            _irq.pending.append((self, calls))
            return
        handler = self._handler
        assert handler is not None
        for _ in range(calls):
            handler(self)


class WDT:
    """Watchdog: must be fed within ``timeout`` ms; the shim only reports expiry.

    ``clock`` (CPython only) returns the current time in ms; the default is the
    process's monotonic clock. The simulator hands in its virtual clock.
    """

    def __init__(
        self, id: int = 0, timeout: int = 5000, *, clock: Callable[[], int] | None = None
    ) -> None:
        self.timeout = timeout
        self._clock = clock or _monotonic_ms
        self.last_feed_ms = self._clock()
        self.feeds = 0

    def feed(self) -> None:
        self.last_feed_ms = self._clock()
        self.feeds += 1

    def expired_at(self, now_ms: int) -> bool:
        """Whether the real watchdog would have reset the chip by ``now_ms``."""
        return now_ms - self.last_feed_ms > self.timeout


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000
