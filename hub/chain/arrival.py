"""The chain checked as records arrive: conflicting copies and broken links, per batch.

A batch's records are checked against each other in memory and against the stored
records around it (its duplicates, the record before its first and after its last) in
one lookup: record n's ``prev`` against the hash of n-1 when n-1 is known, and, since
records arrive out of order, a stored n+1's ``prev`` against n's hash. ``GENESIS``
after a chained record is a break too (the chain started again: a journal re-made), and
so is a record with no ``prev`` after a chained one (the chain stops: an older agent's
journal put back). A copy of a stored sequence number with another hash is a conflict:
kept whole beside the first, never over it, within a daily budget of its own per device
(:data:`CONFLICTS_PER_DEVICE_DAY`: a flood of altered copies must not fill the disk, and
a restored journal resending days of records must not spend the quarantine budget that
lets the device's refused records be acknowledged). Each finding is a row (``record_conflicts``,
``chain_breaks``), a warning in the log and one counting event per (device, journal).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from hub.db import chain_store
from hub.db.chain_store import Link
from hub.db.store import Store
from hub.logs import log
from hub.workdays import local_date
from wire.chain import GENESIS, try_canonical_text, try_canonical_texts
from wire.kinds import severity

Ident = tuple[str, str, str, str]  # device, site, room, journal

#: Why a link is broken (the words of the inspector's script in docs/protocol.md).
RESTARTED = "the chain starts again"
STOPPED = "the chain stops"
#: Conflicting copies kept per device and day at most (beside the quarantine's budget).
CONFLICTS_PER_DEVICE_DAY: Final = 20_000


def not_linked(seq: int) -> str:
    return f"prev is not the hash of seq {seq - 1}"


@dataclass(frozen=True, slots=True)
class Arrived:
    """One record of a batch as received: its hash over its canonical bytes (``body``), and
    the ``prev`` it carries; hash and body None when the chain cannot hash it (NaN, not an
    object, nested too deep: hostile input must not roll the batch back)."""

    seq: int
    kind: str
    hash: str | None
    prev: str | None
    body: str | None

    @classmethod
    def of(cls, seq: int, kind: str, raw: object) -> Arrived:
        return cls(seq, kind, *as_received(raw))

    @property
    def link(self) -> Link:
        return Link(self.hash, self.prev)


def as_received(raw: object) -> tuple[str | None, str | None, str | None]:
    """A record's (hash, prev, body) as received (:class:`Arrived`)."""
    return _arrived(raw, try_canonical_text(raw))  # once: the hash is over these very bytes


def as_received_all(raws: Sequence[object]) -> list[tuple[str | None, str | None, str | None]]:
    """:func:`as_received` of each record, their canonical bytes written together
    (:func:`~wire.chain.try_canonical_texts`: a batch's columns at once)."""
    return [_arrived(raw, made)
            for raw, made in zip(raws, try_canonical_texts(raws), strict=True)]


def _arrived(raw: object, made: tuple[str, bytes] | None
             ) -> tuple[str | None, str | None, str | None]:
    prev = raw.get("prev") if isinstance(raw, dict) else None
    prev = prev if isinstance(prev, str) else None
    if made is None:
        return None, prev, None
    return hashlib.sha256(made[1]).hexdigest(), prev, made[0]


def breaks(seq: int, link: Link, before: Link | None) -> str | None:
    """Why record ``seq`` does not follow ``before`` (the record seq-1, None: not known).
    A record the chain cannot hash says nothing of its place (its ``prev`` may be lost)."""
    if before is None:
        return None
    if link.prev is None:
        return STOPPED if before.prev is not None and link.hash is not None else None
    if link.prev == GENESIS:
        return RESTARTED if before.prev is not None else None
    if before.hash is not None and link.prev != before.hash:
        return not_linked(seq)
    return None


class ConflictBudget:
    """Conflicting copies kept per device and day: their own budget, not the quarantine's,
    so a restored journal resending its records cannot stall the device's acknowledgements
    (a refused record over the quarantine budget is not acknowledged)."""

    def __init__(self, per_day: int = CONFLICTS_PER_DEVICE_DAY) -> None:
        self.per_day = per_day
        self._spent: dict[str, tuple[date, int]] = {}  # device: (Paris day, copies kept)

    def may_keep(self, device: str, now: float) -> bool:
        """Charge one copy to ``device``'s Paris day; False when its budget is spent."""
        day = local_date(datetime.fromtimestamp(now, UTC))
        known, spent = self._spent.get(device, (day, 0))
        spent = spent if known == day else 0
        if spent >= self.per_day:
            return False
        self._spent[device] = (day, spent + 1)
        return True


def check(store: Store, ident: Ident, new: Sequence[Arrived], copies: Sequence[Arrived],
          at: str, may_keep: Callable[[], bool] = lambda: True) -> tuple[int, int]:
    """Check a batch: ``new`` records just stored or quarantined, ``copies`` of records the
    hub already held (a new conflict is kept when ``may_keep`` says there is room; a copy
    already kept is not charged). Returns (conflicts, breaks) found."""
    device, journal = ident[0], ident[3]
    mine = {r.seq: r.link for r in new}
    around = {s for r in new for s in (r.seq - 1, r.seq + 1)} - mine.keys()
    stored = chain_store.links(store.conn, device, journal, around | {c.seq for c in copies})
    conflicts = sum(_conflict(store, ident, copy, stored.get(copy.seq), at, may_keep)
                    for copy in copies)
    found = 0
    for record in new:
        before = mine.get(record.seq - 1) or stored.get(record.seq - 1)
        found += _broken(store, ident, record.seq, breaks(record.seq, record.link, before), at)
        after = stored.get(record.seq + 1) if record.seq + 1 not in mine else None
        if after is not None:
            found += _broken(store, ident, record.seq + 1,
                             breaks(record.seq + 1, after, record.link), at)
    return conflicts, found


def check_run(store: Store, ident: Ident, first: int, head: Link, last: int, tail: Link,
              at: str) -> int:
    """:func:`check` of new records ``first..last`` whose links within hold
    (:func:`hub.ingest.runs.run_of`): only their ends meet stored records, looked up in the
    same query, found in the same order. Returns the breaks found."""
    device, journal = ident[0], ident[3]
    stored = chain_store.links(store.conn, device, journal, {first - 1, last + 1})
    found = int(_broken(store, ident, first, breaks(first, head, stored.get(first - 1)), at))
    after = stored.get(last + 1)
    if after is not None:
        found += _broken(store, ident, last + 1, breaks(last + 1, after, tail), at)
    return found


def _conflict(store: Store, ident: Ident, copy: Arrived, stored: Link | None, at: str,
              may_keep: Callable[[], bool]) -> bool:
    device, site, room, journal = ident
    if stored is None or stored.hash is None or copy.hash is None or copy.hash == stored.hash:
        return False
    if chain_store.conflict_known(store.conn, device, journal, copy.seq, copy.hash):
        return False  # this very copy, sent again: no budget spent on it
    if not may_keep():
        log("record_conflict_not_kept", logging.WARNING, device=device, journal=journal,
            seq=copy.seq, reason="conflict budget spent")
        return False
    if not chain_store.insert_conflict(store.conn, (
            device, site, room, journal, copy.seq, copy.kind, at, copy.hash, stored.hash,
            copy.body)):
        return False  # this very copy, sent again
    store.count_event("record_conflict", device, site, room, journal, at,
                      {"journal": journal, "seq": copy.seq, "kind": copy.kind,
                       "hash": copy.hash, "stored_hash": stored.hash},
                      severity("record_conflict"))
    log("record_conflict", logging.WARNING, device=device, journal=journal, seq=copy.seq,
        kind=copy.kind, hash=copy.hash, stored_hash=stored.hash)
    return True


def _broken(store: Store, ident: Ident, seq: int, reason: str | None, at: str) -> bool:
    if reason is None:
        return False
    device, site, room, journal = ident
    if not chain_store.insert_break(store.conn, (device, site, room, journal, seq, reason, at)):
        return False
    store.count_event("chain_broken", device, site, room, journal, at,
                      {"journal": journal, "seq": seq, "reason": reason},
                      severity("chain_broken"))
    log("chain_broken", logging.WARNING, device=device, journal=journal, seq=seq,
        reason=reason)
    return True
