"""A run: a readings message's rows made before the writer, ready for its INSERTs.

Most of what the hub stores is readings messages whose records are all valid, numbered
one after another and chained one to the next (an agent's steady stream). For such a
message the writer's own work per reading was mostly building objects only to take them
apart again: the contract's models unpickled, each record's row, its receipt row, its
chain link checked against the one before, its times against the plausible window, its
number in the journal's bookkeeping (issue 18 item 2: about 16 µs a reading beside
SQLite's 12). :func:`run_of` makes the rows and the checks within the message once,
anywhere (in the decode worker: two flat lists of values travel back far cheaper than the
contract's models, and than a list per row: issue 18 item 2's last step), with functions
that give exactly what the record-by-record path's give, each tested against them (a
run's rows at once by :func:`~hub.ingest.records.reading_rows`, its bytes and hashes by
:func:`~hub.chain.arrival.as_received_all`, links within checked as
:func:`~hub.chain.arrival.breaks` would, tests/test_ingest_speed_runs.py); what depends
on the store or on the receipt time (duplicates, the window, the links to the stored
neighbours, the clock's plausibility) stays with the writer (:mod:`hub.ingest.store_run`,
from :meth:`hub.ingest.intake.Intake.batch`). A message that is not such a run has no
run: it is stored record by record, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.chain.arrival import Arrived, as_received_all, breaks
from hub.db.chain_store import STAMPED_WIDTH, Link
from hub.db.schema import READING_FIELDS
from hub.db.store import READING_WIDTH
from hub.ingest.records import reading_rows
from wire.chain import GENESIS
from wire.contract import READINGS, ReadingItem

#: A message's records, as sent and each one's arrival: decoded again when a run made by
#: the worker cannot be stored at once (the records are not all new).
Redo = Callable[[], tuple[list[Any], list[Any], dict[int, Arrived] | None]]
#: Where a reading row (:func:`reading_row`) holds its start and end times, and its
#: ``clock_implausible``.
START, END = 4 + READING_FIELDS.index("start"), 4 + READING_FIELDS.index("end")
IMPLAUSIBLE = READING_WIDTH - 1


@dataclass(frozen=True, slots=True)
class Run:
    """Readings ``first..last`` of one message, each valid, chained to the one before."""

    first: int
    last: int
    #: ``received`` rows one after another: (device, journal, seq, kind, hash, prev, body,
    #: None), the writer's stamp put in place of the None
    #: (``chain_store.insert_received_stamped``).
    received: list[Any]
    #: ``readings`` rows one after another (``READING_WIDTH`` values each) as
    #: :func:`reading_row` makes them, ``clock_implausible`` 0.
    readings: list[Any]
    #: The earliest and latest whole second (``YYYY-MM-DDTHH:MM:SS``) the records state.
    low: str
    high: str
    #: The chain links of the first and the last record (the ends that meet stored ones).
    head: Link
    tail: Link

    def __reduce__(self) -> tuple[type[Run], tuple[Any, ...]]:
        """Pickled as its fields (as :class:`~hub.db.chain_store.Link`, and for that reason)."""
        return Run, (self.first, self.last, self.received, self.readings, self.low, self.high,
                     self.head, self.tail)


@dataclass(frozen=True, slots=True)
class Head:
    """What the writer reads of a run's envelope: the envelope itself holds every record
    (validated models), and sent back whole it cost the writer as much as the records."""

    device: str
    site: str
    room: str
    journal: str
    kind: str
    oldest: int | None

    def __reduce__(self) -> tuple[type[Head], tuple[Any, ...]]:
        """Pickled as its fields (as :class:`~hub.db.chain_store.Link`, and for that reason)."""
        return Head, (self.device, self.site, self.room, self.journal, self.kind, self.oldest)


def head_of(envelope: Any) -> Head:
    return Head(envelope.device, envelope.site, envelope.room, envelope.journal,
                envelope.kind, envelope.oldest)


def run_of(envelope: Any, records: Sequence[Any], raws: Sequence[Any]) -> Run | None:
    """The run of a validated record batch (its ``Envelope``, records and records as sent),
    or None when it is not one: another kind, a refused record, numbers not consecutive,
    or a link within that breaks (that batch's findings are made record by record, in
    order). Each record's hash, prev and body are :class:`~hub.chain.arrival.Arrived`'s."""
    if envelope.kind != READINGS or not records or len(records) != len(raws):
        return None
    first = records[0].seq
    device, site, room, journal = envelope.device, envelope.site, envelope.room, envelope.journal
    for seq, record in enumerate(records, first):
        if record.__class__ is not ReadingItem or record.seq != seq:
            return None
    received: list[Any] = []
    head: Link | None = None
    digest = prev = None  # the record before's hash and prev
    seq = first
    for arrived in as_received_all(raws):
        before = digest, prev
        digest, prev, body = arrived
        if head is None:
            head = Link(digest, prev)
        # What breaks() lets through at once, without making links: a prev that is the
        # hash before (not GENESIS: a chained run), or none after none (an older agent's).
        elif (not ((prev is None and before[1] is None)
                   or (prev is not None and prev == before[0] and prev != GENESIS))
              and breaks(seq, Link(digest, prev), Link(*before)) is not None):
            return None
        received += (device, journal, seq, READINGS, digest, prev, body, None)
        seq += 1
    assert head is not None  # records is not empty
    rows = reading_rows(device, site, room, journal, records)
    assert len(received) == STAMPED_WIDTH * (seq - first)
    times = [t[:19] for t in rows[START::READING_WIDTH]] + [
        t[:19] for t in rows[END::READING_WIDTH]]
    return Run(first, seq - 1, received, rows, min(times), max(times), head, Link(digest, prev))
