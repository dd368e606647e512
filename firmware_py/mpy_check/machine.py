"""A minimal ``machine`` for MicroPython ports without GPIO.

Used to run the firmware on a real MicroPython interpreter (the WebAssembly
port) in ``tests/test_firmware.py``: just what the firmware touches, in
MicroPython's subset. Never copied to the Pico, which has the real module.
"""

PWRON_RESET = 1
WDT_RESET = 3
_depth = [0]


def reset_cause() -> int:
    return PWRON_RESET


def disable_irq() -> int:
    _depth[0] += 1
    return _depth[0] - 1


def enable_irq(state: int) -> None:
    _depth[0] = state


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id: int, mode: int = 0, pull: int = 0) -> None:
        self.id = id
        self._value = 1 if pull == Pin.PULL_UP else 0
        self.handler: object = None

    def value(self) -> int:
        return self._value

    def irq(self, handler: object = None, trigger: int = 4, hard: bool = False) -> None:
        self.handler = handler


class WDT:
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.timeout = timeout

    def feed(self) -> None:
        pass
