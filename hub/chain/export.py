"""A journal's export: every record as the hub received it, with its hash, in JSON lines.

What an inspector re-checks without Voyant (the script in ``docs/protocol.md``) and what
``voyant-edge journal --verify-against`` compares with a box's journal. One line per
record in sequence order, ``status`` ``stored`` or ``quarantined`` (a refused record, as
received; ``hash`` null when JSON cannot hash it), and one ``lost`` line per range
declared lost (a ``data_gap`` event with ``lost`` true). Records the hub received before
it kept them as received (no ``body``: stored before the hub's upgrade) cannot be
checked and are left out, and so is what lies below the first record exported: the
export starts where the hub's evidence of the chain starts. It stops at the journal's
acknowledgement (``journals.upto``): above it records may still be on their way (batches
of readings and of changes travel apart), and their holes are no evidence of anything.
Records a device sent under another device's journal (kept, never counted) are not its
journal's. The export is streamed: one ordered cursor, the lost ranges merged in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from hub.db.chain_store import loads
from hub.timefmt import iso
from hub.workdays import PARIS


def paris_bounds(since: date | None, until: date | None) -> tuple[str | None, str | None]:
    """The store's times (UTC, as ``hub.timefmt.iso`` writes them) from the start of the
    Paris day ``since`` to the end of the Paris day ``until`` (both included)."""
    def start(day: date) -> str:
        return iso(datetime.combine(day, time(0), PARIS).timestamp())

    return (start(since) if since else None,
            start(until + timedelta(days=1)) if until else None)


def window(column: str, low: str | None, high: str | None) -> tuple[str, list[str]]:
    """The SQL (`` AND ...``) and parameters keeping ``column`` in ``[low, high)``."""
    sql, params = "", []
    if low:
        sql, params = f" AND {column} >= ?", [low]
    if high:
        sql, params = sql + f" AND {column} < ?", [*params, high]
    return sql, params


def declared_lost(conn: sqlite3.Connection, device: str) -> Iterator[tuple[str, int, int]]:
    """(journal, first, last) of each range of ``device`` declared lost: a ``data_gap``
    event with ``lost`` true and integer bounds. The one reading of those events for the
    export, the badge and ``verify``: anything else in a detail is no declaration."""
    for (detail,) in conn.execute("SELECT detail FROM events WHERE kind = 'data_gap'"
                                  " AND device = ?", (device,)):
        gap = loads(detail)
        if not isinstance(gap, dict) or gap.get("lost") is not True:
            continue
        journal, first, last = gap.get("journal"), gap.get("first"), gap.get("last")
        if (isinstance(journal, str) and type(first) is int and type(last) is int
                and first <= last):
            yield journal, first, last


def lost_ranges(conn: sqlite3.Connection, device: str, journal: str) -> list[tuple[int, int]]:
    """The ranges declared lost in ``journal``, less the records the hub holds in them (a
    span counts what was missing when it was declared, around records that had arrived
    early; a record kept uncounted, named in another device's message, is not held)."""
    spans = sorted((a, b) for j, a, b in declared_lost(conn, device) if j == journal)
    out = []
    for lo, hi in spans:
        held = [int(r[0]) for r in conn.execute(
            "SELECT seq FROM received WHERE device = ? AND journal = ? AND seq BETWEEN ? AND ?"
            " UNION SELECT seq FROM quarantine WHERE device = ? AND journal = ?"
            " AND seq BETWEEN ? AND ? AND counted = 1 ORDER BY 1", (device, journal, lo, hi) * 2)]
        for seq in [*held, hi + 1]:
            if seq > lo:
                out.append((lo, seq - 1))
            lo = seq + 1
    return out


def journals_of(conn: sqlite3.Connection, device: str | None) -> list[tuple[str, str]]:
    """Every (device, journal) the hub holds records of (or of ``device``)."""
    sql = ("SELECT device, journal FROM received {w} UNION SELECT device, journal FROM"
           " quarantine {w} ORDER BY 1, 2")
    where = "WHERE device = ?" if device else ""
    params = (device, device) if device else ()
    return [(str(d), str(j)) for d, j in conn.execute(sql.format(w=where), params)]


def export_lines(conn: sqlite3.Connection, device: str, journal: str | None = None,
                 since: date | None = None, until: date | None = None) -> Iterator[str]:
    """The export of ``device`` (one journal, or each in turn), records stored or received
    from the Paris day ``since`` to ``until`` included, up to each journal's
    acknowledgement (``journals.upto``: above it records may still be in flight, holes
    there are normal); each line without its newline."""
    low, high = paris_bounds(since, until)
    for dev, jour in journals_of(conn, device):
        if journal is None or jour == journal:
            yield from _journal(conn, dev, jour, low, high)


def _record(text: str | None) -> Any:
    """A record as kept: its JSON, or the text itself when it is not JSON (the inspector
    then finds that it does not match its hash)."""
    if text is None:
        return None
    parsed = loads(text)
    return parsed if parsed is not None or text.strip() == "null" else text


def _journal(conn: sqlite3.Connection, device: str, journal: str, low: str | None,
             high: str | None) -> Iterator[str]:
    head = {"device": device, "journal": journal}
    row = conn.execute("SELECT upto FROM journals WHERE device = ? AND journal = ?",
                       (device, journal)).fetchone()
    upto = int(row[0]) if row else 0
    stored_sql, stored_params = window("stored_at", low, high)
    kept_sql, kept_params = window("received_at", low, high)
    rows = conn.execute(  # counted = 1: the sender's own journal, not one it named falsely
        "SELECT seq, kind, hash, body, 0 FROM received WHERE device = ? AND journal = ?"
        " AND body IS NOT NULL AND seq <= ?" + stored_sql
        + " UNION ALL SELECT seq, kind, hash, item, 1 FROM quarantine WHERE device = ?"
        " AND journal = ? AND replayed_at IS NULL AND counted = 1 AND seq <= ?" + kept_sql
        + " ORDER BY 1, 5", [device, journal, upto, *stored_params,
                             device, journal, upto, *kept_params])
    lost = lost_ranges(conn, device, journal)
    first: int | None = None
    written = 0
    for seq, kind, digest, text, quarantined in rows:
        if first is None:
            first = int(seq)
            lost = [(lo, hi) for lo, hi in lost if hi >= first]
        while lost and max(lost[0][0], first) < seq:
            yield _lost(head, first, *lost.pop(0))
        if seq == written:
            continue  # a seq both stored and quarantined: the stored copy is the record
        written = int(seq)
        yield _line({**head, "seq": int(seq), "kind": kind,
                     "status": "quarantined" if quarantined else "stored", "hash": digest},
                    text)
    if first is None:
        return
    for lo, hi in lost:
        if (low is None and high is None) or lo <= written:
            yield _lost(head, first, lo, hi)


def _line(entry: dict[str, Any], text: str | None) -> str:
    """One record's line, strict JSON: a record JSON cannot write back (NaN, nested too
    deep) goes as its text, like one that is no JSON."""
    try:
        return json.dumps({**entry, "record": _record(text)}, ensure_ascii=False,
                          allow_nan=False)
    except (ValueError, RecursionError):
        return json.dumps({**entry, "record": text}, ensure_ascii=False)


def _lost(head: dict[str, str], first: int, lo: int, hi: int) -> str:
    return json.dumps({**head, "status": "lost", "first": max(lo, first), "last": hi},
                      ensure_ascii=False)
