"""Database access for the web: one short-lived SQLite connection per request.

The ingest writes through its own connection (one writer thread); the web
reads in WAL mode alongside it and writes the PCR's actions (acknowledgements,
qualifications, accounts, audit) in short ``BEGIN IMMEDIATE`` transactions,
waiting for the ingest's lock rather than failing. A connection belongs to the
thread that opened it, and FastAPI runs plain ``def`` endpoints in a pool, so
each request opens its own (about 50 µs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> sqlite3.Connection:
    # A request may be served by more than one worker thread (FastAPI opens a generator
    # dependency in one and closes it in another); the connection serves that one request.
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One all-or-nothing write: nothing half-written if any statement fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """FastAPI dependency: the request's connection to the hub's store."""
    conn = connect(request.app.state.store_path)
    try:
        yield conn
    finally:
        conn.close()
