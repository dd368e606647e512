"""CPython stand-ins for the MicroPython modules the firmware uses.

They behave like the Pico's where the firmware depends on it (IRQ on a
falling edge, IRQs held back while disabled, the watchdog's timeout) and add
a few helpers for tests and the simulator (``Pin.pulse``, ``Pin.set_value``,
``WDT.expired_at``, ``set_reset_cause``). Never copied to the Pico.
"""
