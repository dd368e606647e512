"""The journal's outbox: every record's validated JSON, in sequence order, until the hub holds it.

The journal queues each record (:func:`queue`) inside the transaction that
journals it, as the JSON its wire model wrote, sequence number and ``prev``
(the hash of the record before it, :mod:`wire.chain`) included: the publisher
sends it as stored, and its hash is kept in the ``chain`` table (pruned with
the readings, never its last row) for ``voyant-edge journal
--verify-against``. ``queued`` is the wall time of the record's event (NULL
in rows from agents before the column: their age is unknown).

The publisher's thread reads and acknowledges the outbox through its own
SQLite connection (:class:`Outbox`; a connection belongs to the thread that
opened it). WAL lets the two work at once.

Rows written by agents before the typed records lack the sequence number in
their JSON, and a probe fault made readings with NaN rates. :func:`repair`
rewrites them once, when the journal is upgraded: each gets its sequence
number, and a repair is made only where it is certain (a reading with no
valid data gets null rates; an unbounded uncertainty at saturation gets the
contract's maximum, as the agent now writes it). What still breaks the
contract is left as it was: the hub quarantines it and acknowledges past it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from wire.chain import GENESIS, item_hash
from wire.contract import ALARMS, EXPOSURES, READINGS
from wire.records import ITEM_MODELS, MAX_DOSE_RATE_USV_H, READING_RATES

#: Sent before readings, as soon as they are within the window.
URGENT_KINDS: Final = (ALARMS, EXPOSURES)
#: How every item the journal queues begins (its model's first field).
_SEQ_PREFIX: Final = '{"seq":'


@dataclass(frozen=True, slots=True)
class Pending:
    """One record still to be acknowledged: its sequence number, kind and JSON item."""

    seq: int
    kind: str
    item: str


@dataclass(frozen=True, slots=True)
class Oldest:
    """The oldest record waiting for the hub: its number, kind and wall time (None: unknown,
    queued by an agent before the column)."""

    seq: int
    kind: str
    queued: float | None


@dataclass(frozen=True, slots=True)
class Repair:
    """What :func:`repair` did: rows given their sequence number, rows repaired, rows left
    invalid (sent as they are, for the hub to quarantine)."""

    numbered: int = 0
    repaired: int = 0
    invalid: int = 0


def next_seq(conn: sqlite3.Connection) -> int:
    """The sequence number the next queued record gets (inside the caller's transaction)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return (int(row[0]) if row else 0) + 1


def queue(conn: sqlite3.Connection, kind: str, item: BaseModel, queued: float) -> None:
    """Add one validated record (its ``seq`` from :func:`next_seq`) to the outbox, inside the
    caller's transaction, chained: the single point every record passes.

    The item gets ``prev``, the hash of the journal's previous chained record (GENESIS for
    its first: the first record after an upgrade, whatever unchained rows precede it), and
    its own hash, taken over the very JSON stored and sent, joins the ``chain`` table."""
    seq = getattr(item, "seq")  # noqa: B009
    chained = item.model_copy(update={"prev": chain_head(conn)})
    text = chained.model_dump_json()
    conn.execute("INSERT INTO outbox (seq, kind, item, queued) VALUES (?, ?, ?, ?)",
                 [seq, kind, text, queued])
    conn.execute("INSERT INTO chain (seq, kind, hash, queued) VALUES (?, ?, ?, ?)",
                 [seq, kind, item_hash(text), queued])


def chain_head(conn: sqlite3.Connection) -> str:
    """The hash of the journal's last chained record (GENESIS when it has none yet)."""
    row = conn.execute("SELECT hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS if row is None else str(row[0])


def repair(conn: sqlite3.Connection) -> Repair:
    """Rewrite the rows older agents queued (see the module docstring), in the caller's
    transaction. Rows the typed journal wrote are not read: they passed the contract."""
    rows = conn.execute(
        "SELECT seq, kind, item FROM outbox WHERE substr(item, 1, 7) != ?", [_SEQ_PREFIX]
    ).fetchall()
    numbered = repaired = invalid = 0
    for seq, kind, text in rows:
        fixed, was_repaired = _repaired(int(seq), str(kind), str(text))
        if fixed is None:
            invalid += 1
            fixed = with_seq(int(seq), str(text))
        elif was_repaired:
            repaired += 1
        else:
            numbered += 1
        conn.execute("UPDATE outbox SET item = ? WHERE seq = ?", [fixed, seq])
    return Repair(numbered, repaired, invalid)


def _repaired(seq: int, kind: str, text: str) -> tuple[str | None, bool]:
    """The row's item, repaired where that is certain; None if it still breaks the contract.

    A row that needs no repair keeps its own text (its sequence number put first), byte for
    byte what the older agent's publisher sent: if the hub stored it before the upgrade and
    its acknowledgement never came, the copy sent again hashes the same (no false
    ``record_conflict``). A repaired row is written by its model, outside the chain (no
    ``prev``): the hub refused its first copy, which had no hash."""
    model = ITEM_MODELS.get(kind)
    try:
        data = json.loads(text)  # NaN and Infinity tokens as older agents wrote them
    except (ValueError, RecursionError):
        return None, False
    if model is None or not isinstance(data, dict):
        return None, False
    data["seq"] = seq
    changed = kind == READINGS and _repair_reading(data)
    try:
        valid = model.model_validate(data)
    except ValidationError:
        return None, False
    return (valid.model_dump_json(exclude={"prev"}) if changed else with_seq(seq, text)), changed


def _repair_reading(data: dict[str, Any]) -> bool:
    """A reading with no valid data gets null rates; an infinite uncertainty at saturation
    gets the contract's largest dose rate. True if anything changed."""
    rates = [data.get(name) for name in READING_RATES]
    if data.get("seconds_covered") == 0 and all(
        rate is None or (isinstance(rate, float) and not math.isfinite(rate)) for rate in rates
    ):
        changed = any(rate is not None for rate in rates)
        data.update(dict.fromkeys(READING_RATES))
        return changed
    changed = False
    if data.get("saturated") is True:
        for name in ("mean_sigma_usv_h", "max_sigma_usv_h"):
            if data.get(name) == math.inf:
                data[name] = MAX_DOSE_RATE_USV_H
                changed = True
    return changed


def with_seq(seq: int, item: str) -> str:
    """An item's JSON with its sequence number (rows older agents queued lack it)."""
    if item.startswith(_SEQ_PREFIX) or not item.startswith("{"):
        return item
    rest = item[1:].lstrip()
    return f"{_SEQ_PREFIX}{seq}" + ("," + rest if rest != "}" else "}")


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
        return self.oldest() - 1

    def oldest(self) -> int:
        """The oldest sequence number the outbox holds (the last one + 1 when it is empty):
        the hub may declare lost whatever it lacks below it."""
        # One statement, one snapshot: read apart, a record committed between the two reads
        # would be said gone while it waits unsent (and the hub would declare it lost).
        row = self.conn.execute(
            "SELECT coalesce((SELECT min(seq) FROM outbox),"
            " (SELECT seq FROM sqlite_sequence WHERE name = 'outbox') + 1, 1)").fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        row = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def pending(
        self, from_seq: int, limit: int, *, upto: int | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> list[Pending]:
        """Up to ``limit`` records from ``from_seq`` on (to ``upto``, of ``kinds``), in order."""
        sql = "SELECT seq, kind, item FROM outbox WHERE seq >= ?"
        args: list[Any] = [from_seq]
        if upto is not None:
            sql += " AND seq <= ?"
            args.append(upto)
        if kinds is not None:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            args += kinds
        rows = self.conn.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit]).fetchall()
        return [Pending(int(seq), str(kind), with_seq(int(seq), str(item)))
                for seq, kind, item in rows]

    def acknowledge(self, upto: int) -> int:
        """Forget every record up to ``upto``: the hub has stored them all."""
        with self.conn:
            return self.conn.execute("DELETE FROM outbox WHERE seq <= ?", [upto]).rowcount

    def backlog(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


def oldest_record(conn: sqlite3.Connection) -> Oldest | None:
    """The oldest record waiting for the hub, or None when the outbox is empty."""
    try:
        row = conn.execute(
            "SELECT seq, kind, queued FROM outbox ORDER BY seq LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # a journal not yet upgraded: no queued column
        row = conn.execute(
            "SELECT seq, kind, NULL FROM outbox ORDER BY seq LIMIT 1").fetchone()
    if row is None:
        return None
    return Oldest(int(row[0]), str(row[1]), None if row[2] is None else float(row[2]))
