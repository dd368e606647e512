"""The ingest's writes and reads of the hash chain: records as received, input changes,
conflicts and breaks (beside :mod:`hub.db.store`, on the same connection and transaction).

Functions over the ingest's connection, so that :class:`hub.db.store.Store` stays about the
sequence and event bookkeeping; what the chain needs of the store is here, batched: one
statement per batch for its rows, one query per batch for the hashes it compares.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hub.db import schema
from hub.db.connection import insert_rows, insert_values
from wire.chain import try_hash


def _insert(table: str, columns: Sequence[str], verb: str = "INSERT OR IGNORE") -> str:
    return (f"{verb} INTO {table} (" + ", ".join(f'"{c}"' for c in columns) + ") VALUES ("
            + ", ".join("?" for _ in columns) + ")")


RECEIVED_COLUMNS: Final = ("device", "journal", "seq", "kind", "stored_at", "hash", "prev", "body")
CONFLICT_COLUMNS: Final = ("device", "site", "room", "journal", "seq", "kind", "received_at",
                           "hash", "stored_hash", "body")
BREAK_COLUMNS: Final = ("device", "site", "room", "journal", "seq", "reason", "found_at")
#: Values of one row of :func:`insert_received_stamped`.
STAMPED_WIDTH: Final = len(RECEIVED_COLUMNS)
_SQL: Final = {
    "received": _insert("received", RECEIVED_COLUMNS),
    #: The same rows with the hub's stamp last (``insert_received_stamped``).
    "received_stamped": _insert("received", (*(c for c in RECEIVED_COLUMNS if c != "stored_at"),
                                             "stored_at")),
    "changes": _insert("changes", schema.CHANGE_COLUMNS),
    "conflict": _insert("record_conflicts", CONFLICT_COLUMNS),
    "break": _insert("chain_breaks", BREAK_COLUMNS),
}


@dataclass(frozen=True, slots=True)
class Link:
    """What the chain knows of one stored record: its hash (None: a quarantined record JSON
    cannot hash) and the ``prev`` it carries (None: made before the chain)."""

    hash: str | None
    prev: str | None

    def __reduce__(self) -> tuple[type[Link], tuple[str | None, str | None]]:
        """Pickled as its fields: the decode worker sends each run's two ends back, and a
        slotted dataclass's own way (its fields() looked up, then set one by one) costs
        ten times more."""
        return Link, (self.hash, self.prev)


def insert_received(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows in :data:`RECEIVED_COLUMNS` order: each record's key, with its hash, its
    ``prev`` and its canonical bytes as text. One statement per row (the bench's plain
    loop); a message's rows go through :func:`insert_received_batch`."""
    conn.executemany(_SQL["received"], rows)


def insert_received_batch(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """:func:`insert_received`'s rows in a few statements (:func:`insert_rows`)."""
    insert_rows(conn, _SQL["received"], rows)


def insert_received_stamped(conn: sqlite3.Connection, values: list[Any], at: str) -> None:
    """Rows made before the store (``hub.ingest.runs``), one after another in ``values``:
    :data:`RECEIVED_COLUMNS` but ``stored_at``, then ``stored_at`` (any value: the hub's
    stamp of the batch, ``at``, is put in each), in a few statements (:func:`insert_values`)."""
    values = list(values)  # the caller's stays as it was
    values[STAMPED_WIDTH - 1::STAMPED_WIDTH] = [at] * (len(values) // STAMPED_WIDTH)
    insert_values(conn, _SQL["received_stamped"], STAMPED_WIDTH, values)


def insert_changes(conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Change records (``hub.ingest.records.change_row``), each stored once."""
    conn.executemany(_SQL["changes"], ([row[c] for c in schema.CHANGE_COLUMNS] for row in rows))


def insert_conflict(conn: sqlite3.Connection, row: Sequence[Any]) -> bool:
    """A copy of a stored record with other content; False when this very copy is known."""
    return conn.execute(_SQL["conflict"], row).rowcount > 0


def conflict_known(conn: sqlite3.Connection, device: str, journal: str, seq: int,
                   digest: str) -> bool:
    """Whether this very copy (same hash) of a record is already kept as a conflict."""
    return conn.execute(
        "SELECT 1 FROM record_conflicts WHERE device = ? AND journal = ? AND seq = ?"
        " AND hash = ?", (device, journal, seq, digest)).fetchone() is not None


def insert_break(conn: sqlite3.Connection, row: Sequence[Any]) -> bool:
    """A break of a journal's chain; False when it was already found."""
    return conn.execute(_SQL["break"], row).rowcount > 0


def links(conn: sqlite3.Connection, device: str, journal: str,
          seqs: Iterable[int]) -> dict[int, Link]:
    """The stored records among ``seqs`` (stored ones, then quarantined ones), in one query
    whatever their number: a batch's duplicates and its neighbours at once."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    if len(wanted) <= LINKS_LISTED:  # a run's two neighbours, a record's one
        rows = conn.execute(_links_sql(len(wanted)), (device, journal, *wanted))
    else:
        rows = conn.execute(_links_sql(0), (device, journal, json.dumps(wanted)))
    out: dict[int, Link] = {}
    stored: list[tuple[int, str | None, str | None]] = []
    for in_received, seq, digest, text in rows:
        if in_received:
            stored.append((int(seq), digest, text))
        else:
            out[int(seq)] = Link(digest, prev_of(text))
    for seq, digest, prev in stored:
        out[seq] = Link(digest, prev)  # a stored copy wins over a replayed refused one
    return out


#: Up to this many numbers, :func:`links` binds each (``seq IN (?3, ?4)``); more go as one
#: JSON array (``json_each``), which costs a lookup of a run's neighbours twice as much.
LINKS_LISTED: Final = 8


@functools.lru_cache(maxsize=LINKS_LISTED + 1)
def _links_sql(listed: int) -> str:
    """Both tables in one statement, ``?1`` the device and ``?2`` the journal; ``listed``
    numbers from ``?3`` on, or (0) a JSON array of them in ``?3``."""
    seqs = (f"IN ({', '.join(f'?{3 + i}' for i in range(listed))})" if listed
            else "IN (SELECT value FROM json_each(?3))")
    return ("SELECT 0, seq, hash, item FROM quarantine WHERE device = ?1 AND journal = ?2"
            f" AND seq {seqs} UNION ALL SELECT 1, seq, hash, prev FROM received"
            f" WHERE device = ?1 AND journal = ?2 AND hash IS NOT NULL AND seq {seqs}")


def loads(text: str | None) -> object:
    """A record kept as JSON text, parsed; None when it is not JSON (or nested too deep for
    Python: hostile input must not raise)."""
    try:
        return json.loads(text or "null")
    except (ValueError, TypeError, RecursionError):
        return None


def prev_of(item: str | None) -> str | None:
    """The ``prev`` a quarantined record (kept as received, as JSON text) carries."""
    record = loads(item)
    prev = record.get("prev") if isinstance(record, dict) else None
    return prev if isinstance(prev, str) else None


def kept_hash(item: str | None) -> str | None:
    """The hash of a quarantined record from its text as received (None: the chain cannot
    hash it)."""
    return try_hash(loads(item))


def devices_with_changes(conn: sqlite3.Connection) -> set[str]:
    """Devices that have sent change records (their inputs are journaled, not sampled)."""
    # One seek per device on the changes' key, not a scan of years of changes at start.
    return {str(r[0]) for r in conn.execute(
        "SELECT device FROM devices d WHERE EXISTS"
        " (SELECT 1 FROM changes c WHERE c.device = d.device)")}
