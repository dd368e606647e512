"""Per-(device, journal) sequence bookkeeping: what is stored, what is missing, since when.

``upto`` is the acknowledgement: every record 1..upto is stored,
quarantined or declared lost. Records above it that arrived early are kept in
``above``; the holes between are *gaps*, each with the time it was first
seen, so that a resend that fills it before ``gap_timeout_s`` raises nothing.
A gap keeps its first extent until every record in it has arrived, so the
event it may have raised is closed exactly once.

A quarantined record counts only as the *next* number (``quarantined``
waits above ``upto`` until the records before it are in): a refused record
never moves the acknowledgement past a jump. What the agent says it no longer
holds (``oldest``) and the hub lacks is *lost*: :meth:`JournalSeqs.declare_lost`
counts it exactly and moves ``upto`` past it, so the stream never waits for a
record that no one has any more.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any


@dataclass(slots=True)
class Gap:
    """Records ``first..last`` were missing when first seen at ``seen_at``."""

    first: int
    last: int
    missing: int
    seen_at: float
    event_id: int | None = None


class JournalSeqs:
    """Stored sequence numbers of one device's journal, and the gaps among them."""

    def __init__(self, upto: int = 0) -> None:
        self.upto = upto
        self.above: set[int] = set()
        self.top = upto
        self._gaps: list[Gap] = []
        self._starts: list[int] = []
        #: Quarantined records above ``upto``, waiting to count as the next number.
        self.quarantined: set[int] = set()
        #: Quarantined records that have just come to count (the store is told, then cleared).
        self.newly_counted: list[int] = []
        #: Since when records have arrived that ``upto`` could not pass (None: it moved).
        self.waiting_since: float | None = None
        #: When records of this journal last arrived (duplicates included).
        self.last_records_at: float | None = None
        #: The open ``ack_stalled`` event of this journal, if any.
        self.stall_event: int | None = None

    def snapshot(self) -> dict[str, Any]:
        """Everything this bookkeeping holds, copied (a gap's count changes in place), for
        :meth:`put_back` when the message that changes it fails (:mod:`hub.ingest.undo`)."""
        state = dict(vars(self))
        state.update(above=set(self.above), quarantined=set(self.quarantined),
                     newly_counted=list(self.newly_counted), _starts=list(self._starts),
                     _gaps=[replace(gap) for gap in self._gaps])
        return state

    def put_back(self, state: dict[str, Any]) -> None:
        """Return to a :meth:`snapshot` (in place: whoever holds this object sees it)."""
        vars(self).clear()
        vars(self).update(state)

    @property
    def gaps(self) -> list[Gap]:
        return list(self._gaps)

    @property
    def gap_count(self) -> int:
        """``len(gaps)`` without the copy (the core's stats, after every batch)."""
        return len(self._gaps)

    def is_stored(self, seq: int) -> bool:
        return seq <= self.upto or seq in self.above

    def add(self, seq: int, now: float) -> list[Gap]:
        """Record ``seq`` as stored (it must be new); return the gaps it completed."""
        filled = self._arrived(seq, now)
        if seq == self.upto + 1:
            self.upto = seq
            self._advance()
        else:
            self.above.add(seq)
        return filled

    def add_run(self, first: int, last: int, now: float) -> list[Gap]:
        """:meth:`add` of ``first``, ``first + 1``, ... ``last`` in turn, all new and above
        every number seen (``first > top``): past the first, each is the next number, so it
        opens no gap and fills none, and moves ``upto`` only if the first did."""
        filled = self.add(first, now)
        if last > first:
            if self.upto == first:
                self.upto = last
            else:
                self.above.update(range(first + 1, last + 1))
            self.top = last
        return filled

    def _arrived(self, seq: int, now: float) -> list[Gap]:
        """The gap bookkeeping of a new number, stored or quarantined alike: a hole below it
        opens a gap; inside a gap it is one fewer missing. Returns the gaps it completed."""
        filled: list[Gap] = []
        if seq > self.top + 1:
            self._insert_gap(Gap(self.top + 1, seq - 1, seq - 1 - self.top, now))
        elif seq <= self.top:
            gap = self._gap_of(seq)
            if gap is not None:
                gap.missing -= 1
                if gap.missing <= 0:
                    self._remove_gap(gap)
                    filled.append(gap)
        self.top = max(self.top, seq)
        return filled

    def _advance(self) -> None:
        """Move ``upto`` over what follows it: stored records and quarantined ones."""
        while True:
            if self.upto + 1 in self.above:
                self.above.remove(self.upto + 1)
            elif self.upto + 1 in self.quarantined:
                self.quarantined.remove(self.upto + 1)
                self.newly_counted.append(self.upto + 1)
            else:
                break
            self.upto += 1
        self.waiting_since = None

    def quarantine(self, seq: int, now: float) -> list[Gap]:
        """A refused record ``seq`` (new): it counts at once if it is the next number, else
        when the records before it are in. Returns the gaps it completed."""
        if seq == self.upto + 1:
            return self.add(seq, now)
        filled = self._arrived(seq, now)
        self.quarantined.add(seq)
        self.note_waiting(now)
        return filled

    def take_newly_counted(self) -> list[int]:
        """The quarantined records that came to count since the last call (the store is
        told once of each)."""
        taken, self.newly_counted = self.newly_counted, []
        return taken

    def note_waiting(self, now: float) -> None:
        """Records arrived that the acknowledgement cannot pass yet."""
        if self.waiting_since is None:
            self.waiting_since = now

    def declare_lost(self, oldest: int) -> tuple[int, list[Gap]]:
        """The agent holds nothing below ``oldest``: what the hub lacks there is lost.

        Returns how many records were lost (exactly) and the gaps that covered
        them (now closed: their records will never come). ``upto`` moves past.
        """
        below = oldest - 1
        if below <= self.upto:
            return 0, []
        span = below - self.upto
        held = sum(1 for s in self.above if s <= below)
        held += sum(1 for s in self.quarantined if s <= below and s not in self.above)
        lost = span - held
        closed = [g for g in self._gaps if g.first <= below]
        for gap in closed:
            self._remove_gap(gap)
            if gap.last > below:  # the part above ``oldest`` may still come
                self._insert_gap(Gap(below + 1, gap.last, self._missing(below + 1, gap.last),
                                     gap.seen_at, None))
        self.above = {s for s in self.above if s > below}
        self.newly_counted += sorted(s for s in self.quarantined if s <= below)
        self.quarantined = {s for s in self.quarantined if s > below}
        self.upto = below
        self.top = max(self.top, below)
        self._advance()
        return lost, closed

    def _missing(self, lo: int, hi: int) -> int:
        return hi - lo + 1 - sum(1 for s in self.above if lo <= s <= hi)

    def stalled(self, now: float, stall_s: float) -> bool:
        """Records keep coming but the acknowledgement has not moved for ``stall_s``."""
        return (self.waiting_since is not None and now - self.waiting_since >= stall_s
                and self.last_records_at is not None and now - self.last_records_at < stall_s)

    def overdue(self, now: float, timeout_s: float) -> list[Gap]:
        """Gaps without an event that have stayed open ``timeout_s`` or longer."""
        return [g for g in self._gaps if g.event_id is None and now - g.seen_at >= timeout_s]

    @classmethod
    def restore(
        cls, upto: int, above: set[int], open_gaps: list[Gap], now: float,
        quarantined: frozenset[int] | set[int] = frozenset(),
    ) -> tuple[JournalSeqs, list[Gap]]:
        """Rebuild from the store; return the journal and the open gaps already filled.

        ``open_gaps`` are the ranges of open ``data_gap`` events (with their
        ``event_id`` and opening time); holes not covered by one start a new
        gap seen ``now``.
        """
        seqs = cls(upto)
        seqs.quarantined = {s for s in quarantined if s > upto}
        seqs.above = {s for s in above if s > upto}
        held_above = seqs.above | seqs.quarantined  # a waiting refused record is no hole
        seqs.top = max(held_above, default=upto)
        filled: list[Gap] = []
        covered: list[tuple[int, int]] = []
        stored = sorted(held_above)
        for gap in open_gaps:
            lo, hi = max(gap.first, upto + 1), min(gap.last, seqs.top)
            held = bisect.bisect_right(stored, hi) - bisect.bisect_left(stored, lo)
            missing = max(0, hi - lo + 1 - held)
            if missing == 0:
                filled.append(gap)
                continue
            seqs._insert_gap(Gap(gap.first, gap.last, missing, gap.seen_at, gap.event_id))
            covered.append((gap.first, gap.last))
        for lo, hi in _holes(upto, held_above):
            for a, b in _subtract((lo, hi), covered):
                seqs._insert_gap(Gap(a, b, b - a + 1, now))
        return seqs, filled

    def _gap_of(self, seq: int) -> Gap | None:
        i = bisect.bisect_right(self._starts, seq) - 1
        if i >= 0 and self._gaps[i].first <= seq <= self._gaps[i].last:
            return self._gaps[i]
        return None

    def _insert_gap(self, gap: Gap) -> None:
        i = bisect.bisect_left(self._starts, gap.first)
        self._starts.insert(i, gap.first)
        self._gaps.insert(i, gap)

    def _remove_gap(self, gap: Gap) -> None:
        i = bisect.bisect_left(self._starts, gap.first)
        del self._starts[i]
        del self._gaps[i]


def _holes(upto: int, above: set[int]) -> list[tuple[int, int]]:
    """Maximal missing ranges between ``upto`` and the highest stored seq."""
    holes: list[tuple[int, int]] = []
    prev = upto
    for seq in sorted(above):
        if seq > prev + 1:
            holes.append((prev + 1, seq - 1))
        prev = seq
    return holes


def _subtract(span: tuple[int, int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``span`` minus the (disjoint) ``ranges``."""
    pieces = [span]
    for lo, hi in ranges:
        rest: list[tuple[int, int]] = []
        for a, b in pieces:
            if b < lo or hi < a:
                rest.append((a, b))
                continue
            if a < lo:
                rest.append((a, lo - 1))
            if hi < b:
                rest.append((hi + 1, b))
        pieces = rest
    return pieces
