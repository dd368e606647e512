"""Login rate limiting: failed attempts per client address and per username, in memory.

A sliding window of 60 s: once ``limit`` failures from one address, or against
one username, fall within the last minute, further attempts are refused (429,
with ``Retry-After``) until the oldest leaves the window. A successful login
forgets that address's failures (and its failures against that username), not
other addresses': an attacker elsewhere stays slowed down. The state is
per-process and lost at restart (one hub process; good enough against
guessing, which needs thousands of attempts).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class LoginLimiter:
    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic,
                 window_s: float = WINDOW_S) -> None:
        self.limit, self.clock, self.window_s = limit, clock, window_s
        self._by_ip: dict[str, deque[float]] = {}
        self._by_user: dict[str, deque[tuple[float, str]]] = {}
        self._lock = threading.Lock()  # plain def endpoints run in a thread pool

    def retry_after(self, ip: str, username: str) -> int | None:
        """Seconds to wait if this attempt must be refused, else None."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            oldest: list[float] = []
            by_ip = self._by_ip.get(ip)
            if by_ip is not None and len(by_ip) >= self.limit:
                oldest.append(by_ip[-self.limit])
            by_user = self._by_user.get(_key(username))
            if by_user is not None and len(by_user) >= self.limit:
                oldest.append(by_user[-self.limit][0])
        if not oldest:
            return None
        return max(1, math.ceil(max(oldest) + self.window_s - now))

    def failed(self, ip: str, username: str) -> None:
        now = self.clock()
        with self._lock:
            self._by_ip.setdefault(ip, deque()).append(now)
            self._by_user.setdefault(_key(username), deque()).append((now, ip))

    def succeeded(self, ip: str, username: str) -> None:
        with self._lock:
            self._by_ip.pop(ip, None)
            key = _key(username)
            kept = deque(entry for entry in self._by_user.get(key, ()) if entry[1] != ip)
            if kept:
                self._by_user[key] = kept
            else:
                self._by_user.pop(key, None)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        for ip in list(self._by_ip):
            times = self._by_ip[ip]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self._by_ip[ip]
        for user in list(self._by_user):
            entries = self._by_user[user]
            while entries and entries[0][0] <= horizon:
                entries.popleft()
            if not entries:
                del self._by_user[user]


def _key(username: str) -> str:
    return username.strip().lower()[:64]
