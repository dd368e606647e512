"""``voyant-hub verify``: the store checked at rest, journal by journal, reading only.

What arrived is checked again from what the store keeps, not from what the ingest
found then: each record's hash from its stored bytes (``received.body``), each link
(``prev`` = the hash of the record before), each row the pages read against its
record (a reading, a change by its seq; an exposure's or an alarm's latest state by
its ``last_seq``) and has one, that each hole in a sequence is a quarantined record, a range
declared lost (``data_gap``, ``lost`` true) or above the acknowledgement (still on
its way), and that the head each signed quarterly report printed is still the
store's. Conflicts and breaks the ingest recorded as records arrived are reported
too. Records stored before the hub kept them as received (no body) are counted,
not checked: nothing is left to check them by.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from hub.chain.arrival import breaks
from hub.chain.export import journals_of, lost_ranges, paris_bounds, window
from hub.db import schema
from hub.db.chain_store import Link, kept_hash, links, loads, prev_of
from hub.ingest.records import alarm_row, change_row, exposure_row
from wire.chain import try_hash
from wire.contract import ITEM_MODELS, AlarmItem, ChangeItem, ExposureItem, ReadingItem

#: Columns of a derived row the hub sets itself (not from the record).
_HUB_COLUMNS = frozenset({"device", "site", "room", "journal", "clock_implausible",
                          "stored_at", "first_seen", "updated"})


@dataclass(frozen=True, slots=True)
class Problem:
    device: str
    journal: str
    seq: int
    kind: str
    what: str

    def line(self) -> str:
        return f"BROKEN {self.device} {self.journal} seq {self.seq} {self.kind}: {self.what}"


@dataclass(slots=True)
class JournalCheck:
    """What ``verify`` found in one journal."""

    device: str
    journal: str
    records: int = 0
    quarantined: int = 0
    before_chain: int = 0
    lost: int = 0
    in_flight: list[tuple[int, int]] = field(default_factory=list)
    head: tuple[int, str] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.problems:
            return "broken"
        return "gap" if self.lost or self.in_flight else "intact"

    def line(self) -> str:
        head = f"head {self.head[0]} {self.head[1]}" if self.head else "no chained record"
        flight = "".join(f", {a}..{b} still in flight (above the acknowledgement)"
                         for a, b in self.in_flight)
        return (f"{self.device} {self.journal}: {self.records} records checked,"
                f" {self.quarantined} quarantined, {self.lost} declared lost{flight},"
                f" {self.before_chain} records before the chain, {head}: {self.state}")


def verify(conn: sqlite3.Connection, device: str | None = None, since: date | None = None,
           until: date | None = None) -> list[JournalCheck]:
    """Every journal (of ``device``), records stored from the Paris day ``since`` to
    ``until`` included; then the heads of the signed reports."""
    low, high = paris_bounds(since, until)
    out = [_journal(conn, dev, journal, low, high) for dev, journal in journals_of(conn, device)]
    by_key = {(c.device, c.journal): c for c in out}
    for problem in _signed_heads(conn, device):
        check = by_key.get((problem.device, problem.journal))
        if check is None:
            check = by_key[(problem.device, problem.journal)] = JournalCheck(
                problem.device, problem.journal)
            out.append(check)
        check.problems.append(problem)
    return out


def _journal(conn: sqlite3.Connection, device: str, journal: str, low: str | None,
             high: str | None) -> JournalCheck:
    check = JournalCheck(device, journal)
    quarantined = {int(seq): (digest, item) for seq, digest, item in conn.execute(
        "SELECT seq, hash, item FROM quarantine WHERE device = ? AND journal = ?"
        " AND counted = 1",  # one kept from a message naming another device is not its own
        (device, journal))}
    sql, params = window("stored_at", low, high)
    previous: tuple[int, Link] | None = None
    seqs: list[int] = []
    for seq, kind, digest, prev, body in conn.execute(
            "SELECT seq, kind, hash, prev, body FROM received WHERE device = ? AND journal = ?"
            + sql + " ORDER BY seq", [device, journal, *params]):
        seqs.append(seq)
        if kind == "quarantined" or (body is None and seq in quarantined):
            check.quarantined += 1
            link = _quarantined(check, seq, *quarantined.get(seq, (None, None)))
        elif body is None:
            check.before_chain += 1
            link = Link(digest, prev)
            previous = (seq, link) if digest is not None else None
            continue
        else:
            check.records += 1
            link = _record(conn, check, seq, kind, digest, prev, body)
            check.before_chain += prev is None
        before = previous[1] if previous and previous[0] == seq - 1 else (
            links(conn, device, journal, [seq - 1]).get(seq - 1))
        reason = breaks(seq, link, before)
        if reason is not None:
            check.problems.append(Problem(device, journal, seq, kind, reason))
        if link.prev is not None and link.hash is not None:
            check.head = (seq, link.hash)
        previous = (seq, link)
    _holes(conn, check, seqs, set(quarantined), bool(low or high))
    if not (low or high):
        _orphans(conn, check)
    _recorded(conn, check)
    return check


#: Each table the pages read, the column naming its record, and that record's kind.
_DERIVED = (("readings", "seq", "readings"), ("changes", "seq", "changes"),
            ("exposures", "last_seq", "exposures"), ("alarms", "last_seq", "alarms"))


def _orphans(conn: sqlite3.Connection, check: JournalCheck) -> None:
    """A row the pages read with no record of its kind behind it (made up in the store)."""
    for table, column, kind in _DERIVED:
        for (seq,) in conn.execute(
                f"SELECT t.{column} FROM {table} t WHERE t.device = ? AND t.journal = ?"
                " AND NOT EXISTS (SELECT 1 FROM received r WHERE r.device = t.device"
                f" AND r.journal = t.journal AND r.seq = t.{column} AND r.kind = ?)"
                f" ORDER BY t.{column}", (check.device, check.journal, kind)):
            check.problems.append(Problem(check.device, check.journal, seq, table,
                                          f"a {table} row with no {kind} record received"))


def _quarantined(check: JournalCheck, seq: int, digest: str | None, item: str | None) -> Link:
    """A refused record takes part in the chain as received: its hash from its bytes. One
    quarantined before the hub kept hashes (no ``prev``, no hash: an upgrade could not hash
    it) has nothing to be compared with."""
    prev = prev_of(item)
    if digest is None and prev is None:
        return Link(None, None)
    if kept_hash(item) != digest:
        check.problems.append(Problem(check.device, check.journal, seq, "quarantined",
                                      "altered: the quarantined record does not match its hash"))
    return Link(digest, prev)


def _record(conn: sqlite3.Connection, check: JournalCheck, seq: int, kind: str,
            digest: str | None, prev: str | None, body: str) -> Link:
    """One stored record: its hash from its bytes, its ``prev`` column from its record, its
    rows from its fields. A body that is no JSON object is a problem found, never a crash."""
    def problem(what: str) -> None:
        check.problems.append(Problem(check.device, check.journal, seq, kind, what))

    raw = loads(body)
    own = try_hash(raw)
    if not isinstance(raw, dict) or own is None:
        problem("altered: the stored record is not a JSON object the chain can hash")
        return Link(digest, prev)
    # Its canonical bytes are the body exactly when they hash alike (one dumps, not two).
    if own != digest or hashlib.sha256(body.encode("utf-8")).hexdigest() != own:
        problem("altered: the stored record does not match its hash")
    if raw.get("prev") != prev:
        problem("altered: the stored prev is not the record's")
    model = ITEM_MODELS.get(kind)
    try:
        item = model.model_validate(raw) if model is not None else None
    except (ValidationError, RecursionError):
        item = None
    if item is None:
        problem("the stored record is not a valid record of its kind")
    else:
        for what in _rows_differ(conn, check.device, check.journal, item):
            problem(what)
    return Link(digest, prev)


def _rows_differ(conn: sqlite3.Connection, device: str, journal: str,
                 item: ReadingItem | ExposureItem | AlarmItem | ChangeItem) -> Iterator[str]:
    """How the rows the pages read differ from the record (nothing when they agree)."""
    ident = (device, "", "", journal)
    if isinstance(item, ReadingItem):
        want: dict[str, Any] = {n: int(v) if isinstance(v, bool) else v
                                for n in schema.READING_FIELDS for v in [getattr(item, n)]}
        row = _row(conn, "SELECT * FROM readings WHERE device = ? AND journal = ? AND seq = ?",
                   (device, journal, item.seq))
        table = "readings"
    elif isinstance(item, ChangeItem):
        want = change_row(*ident, item, "")
        row = _row(conn, "SELECT * FROM changes WHERE device = ? AND journal = ? AND seq = ?",
                   (device, journal, item.seq))
        table = "changes"
    else:
        table = "exposures" if isinstance(item, ExposureItem) else "alarms"
        want = (exposure_row(*ident, item, "") if isinstance(item, ExposureItem)
                else alarm_row(*ident, item, ""))
        row = _row(conn, f"SELECT * FROM {table} WHERE device = ? AND journal = ? AND run = ?"
                   " AND number = ?", (device, journal, item.run, item.number))
        if row is not None and row["last_seq"] != item.seq:
            return  # a later event of the same exposure or alarm is the row now
    if row is None:
        yield f"no {table} row for this record"
        return
    for name, value in want.items():
        if name not in _HUB_COLUMNS and row.get(name) != value:
            yield f"the {table} row's {name} is {row.get(name)!r}, the record says {value!r}"


def _row(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    cursor = conn.execute(sql, params)
    found = cursor.fetchone()
    if found is None:
        return None
    return dict(zip([d[0] for d in cursor.description], found, strict=True))


def _holes(conn: sqlite3.Connection, check: JournalCheck, seqs: list[int],
           quarantined: set[int], windowed: bool) -> None:
    """Each seq missing below the highest held (from 1, or from the first in the window):
    quarantined, declared lost, above the acknowledgement (in flight), or an undeclared
    gap. Every seq held counts, whenever it was stored."""
    if not seqs:
        return
    lo, hi = (seqs[0] if windowed else 1), seqs[-1]
    lost = lost_ranges(conn, check.device, check.journal)
    check.lost = sum(min(b, hi) - max(a, lo) + 1 for a, b in lost if a <= hi and b >= lo)
    row = conn.execute("SELECT upto FROM journals WHERE device = ? AND journal = ?",
                       (check.device, check.journal)).fetchone()
    upto = int(row[0]) if row else 0
    held = sorted({int(r[0]) for r in conn.execute(
        "SELECT seq FROM received WHERE device = ? AND journal = ? AND seq BETWEEN ? AND ?",
        (check.device, check.journal, lo, hi))} | {q for q in quarantined if lo <= q <= hi})
    covered = sorted([*lost, *((s, s) for s in held)])
    expected = lo
    for a, b in [*covered, (hi + 1, hi + 1)]:
        if a > expected:
            _missing(check, expected, min(a - 1, hi), upto)
        expected = max(expected, b + 1)


def _missing(check: JournalCheck, first: int, last: int, upto: int) -> None:
    if first > upto:
        check.in_flight.append((first, last))
        return
    check.problems.append(Problem(
        check.device, check.journal, first, "gap",
        f"undeclared gap: seq {first}..{min(last, upto)} missing, neither quarantined nor"
        " declared lost"))
    if last > upto:
        check.in_flight.append((upto + 1, last))


def _recorded(conn: sqlite3.Connection, check: JournalCheck) -> None:
    """What the ingest found as records arrived: conflicts and breaks (those verify did
    not find again itself: the stored copy holds, an out-of-order check)."""
    own = {(p.seq, p.what) for p in check.problems}
    for seq, kind, at, digest, stored in conn.execute(
            "SELECT seq, kind, received_at, hash, stored_hash FROM record_conflicts"
            " WHERE device = ? AND journal = ? ORDER BY seq, id", (check.device, check.journal)):
        check.problems.append(Problem(
            check.device, check.journal, seq, kind,
            f"conflict: a copy received {at} differs from the stored one"
            f" (hash {digest}, stored {stored})"))
    for seq, reason, at in conn.execute(
            "SELECT seq, reason, found_at FROM chain_breaks WHERE device = ? AND journal = ?"
            " ORDER BY seq, id", (check.device, check.journal)):
        if (seq, reason) not in own:
            check.problems.append(Problem(check.device, check.journal, seq, "chain",
                                          f"found on arrival {at}: {reason}"))


def _signed_heads(conn: sqlite3.Connection, device: str | None) -> Iterator[Problem]:
    """Each head a signed quarterly report printed (``chain_heads`` in its content) must
    still be the store's record at that seq, with that hash."""
    sql = "SELECT id, content FROM reports WHERE status = 'signed'"
    rows = conn.execute(sql + (" AND device = ?" if device else "") + " ORDER BY id",
                        (device,) if device else ())
    for report_id, content in rows:
        try:
            heads = json.loads(content).get("chain_heads") or []
        except (ValueError, AttributeError):
            continue
        for head in heads:
            if not isinstance(head, Mapping):
                continue
            dev, journal, seq, signed = (head.get("device"), head.get("journal"),
                                         head.get("seq"), head.get("hash"))
            if not (isinstance(dev, str) and isinstance(journal, str) and isinstance(seq, int)):
                continue
            stored = links(conn, dev, journal, [seq]).get(seq)
            if stored is None or stored.hash != signed:
                yield Problem(dev, journal, seq, "head",
                              f"differs from signed report {report_id}: signed hash {signed},"
                              f" the store holds {stored.hash if stored else 'nothing'}")


def report(checks: list[JournalCheck]) -> tuple[list[str], int]:
    """The lines to print and the exit status: 0 when every journal is intact or has only
    declared gaps, 1 on any break, alteration, undeclared gap, conflict or head."""
    lines = [c.line() for c in checks]
    problems = [p for c in checks for p in c.problems]
    lines += [p.line() for p in problems]
    if not checks:
        lines.append("no journal to verify")
    elif problems:
        lines.append(f"{len(problems)} problem(s) found")
    else:
        lines.append("intact" if all(c.state == "intact" for c in checks)
                     else "intact, with the gaps stated")
    return lines, 1 if problems else 0
