"""The chain heads a quarterly report freezes: anchors of the store outside the database.

The head of a journal is its highest chained record (``prev`` set) stored up to
the report's preparation, with its hash. Taken at preparation rather than at
the quarter's end: records journaled in the quarter but received late (an
outage) are then covered too, and a head anchors every record below it through
the chain. ``voyant-hub verify`` compares each ``{"device", "journal", "seq",
"hash"}`` of a signed report with the store: rewriting the store and
recomputing the chain is caught against the signed paper.
"""

from __future__ import annotations

import sqlite3
from typing import Final

#: Journals of one device a report lists at most (one per install of the agent).
HEADS_MAX: Final = 100


def journal_head(conn: sqlite3.Connection, device: str, journal: str,
                 stored_by: str | None = None) -> tuple[int, str] | None:
    """A journal's head: its highest chained record stored (by ``stored_by``, if given) and
    kept as received, with its hash; read backwards on ``idx_received_chained``."""
    row = conn.execute(
        "SELECT seq, hash FROM received INDEXED BY idx_received_chained"
        " WHERE device = ? AND journal = ? AND prev IS NOT NULL AND hash IS NOT NULL"
        " AND kind != 'quarantined' AND (? IS NULL OR stored_at <= ?)"
        " ORDER BY seq DESC LIMIT 1", [device, journal, stored_by, stored_by]).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def report_heads(conn: sqlite3.Connection, device: str, quarter_start: str,
                 prepared_at: str) -> list[dict[str, object]]:
    """The head of every journal of ``device`` the report covers, journal by journal.

    A journal is covered when its highest chained record was stored from ``quarter_start``
    on (one whose chain ended before is anchored by an earlier report, and the records
    below a head are anchored by it through the chain, whenever they arrived) and it has a
    chained record stored up to ``prepared_at``: its head. Read from ``journals`` and the
    partial index ``idx_received_chained``, from the top of each chain back to the first
    record stored by the preparation: a few rows, not the device's every receipt. Times as
    the store writes them (``2026-04-01T00:00:00.000Z``).
    """
    heads: list[dict[str, object]] = []
    for (journal,) in conn.execute("SELECT journal FROM journals WHERE device = ?"
                                   " ORDER BY journal", [device]).fetchall():
        top = conn.execute(
            "SELECT stored_at FROM received INDEXED BY idx_received_chained"
            " WHERE device = ? AND journal = ? AND prev IS NOT NULL ORDER BY seq DESC LIMIT 1",
            [device, journal]).fetchone()
        if top is None or str(top[0]) < quarter_start:
            continue
        head = journal_head(conn, device, str(journal), prepared_at)
        if head is not None:
            heads.append({"device": device, "journal": str(journal), "seq": head[0],
                          "hash": head[1]})
            if len(heads) == HEADS_MAX:
                break
    return heads
