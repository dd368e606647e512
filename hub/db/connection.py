"""The one way the hub opens its SQLite store: :func:`connect`, the pragmas always; and
how it writes: :func:`write` (a transaction), :func:`savepoint` (a part of one),
:func:`insert_rows` (many rows in few statements), :class:`WritePace` (a job's pauses
between its transactions).

Every connection waits for a writer's lock (``busy_timeout``) rather than
failing, and enforces the tables' references (``foreign_keys``). The web opens
one short-lived connection per request (about 50 µs), used by one thread at a
time but not always the same one (FastAPI runs plain ``def`` endpoints in a
pool, hence ``any_thread``); the ingest's :class:`hub.db.store.Store` opens its
own, bound to its writer thread, through here too. Who
writes what, in which thread: :mod:`hub.db`.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 10_000
#: Rows in one statement of :func:`insert_rows` at most (fewer where SQLite allows fewer
#: parameters in a statement).
ROWS_PER_STATEMENT = 64


def connect(path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
            autocommit: bool = True, any_thread: bool = True,
            read_only: bool = False) -> sqlite3.Connection:
    """A connection to the store at ``path`` (``:memory:`` for tests).

    Defaults (the web's, the jobs'): autocommit (transactions only through :func:`write`),
    rows as :class:`sqlite3.Row`, usable from any thread: a request may be served by more
    than one worker thread (FastAPI opens a generator dependency in one and closes it in
    another), the connection serving that one request. The ingest's store asks for
    Python's implicit transactions, tuples and its own thread only (``autocommit=False,
    any_thread=False``), and a longer wait. ``read_only``: SQLite refuses every write
    (``mode=ro``; ``voyant-hub verify`` must not change what it checks).
    """
    target = Path(path).resolve().as_uri() + "?mode=ro" if read_only else str(path)
    conn = sqlite3.connect(target, timeout=busy_timeout_ms / 1000,
                           isolation_level=None if autocommit else "DEFERRED",
                           check_same_thread=not any_thread, uri=read_only)
    if autocommit:
        conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One all-or-nothing write: nothing half-written if any statement, or the commit,
    fails. The write lock is taken at BEGIN (IMMEDIATE): a transaction that read first
    could not upgrade once another writer had committed (SQLITE_BUSY at once, no wait)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # an error such as a failed COMMIT may have ended it
            conn.execute("ROLLBACK")
        raise


@contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Inside a transaction, a part undone on error (one message's writes) and kept
    otherwise. One fixed name: savepoints nest (a name means the innermost of that name),
    and two statements of one text stay in the connection's statement cache. sqlite-utils'
    ``atomic()`` names each one afresh (a random token: both statements parsed again, about
    8 µs more per message of the ingest)."""
    conn.execute("SAVEPOINT part")
    try:
        yield conn
    except BaseException:
        # An error such as a RAISE(ROLLBACK) trigger may have ended the whole transaction:
        # then there is no savepoint left to undo, and the error itself goes up.
        if conn.in_transaction:
            conn.execute("ROLLBACK TO part")
            conn.execute("RELEASE part")
        raise
    conn.execute("RELEASE part")


def insert_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``conn.executemany(sql, rows)`` in a few statements of many rows each: the same rows
    in the same order, each inserted (or, for ``INSERT OR IGNORE``, ignored) on its own as
    there. ``sql`` is a plain one-row ``INSERT ... VALUES (?, ...)``, no upsert clause.

    Why: ``executemany`` runs the statement once per row, and Python lets go of its
    interpreter lock around each run: the ingest's store thread then waited for the lock
    behind the event loop a hundred times for a message of 100 readings, and SQLite's work
    per statement was done a hundred times (bench/ingest.py: the store thread took 30 %
    longer per batch, and SQLite 17 % more CPU). Here it is three statements (64, 32 and 4
    rows: sizes halve, so that a few texts serve every count, each prepared once in the
    connection's statement cache)."""
    if rows:
        width = len(rows[0])
        if any(len(row) != width for row in rows):  # executemany would refuse it too
            raise ValueError(f"rows of {width} and of other lengths in one insert")
        insert_values(conn, sql, width, list(chain.from_iterable(rows)))


def insert_values(conn: sqlite3.Connection, sql: str, width: int,
                  values: Sequence[Any]) -> None:
    """:func:`insert_rows` of rows given one after another in one flat sequence, ``width``
    values each (as the decode worker sends them: one list unpickles faster than many)."""
    if len(values) % width:
        raise ValueError(f"{len(values)} values are not rows of {width}")
    size = _largest(width, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    start, count = 0, len(values) // width
    while start < count:
        while size > count - start:
            size //= 2
        conn.execute(_rows_sql(sql, size), values[start * width:(start + size) * width])
        start += size


def _largest(width: int, limit: int) -> int:
    """The most rows (a power of two) of ``width`` values one statement may bind."""
    size = ROWS_PER_STATEMENT
    while size > 1 and size * width > limit:
        size //= 2
    return size


@functools.lru_cache(maxsize=128)
def _rows_sql(sql: str, size: int) -> str:
    """``sql``'s one row of placeholders repeated ``size`` times."""
    head, found, row = sql.rpartition(" VALUES ")
    if not found or not row.startswith("(") or not row.endswith(")"):
        raise ValueError(f"not a one-row INSERT: {sql[:200]}")
    return f"{head} VALUES {','.join([row] * size)}"


class WritePace:
    """A job's manners between two of its write transactions: once it has worked
    ``work_s`` since its last pause, it pauses ``pause_s``, the write lock free.

    A writer waiting for the lock (the ingest's ``BEGIN IMMEDIATE``) is SQLite's busy
    handler, which sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries: a job committing
    one transaction after another leaves the lock free a tenth of a millisecond at a time,
    and the waiter tried in vain for as long as the job ran (about a second for the
    rollups of a thousand rooms). Working 10 ms then pausing 30 ms, the job lets it in
    within its first tries; the job's own round takes four times as long, off any
    user's path. It paces between transactions only: one long transaction (a room's
    chunk of readings after an outage) still holds the lock for its whole length."""

    def __init__(self, work_s: float = 0.010, pause_s: float = 0.030,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.work_s, self.pause_s = work_s, pause_s
        self._clock, self._sleep = clock, sleep
        self._since = clock()
        self.pauses = 0

    def __call__(self) -> None:
        """Between two transactions (never inside one)."""
        if self._clock() - self._since >= self.work_s:
            self._sleep(self.pause_s)
            self.pauses += 1
            self._since = self._clock()
