"""The probe's per-window work: read the counter, build one frame, write it, feed the watchdog.

Kept apart from ``main.py`` (which owns the pins and the schedule) so that
the simulator and the tests run exactly this code with shim pins.
"""

from firmware_py.compat import machine
from firmware_py.counter import PulseCounter
from firmware_py.frame import (
    FLAG_BOOT,
    FLAG_COUNTER_OVERFLOW,
    FLAG_HV_OK,
    FLAG_WDT_RESET,
    PROBE_MS_MODULO,
    SEQ_MODULO,
    encode_frame,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from firmware_py.shim.protocols import Writer


class ProbeFirmware:
    """Writes one frame per :meth:`tick` to ``out`` (anything with ``write(bytes)``).

    The BOOT flag stays on until a frame has been written whole, so the agent
    always learns of a restart. WDT_RESET is set on every frame while the
    last reset was the watchdog's (a state, not an event). The watchdog is fed
    only after a complete write: a probe that cannot talk is reset.
    """

    def __init__(
        self, counter: PulseCounter, hv_pin: machine.Pin, out: "Writer", wdt: machine.WDT
    ) -> None:
        self._counter = counter
        self._hv_pin = hv_pin
        self._out = out
        self._wdt = wdt
        self._seq = 0
        self._boot = True
        self._wdt_reset = machine.reset_cause() == machine.WDT_RESET
        self.write_errors = 0

    def flags(self, overflow: bool) -> int:
        """The flag byte for the frame about to be sent."""
        flags = FLAG_HV_OK if self._hv_pin.value() else 0
        if self._boot:
            flags |= FLAG_BOOT
        if self._wdt_reset:
            flags |= FLAG_WDT_RESET
        if overflow:
            flags |= FLAG_COUNTER_OVERFLOW
        return flags

    def tick(self, now_ms: int) -> int:
        """Close the window ending at ``now_ms`` (ms since boot); returns bytes written."""
        counts, overflow = self._counter.take()
        frame = encode_frame(self._seq, now_ms % PROBE_MS_MODULO, counts, self.flags(overflow))
        self._seq = (self._seq + 1) % SEQ_MODULO
        written = self._send(frame)
        if written == len(frame):
            self._boot = False
            self._wdt.feed()
        return written

    def _send(self, frame: bytes) -> int:
        """Bytes actually written; a stream returning None wrote everything."""
        try:
            written = self._out.write(frame)
        except OSError:
            self.write_errors += 1
            return 0
        return len(frame) if written is None else written
