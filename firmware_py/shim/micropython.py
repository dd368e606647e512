"""CPython shim of MicroPython's ``micropython`` module (the calls the probe makes)."""

from __future__ import annotations

kbd_intr_char = 3
emergency_buf_size = 0


def kbd_intr(chr: int) -> None:
    """Record the keyboard-interrupt character (-1: none) as the Pico would set it."""
    global kbd_intr_char
    kbd_intr_char = chr


def alloc_emergency_exception_buf(size: int) -> None:
    """Record the size; CPython needs no buffer to report an exception in an IRQ."""
    global emergency_buf_size
    emergency_buf_size = size


def const(value: int) -> int:
    return value
