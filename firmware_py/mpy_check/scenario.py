"""The same firmware run on CPython (shim) and on MicroPython: prints the frames as hex.

``tests/test_firmware.py`` runs it on both and requires identical output.
"""

from firmware_py import main as fw_main
from firmware_py.compat import machine
from firmware_py.counter import PulseCounter
from firmware_py.probe import ProbeFirmware

PERIOD = 1 << 30


class Out:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


class VirtualTicks:
    def __init__(self, start: int) -> None:
        self.now = start

    def ticks_ms(self) -> int:
        self.now += 1
        return self.now % PERIOD

    def ticks_add(self, ticks: int, delta: int) -> int:
        return (ticks + delta) % PERIOD

    def ticks_diff(self, end: int, start: int) -> int:
        return ((end - start + PERIOD // 2) % PERIOD) - PERIOD // 2

    def sleep_ms(self, ms: int) -> None:
        self.now += ms


gm = machine.Pin(15, machine.Pin.IN, machine.Pin.PULL_UP)
hv = machine.Pin(14, machine.Pin.IN, machine.Pin.PULL_DOWN)
wdt = machine.WDT(timeout=2000)
out = Out()
counter = PulseCounter(gm)
firmware = ProbeFirmware(counter, hv, out, wdt)
for n in (3, 0, 70000):
    for _ in range(n):
        counter._on_edge(gm)
    firmware.tick(100 * (n + 1) + 0xFFFFFF00)
fw_main.run(ProbeFirmware(PulseCounter(gm), hv, out, wdt), VirtualTicks(PERIOD - 250), frames=5)
print(out.data.hex())
