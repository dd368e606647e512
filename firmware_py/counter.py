"""GM pulse counter: a hard IRQ on the falling edge of the tube's pulse output.

The IRQ handler only increments an integer (no allocation, as a hard IRQ
requires); :meth:`PulseCounter.take` reads and clears the count with IRQs
disabled, so no pulse is counted twice or lost between read and reset.
"""

from firmware_py.compat import machine

COUNT_MAX = 0xFFFF


class PulseCounter:
    """Counts falling edges on ``pin``; saturates at 0xFFFF and flags the overflow."""

    def __init__(self, pin: machine.Pin) -> None:
        self._count = 0
        self._overflow = False
        self.pin = pin
        pin.irq(handler=self._on_edge, trigger=machine.Pin.IRQ_FALLING, hard=True)

    def _on_edge(self, _pin: machine.Pin) -> None:
        """Hard IRQ context: no allocation, no print, just count."""
        if self._count < COUNT_MAX:
            self._count += 1
        else:
            self._overflow = True

    def take(self) -> tuple[int, bool]:
        """(counts, overflow) since the last take, read and reset atomically."""
        state = machine.disable_irq()
        counts = self._count
        overflow = self._overflow
        self._count = 0
        self._overflow = False
        machine.enable_irq(state)
        return counts, overflow
