"""The publisher's side of the journal's outbox: read in order, delete what the hub holds.

The agent's thread writes the outbox (inside each journal transaction); the
publisher's thread reads it through its own SQLite connection (a connection
belongs to the thread that opened it). WAL lets the two work at once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Pending:
    """One record still to be acknowledged: its sequence number, kind and JSON item."""

    seq: int
    kind: str
    item: str


class Outbox:
    """Read and acknowledge the outbox of the journal at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.conn = sqlite3.connect(str(path), timeout=30.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
        if row is None:
            raise ValueError(f"{path}: not a Voyant journal (no journal_id)")
        self.journal_id = str(row[0])

    def acked(self) -> int:
        """Highest sequence number the hub holds: everything below the first pending one."""
        first = self.conn.execute("SELECT min(seq) FROM outbox").fetchone()[0]
        if first is not None:
            return int(first) - 1
        return self.last_seq()

    def last_seq(self) -> int:
        row = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def pending(self, from_seq: int, limit: int) -> list[Pending]:
        """Up to ``limit`` records from ``from_seq`` on, in order."""
        rows = self.conn.execute(
            "SELECT seq, kind, item FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
            [from_seq, limit],
        ).fetchall()
        return [Pending(int(seq), str(kind), str(item)) for seq, kind, item in rows]

    def acknowledge(self, upto: int) -> int:
        """Forget every record up to ``upto``: the hub has stored them all."""
        with self.conn:
            return self.conn.execute("DELETE FROM outbox WHERE seq <= ?", [upto]).rowcount

    def backlog(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
