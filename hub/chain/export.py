"""A journal's export: every record as the hub received it, with its hash, in JSON lines.

What an inspector re-checks without Voyant (the script in ``docs/protocol.md``) and what
``voyant-edge journal --verify-against`` compares with a box's journal. One line per
record in sequence order, ``status`` ``stored`` or ``quarantined`` (a refused record, as
received; ``hash`` null when JSON cannot hash it), and one ``lost`` line per range
declared lost (a ``data_gap`` event with ``lost`` true). Records the hub received before
it kept them as received (no ``body``: stored before the hub's upgrade) cannot be
checked and are left out, and so is what lies below the first record exported: the
export starts where the hub's evidence of the chain starts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from hub.timefmt import iso
from hub.workdays import PARIS


def paris_bounds(since: date | None, until: date | None) -> tuple[str | None, str | None]:
    """The store's times (UTC, as ``hub.timefmt.iso`` writes them) from the start of the
    Paris day ``since`` to the end of the Paris day ``until`` (both included)."""
    def start(day: date) -> str:
        return iso(datetime.combine(day, time(0), PARIS).timestamp())

    return (start(since) if since else None,
            start(until + timedelta(days=1)) if until else None)


def lost_ranges(conn: sqlite3.Connection, device: str, journal: str) -> list[tuple[int, int]]:
    """The ranges declared lost in ``journal``: the spans of its ``data_gap`` events with
    ``lost`` true, less the records the hub holds in them (a span counts what was missing
    when it was declared, around records that had arrived early)."""
    spans = []
    for (detail,) in conn.execute("SELECT detail FROM events WHERE kind = 'data_gap'"
                                  " AND device = ?", (device,)):
        try:
            gap = json.loads(detail)
            if gap.get("lost") is True and gap.get("journal") == journal:
                spans.append((int(gap["first"]), int(gap["last"])))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    out = []
    for lo, hi in sorted(spans):
        held = [int(r[0]) for r in conn.execute(
            "SELECT seq FROM received WHERE device = ? AND journal = ? AND seq BETWEEN ? AND ?"
            " UNION SELECT seq FROM quarantine WHERE device = ? AND journal = ?"
            " AND seq BETWEEN ? AND ? ORDER BY 1", (device, journal, lo, hi) * 2)]
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


def _window(column: str, since: str | None, until: str | None) -> tuple[str, list[str]]:
    sql, params = "", []
    if since:
        sql, params = f" AND {column} >= ?", [since]
    if until:
        sql, params = sql + f" AND {column} < ?", [*params, until]
    return sql, params


def export_lines(conn: sqlite3.Connection, device: str, journal: str | None = None,
                 since: date | None = None, until: date | None = None) -> Iterator[str]:
    """The export of ``device`` (one journal, or each in turn), records stored or received
    from the Paris day ``since`` to ``until`` included; each line without its newline."""
    low, high = paris_bounds(since, until)
    for dev, jour in journals_of(conn, device):
        if journal is None or jour == journal:
            yield from _journal(conn, dev, jour, low, high)


def _journal(conn: sqlite3.Connection, device: str, journal: str, low: str | None,
             high: str | None) -> Iterator[str]:
    head = {"device": device, "journal": journal}
    sql, params = _window("received_at", low, high)
    entries: list[tuple[int, dict[str, Any]]] = []
    for seq, kind, digest, item in conn.execute(
            "SELECT seq, kind, hash, item FROM quarantine WHERE device = ? AND journal = ?"
            " AND replayed_at IS NULL" + sql, [device, journal, *params]):
        entries.append((int(seq), {**head, "seq": int(seq), "kind": kind,
                                   "status": "quarantined", "hash": digest,
                                   "record": json.loads(item)}))
    sql, params = _window("stored_at", low, high)
    for seq, kind, digest, body in conn.execute(
            "SELECT seq, kind, hash, body FROM received WHERE device = ? AND journal = ?"
            " AND body IS NOT NULL" + sql, [device, journal, *params]):
        entries.append((int(seq), {**head, "seq": int(seq), "kind": kind, "status": "stored",
                                   "hash": digest, "record": json.loads(body)}))
    if not entries:
        return
    entries.sort(key=lambda e: (e[0], e[1]["status"] != "stored"))
    first, last = entries[0][0], entries[-1][0]
    windowed = low is not None or high is not None
    for lo, hi in lost_ranges(conn, device, journal):
        if hi >= first and (not windowed or lo <= last):
            entries.append((max(lo, first), {**head, "status": "lost", "first": max(lo, first),
                                             "last": hi}))
    entries.sort(key=lambda e: (e[0], e[1]["status"] != "stored"))
    written = 0
    for seq, entry in entries:
        if entry["status"] != "lost" and seq == written:
            continue  # a seq both stored and quarantined: the stored copy is the record
        yield json.dumps(entry, ensure_ascii=False)
        written = seq
