"""A device's chain badge: intact, gap or broken, per journal and overall, and where.

Pure reads of what the ingest wrote as records arrived (``chain_breaks``,
``record_conflicts``, the ``data_gap`` events, ``journals.upto``, ``received``):
the badge says what the hub found, it does not verify again (``voyant-hub
verify`` does). The worst journal gives the device's state: broken before gap
before intact.
"""

from __future__ import annotations

import sqlite3
from typing import Final, Literal

from pydantic import BaseModel, Field

from hub.chain.export import declared_lost
from hub.chain.heads import journal_head

State = Literal["intact", "gap", "broken"]
_RANK: Final[dict[str, int]] = {"intact": 0, "gap": 1, "broken": 2}
#: Journals listed at most (a device gets a new journal per reinstall, not per day).
JOURNALS_SHOWN: Final = 50


class Place(BaseModel):
    """Where a journal's chain is broken or has a gap."""

    seq: int = Field(description="first sequence number concerned")
    last: int | None = Field(None, description="last one of a gap")
    reason: str = Field(description="what: a break's reason, 'conflict', 'lost' or 'missing'")


class JournalChain(BaseModel):
    journal: str
    state: State
    place: Place | None = Field(description="the first break (broken) or gap (gap)")
    breaks: int = Field(description="breaks and conflicts found")
    before_chain: int = Field(description="sequence numbers 1..N before the chain (its agent"
                              " journaled them before the upgrade)")
    head_seq: int | None = Field(description="highest chained sequence number stored")
    head_hash: str | None = Field(description="its SHA-256")


class ChainStatus(BaseModel):
    device: str
    state: State
    journal: str | None = Field(description="the journal the state comes from (the worst)")
    place: Place | None
    before_chain: int
    journals: list[JournalChain]


def _problems(conn: sqlite3.Connection, device: str) -> dict[str, tuple[Place, int]]:
    """The first break or conflict of each journal, and how many there are."""
    found: dict[str, tuple[Place, int]] = {}
    for sql in ("SELECT journal, min(seq), reason, count(*) FROM chain_breaks"
                " WHERE device = ? GROUP BY journal",
                "SELECT journal, min(seq), 'conflict', count(*) FROM record_conflicts"
                " WHERE device = ? GROUP BY journal"):
        for journal, seq, reason, n in conn.execute(sql, [device]):
            if not isinstance(seq, int):
                continue
            known = found.get(str(journal))
            if known is None or seq < known[0].seq:
                found[str(journal)] = (Place(seq=seq, reason=str(reason)),
                                       int(n) + (known[1] if known else 0))
            else:
                found[str(journal)] = (known[0], known[1] + int(n))
    return found


def _lost(conn: sqlite3.Connection, device: str) -> dict[str, Place]:
    """The first range declared lost of each journal (``data_gap`` events, ``lost`` true)."""
    out: dict[str, Place] = {}
    for journal, first, last in declared_lost(conn, device):
        if journal not in out or first < out[journal].seq:
            out[journal] = Place(seq=first, last=last, reason="lost")
    return out


def device_status(conn: sqlite3.Connection, device: str) -> ChainStatus:
    """The badge of ``device``: each journal it has sent, then the worst of them."""
    problems, lost = _problems(conn, device), _lost(conn, device)
    journals: list[JournalChain] = []
    rows = conn.execute(
        "SELECT j.journal, j.upto, (SELECT max(seq) FROM received r WHERE r.device = j.device"
        " AND r.journal = j.journal) FROM journals j WHERE j.device = ?"
        " ORDER BY j.started_at DESC, j.journal LIMIT ?", [device, JOURNALS_SHOWN]).fetchall()
    listed = {str(r[0]) for r in rows}
    rows += [(j, None, None) for j in sorted({*problems, *lost} - listed)]  # not in journals
    for raw, upto, highest in rows:
        journal = str(raw)
        head = journal_head(conn, device, journal)
        start = conn.execute(
            "SELECT min(seq) FROM received INDEXED BY idx_received_chained"
            " WHERE device = ? AND journal = ? AND prev IS NOT NULL",
            [device, journal]).fetchone()[0]
        # The sequence numbers before the chain (1 .. start - 1; all of them when the
        # journal's agent never chained): a range, not a count, so no scan of old journals.
        before = (int(start) - 1 if isinstance(start, int)
                  else int(highest) if isinstance(highest, int) else 0)
        state: State = "intact"
        place: Place | None = None
        breaks = 0
        if journal in problems:
            state, (place, breaks) = "broken", problems[journal]
        elif journal in lost:
            state, place = "gap", lost[journal]
        elif isinstance(highest, int) and isinstance(upto, int) and highest > upto:
            state, place = "gap", Place(seq=upto + 1, last=None, reason="missing")
        journals.append(JournalChain(
            journal=journal, state=state, place=place, breaks=breaks, before_chain=before,
            head_seq=head[0] if head else None, head_hash=head[1] if head else None))
    worst = max(journals, key=lambda j: _RANK[j.state], default=None)
    return ChainStatus(device=device, state=worst.state if worst else "intact",
                       journal=worst.journal if worst and worst.state != "intact" else None,
                       place=worst.place if worst else None,
                       before_chain=sum(j.before_chain for j in journals), journals=journals)
