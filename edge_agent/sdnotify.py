"""systemd's notify protocol, in pure Python: READY, WATCHDOG, STATUS, STOPPING.

The unit is ``Type=notify`` with ``WatchdogSec=``: systemd sets
``$NOTIFY_SOCKET`` (a path, or an abstract socket name starting with ``@``)
and ``$WATCHDOG_USEC``; each message is one datagram of ``KEY=value`` lines.
The agent pings ``WATCHDOG=1`` from its main loop at most every half of
``WATCHDOG_USEC``, and only while it is healthy (the loop runs, the inputs
answer, the journal writes): a stuck loop or a failing journal stops the pings
and systemd restarts the agent. Without ``$NOTIFY_SOCKET`` (run by hand, the
simulator, the tests) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping

from edge_agent.logs import log


class Notifier:
    """Datagrams to ``$NOTIFY_SOCKET``; never raises (a lost message is logged once)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address or None
        self.watchdog_usec = watchdog_usec
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        if (pid is None or pid == str(os.getpid())) and env.get("WATCHDOG_USEC", "").isdigit():
            usec = int(env["WATCHDOG_USEC"]) or None
        return cls(env.get("NOTIFY_SOCKET"), usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the watchdog time-out; None when no watchdog is set."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def send(self, *lines: str) -> bool:
        """One datagram of ``lines``; True if it left."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # never block the loop: systemd reads at once
                sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            if not self._failed:
                log("sd_notify_failed", logging.WARNING, socket=self.address, error=str(exc))
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={_one_line(status)}")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send("STOPPING=1", f"STATUS={_one_line(status)}")


class Watchdog:
    """Pings at most every ``interval_s`` while healthy; STATUS= whenever the state text changes."""

    def __init__(self, notifier: Notifier, monotonic: Callable[[], float]) -> None:
        self.notifier = notifier
        self.interval_s = notifier.watchdog_interval_s
        self._monotonic = monotonic
        self._last_ping: float | None = None
        self._healthy = False
        self._status: str | None = None
        self.pings = 0

    def update(self, healthy: bool, status: str) -> None:
        """After each pass of the loop: say the state if it changed, ping if healthy and due."""
        status = _one_line(status)
        if status != self._status:
            self._status = status
            self.notifier.send(f"STATUS={status}")
        self._healthy = healthy
        if not healthy or self.interval_s is None:
            return
        now = self._monotonic()
        if self._last_ping is None or now - self._last_ping >= self.interval_s:
            if self.notifier.send("WATCHDOG=1"):
                self.pings += 1
            self._last_ping = now

    def next_due(self) -> float | None:
        """When the loop must wake to ping (monotonic), None if no watchdog.

        While unhealthy (or before the first :meth:`update`) no ping is owed, so the
        answer is one interval from now: never a time in the past, which would make the
        loop wait 0 s and spin at 100 % CPU until systemd kills it. The loop still wakes
        on every input and at its own deadlines, and :meth:`update` pings on the first
        pass after the agent is healthy again.
        """
        if self.interval_s is None:
            return None
        if not self._healthy or self._last_ping is None:
            return self._monotonic() + self.interval_s
        return self._last_ping + self.interval_s


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
