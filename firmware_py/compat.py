"""The hardware modules, real on MicroPython, simulated on CPython.

Firmware modules import ``machine``, ``micropython`` and the tick functions
from here, never directly, so the same code runs on the Pico and in the
tests and the simulator. On CPython ``ticks`` is the shim's real-time
implementation of MicroPython's ``time.ticks_*`` (same 2**30 wrap).
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"

if not MICROPYTHON:
    from firmware_py.shim import machine, micropython
    from firmware_py.shim import ticks as ticks
else:  # pragma: no cover - only on the Pico
    import time as ticks  # type: ignore[no-redef]

    import machine  # type: ignore[no-redef]
    import micropython  # type: ignore[no-redef]

__all__ = ["MICROPYTHON", "machine", "micropython", "ticks"]
