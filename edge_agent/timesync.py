"""Was the system clock synchronised when a record was timestamped?

Records are evidence; a Pi without a real-time clock boots with the time it
last saved, until NTP (systemd-timesyncd, chrony) sets it. Every exposure,
alarm and reading carries ``clock_synced`` so that the hub can flag those
stamped by a clock nobody had set.

The probe asks the kernel, as ``timedatectl``'s ``NTPSynchronized`` does:
``adjtimex(2)`` with no mode change, synchronised when the kernel's
``maxerror`` is below 16 s (``NTP_PHASE_LIMIT``: the kernel raises
``maxerror`` by 500 ppm every second nobody disciplines the clock, and sets
``STA_UNSYNC`` past that limit; systemd ignores ``STA_UNSYNC`` itself, which
chrony may hold set only to keep the kernel off the RTC). Where adjtimex is
not reachable (not Linux), ``timedatectl show -p NTPSynchronized --value``;
failing both, unknown (``None``). The answer is cached and asked again every
:data:`REFRESH_S`; the simulator and the tests hand in a fixed answer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import subprocess
import threading
import time
from collections.abc import Callable

from edge_agent.logs import log

#: How long an answer is trusted.
REFRESH_S = 60.0
#: The kernel's NTP_PHASE_LIMIT in microseconds: a larger maxerror is "unsynchronised".
MAXERROR_LIMIT_US = 16_000_000
#: adjtimex's return value when the clock is not synchronised (STA_UNSYNC or STA_CLOCKERR).
TIME_ERROR = 5

ClockProbe = Callable[[], bool | None]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (native ``long``: right on 32- and 64-bit Pi OS)."""

    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time", _Timeval), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def adjtimex_synced() -> bool:
    """The kernel's view (raises OSError where adjtimex is unavailable)."""
    name = ctypes.util.find_library("c")
    if name is None:
        raise OSError("no C library")
    libc = ctypes.CDLL(name, use_errno=True)
    try:
        adjtimex = libc.adjtimex
    except AttributeError:
        raise OSError("no adjtimex in the C library") from None
    tx = _Timex()  # modes = 0: read only, no privilege needed
    state = adjtimex(ctypes.byref(tx))
    if state == -1:
        raise OSError(ctypes.get_errno(), "adjtimex failed")
    return int(tx.maxerror) < MAXERROR_LIMIT_US


def timedatectl_synced(timeout_s: float = 2.0) -> bool | None:
    """systemd's ``NTPSynchronized`` property, or None if it cannot be read."""
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    if out.returncode != 0 or value not in ("yes", "no"):
        return None
    return value == "yes"


def system_clock_synced() -> bool | None:
    """adjtimex, else timedatectl, else unknown."""
    try:
        return adjtimex_synced()
    except OSError:
        return timedatectl_synced()


class ClockSync:
    """The cached answer of a clock probe, refreshed every ``refresh_s`` (thread-safe)."""

    def __init__(
        self, probe: ClockProbe = system_clock_synced, *, refresh_s: float = REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._asked_at: float | None = None
        self._value: bool | None = None

    @classmethod
    def fixed(cls, value: bool | None) -> ClockSync:
        """Always ``value``: the simulator's virtual clock is synchronised by definition."""
        return cls(lambda: value, refresh_s=float("inf"))

    @property
    def last(self) -> bool | None:
        """The cached answer, without asking again (None before the first question)."""
        return self._value

    def synced(self) -> bool | None:
        """True, False, or None when unknown; asks the probe at most every ``refresh_s``."""
        with self._lock:
            now = self._monotonic()
            if self._asked_at is not None and now - self._asked_at < self._refresh_s:
                return self._value
            first = self._asked_at is None
            self._asked_at = now
            try:
                value = self._probe()
            except Exception as exc:  # a broken probe must never stop the journal
                log("clock_probe_failed", logging.WARNING, error=repr(exc))
                value = None
            if value is False and (first or self._value is not False):
                log("clock_unsynchronised", logging.WARNING,
                    note="records are flagged clock_synced=false")
            elif value is True and self._value is False:
                log("clock_synchronised")
            self._value = value
            return value
