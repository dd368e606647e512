"""Login throttling: an exponential back-off, never a lock that keeps the real user out.

Three counters of failed logins, each with its count and the time of its
last failure:

- per (username, address): one place guessing one account;
- per address: one place trying many accounts (4 x the free attempts: a
  ward's shared workstation);
- per username: many places guessing one account (2 x the free attempts),
  applied only to addresses that account has never logged in from. An
  address it has logged in from before (``known``, from the ``sessions``
  table) skips it: a sprayer elsewhere cannot keep the real user out.

The first ``free`` failures of a counter cost nothing; after that the next
attempt waits 1, 2, 4 ... s from the last failure, up to ``max_s``. A
refused attempt (429) checks no password and counts nothing. A success
forgets that (username, address)'s failures, which also leave the address's
and the username's counts; other addresses' failures stay. A counter is
forgotten :func:`forget_s` after its last failure. The state is in memory
(one hub process), bounded to :data:`MAX_ENTRIES` counters of each kind.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

#: Counters kept per kind; past that the one idle longest is dropped.
MAX_ENTRIES = 50_000
#: The address and username counters start later than a (username, address) one.
IP_FACTOR, USER_FACTOR = 4, 2

K = TypeVar("K")


@dataclass(slots=True)
class _Count:
    n: int
    last: float


class LoginLimiter:
    """Failed logins and how long the next attempt must wait."""

    def __init__(self, free: int = 3, max_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if free < 1 or max_s < 1:
            raise ValueError("free and max_s must be at least 1")
        self.free, self.max_s, self.clock = free, max_s, clock
        self._pairs: OrderedDict[tuple[str, str], _Count] = OrderedDict()
        self._ips: OrderedDict[str, _Count] = OrderedDict()
        self._users: OrderedDict[str, _Count] = OrderedDict()
        self._lock = threading.Lock()  # plain def endpoints run in a thread pool

    def forget_s(self) -> float:
        """How long a counter outlives its last failure (longer than any wait)."""
        return max(3600.0, 4 * self.max_s)

    def delay(self, failures: int, free: int) -> float:
        """The wait after ``failures`` failures of a counter that allows ``free``."""
        if failures < free:
            return 0.0
        return float(min(self.max_s, 2.0 ** min(failures - free, 32)))

    def retry_after(self, ip: str, username: str, known: bool = False) -> int | None:
        """Seconds to wait if this attempt must be refused now, else None.

        ``known``: ``username`` has logged in from ``ip`` before.
        """
        now = self.clock()
        user = _key(username)
        with self._lock:
            self._expire(now)
            counters = [(self._pairs.get((user, ip)), self.free),
                        (self._ips.get(ip), IP_FACTOR * self.free)]
            if not known:
                counters.append((self._users.get(user), USER_FACTOR * self.free))
            ready = max((count.last + self.delay(count.n, free)
                         for count, free in counters if count is not None), default=now)
        if ready <= now:
            return None
        return max(1, math.ceil(ready - now))

    def failed(self, ip: str, username: str) -> None:
        now = self.clock()
        user = _key(username)
        with self._lock:
            _bump(self._pairs, (user, ip), now)
            _bump(self._ips, ip, now)
            _bump(self._users, user, now)

    def succeeded(self, ip: str, username: str) -> None:
        user = _key(username)
        with self._lock:
            pair = self._pairs.pop((user, ip), None)
            if pair is None:
                return
            _lower(self._ips, ip, pair.n)
            _lower(self._users, user, pair.n)

    def _expire(self, now: float) -> None:
        horizon = now - self.forget_s()
        for table in (self._pairs, self._ips, self._users):
            while table:
                oldest = next(iter(table.values()))
                if oldest.last > horizon:
                    break
                table.popitem(last=False)


def _bump(table: OrderedDict[K, _Count], key: K, now: float) -> None:
    count = table.pop(key, None) or _Count(0, now)
    count.n, count.last = count.n + 1, now
    table[key] = count  # at the end: the table stays in order of last failure
    while len(table) > MAX_ENTRIES:
        table.popitem(last=False)


def _lower(table: OrderedDict[K, _Count], key: K, by: int) -> None:
    count = table.get(key)
    if count is None:
        return
    count.n -= by
    if count.n <= 0:
        del table[key]


def _key(username: str) -> str:
    return username.strip().lower()[:64]
