"""Pico entry point: wire the pins, start the watchdog, send one frame every 100 ms.

Copied to the Pico both as ``/main.py`` (run at boot) and inside the
``/firmware_py`` package. Pins: GM pulses on GP15 (falling edge, pull-up),
HV-OK on GP14 (active high, pulled down so a cut wire reads "not OK"),
maintenance jumper GP13 to GND at boot: do not start (lets mpremote in,
since the loop below disables Ctrl-C and the watchdog cannot be stopped).
"""

import sys

from firmware_py.compat import machine, micropython, ticks
from firmware_py.counter import PulseCounter
from firmware_py.frame import FRAME_PERIOD_MS, PROBE_MS_MODULO
from firmware_py.probe import ProbeFirmware

TYPE_CHECKING = False
if TYPE_CHECKING:
    from firmware_py.shim.protocols import Ticks, Writer

GM_PIN = 15
HV_OK_PIN = 14
MAINTENANCE_PIN = 13
WDT_TIMEOUT_MS = 2000


class Uptime:
    """ms since boot as a uint32: MicroPython's ticks wrap at 2**30, the frame's at 2**32."""

    def __init__(self, clock: "Ticks") -> None:
        self._clock = clock
        self._last = clock.ticks_ms()
        self.ms = self._last

    def update(self, now: int) -> int:
        elapsed = self._clock.ticks_diff(now, self._last)
        self.ms = (self.ms + elapsed) % PROBE_MS_MODULO
        self._last = now
        return self.ms


def run(firmware: ProbeFirmware, clock: "Ticks", frames: int = -1) -> None:
    """Tick ``firmware`` every FRAME_PERIOD_MS on ``clock`` (``ticks_*``/``sleep_ms``).

    Deadlines advance by a fixed step from the first one, so the schedule does
    not drift; after a stall longer than a period the missed slots are skipped
    (not sent in a burst) and the next frame's window is simply longer.
    ``frames`` < 0 runs forever.
    """
    uptime = Uptime(clock)
    deadline = clock.ticks_add(clock.ticks_ms(), FRAME_PERIOD_MS)
    while frames != 0:
        wait = clock.ticks_diff(deadline, clock.ticks_ms())
        if wait > 0:
            clock.sleep_ms(wait)
        now = clock.ticks_ms()
        firmware.tick(uptime.update(now))
        deadline = next_deadline(clock, deadline, now)
        frames -= 1


def next_deadline(clock: "Ticks", deadline: int, now: int) -> int:
    """The slot after ``deadline``, skipping whole periods already missed at ``now``."""
    deadline = clock.ticks_add(deadline, FRAME_PERIOD_MS)
    late = clock.ticks_diff(now, deadline)
    if late >= 0:
        skipped = late // FRAME_PERIOD_MS + 1
        deadline = clock.ticks_add(deadline, skipped * FRAME_PERIOD_MS)
    return deadline


def build(out: "Writer") -> ProbeFirmware | None:
    """The firmware on the Pico's pins, or None when the maintenance jumper is fitted."""
    maintenance = machine.Pin(MAINTENANCE_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
    if not maintenance.value():
        return None
    micropython.alloc_emergency_exception_buf(100)
    micropython.kbd_intr(-1)
    gm = machine.Pin(GM_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
    hv_ok = machine.Pin(HV_OK_PIN, machine.Pin.IN, machine.Pin.PULL_DOWN)
    wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)
    return ProbeFirmware(PulseCounter(gm), hv_ok, out, wdt)


def main() -> None:
    firmware = build(sys.stdout.buffer)
    if firmware is not None:
        run(firmware, ticks)


if __name__ == "__main__":
    main()
