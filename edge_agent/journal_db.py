"""The journal's connection: plain ``sqlite3`` with the write rule the journal relies on.

A statement run outside a transaction commits on its own (a meta write, a
checkpoint); inside a transaction opened with ``BEGIN`` (the journal's
``_write``) it joins it. ``with db.conn:`` opens none: each write in it commits
on its own, as with sqlite-utils 4. A failing
statement that opened a transaction rolls it back, so it never captures later
writes. This is the behaviour the journal had through sqlite-utils, kept
without that library: it imports numpy when present and costs the box memory
and start-up time for three methods.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

_NOT_AUTOCOMMITTED = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _first_keyword(sql: str) -> str:
    words = sql.lstrip().split(None, 1)
    return words[0].upper() if words else ""


class JournalDb:
    """A connection, ``execute`` (auto-committing outside a transaction) and ``query`` (dicts)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.conn.execute("PRAGMA recursive_triggers=on")

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> sqlite3.Cursor:
        """Run one statement; a write outside a transaction is committed before returning."""
        was_open = self.conn.in_transaction
        try:
            cursor = self.conn.execute(sql, parameters or ())
        except Exception:
            if not was_open and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if (
            not was_open
            and self.conn.in_transaction
            and cursor.description is None
            and _first_keyword(sql) not in _NOT_AUTOCOMMITTED
        ):
            self.conn.execute("COMMIT")
        return cursor

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        """The rows of a SELECT, each a dict keyed by column name."""
        cursor = self.conn.execute(sql, parameters or ())
        keys = [d[0] for d in cursor.description or ()]
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    def close(self) -> None:
        self.conn.close()
