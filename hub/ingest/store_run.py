"""A run of new readings stored at once: the writer's side of :mod:`hub.ingest.runs`.

:meth:`hub.ingest.intake.Intake.batch` stores record by record; for a run whose records
are all new and above every number the journal has seen, each record would take the same
branch of that loop (stored, not a duplicate, not quarantined, filling no gap past the
first), so the run is stored in one go with the same outcome: the same rows in the same
statements, the same bookkeeping (:meth:`~hub.ingest.sequences.JournalSeqs.add_run`),
the same chain findings (:func:`~hub.chain.arrival.check_run`), the same counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.chain.arrival import check_run
from hub.db import chain_store
from hub.db.store import READING_WIDTH
from hub.ingest.registry import DeviceState
from hub.ingest.runs import END, IMPLAUSIBLE, START, Run
from hub.ingest.sequences import JournalSeqs
from wire.contract import READINGS
from wire.records import instant_key

if TYPE_CHECKING:
    from hub.ingest.core import IngestCore

Ident = tuple[str, str, str, str]  # device, site, room, journal


def store_run(core: IngestCore, dev: DeviceState, ident: Ident, seqs: JournalSeqs, run: Run,
              window: tuple[str, str], now: float, at: str) -> None:
    """Store ``run`` (``seqs.top < run.first``, within the acknowledgement's window)."""
    seqs.last_records_at = now
    values = run.readings
    if not window[0][:19] < run.low or not run.high < window[1][:19]:
        values = list(values)  # the run stays as it came
        for row in range(0, len(values), READING_WIDTH):
            if implausible_times([values[row + START], values[row + END]], window):
                values[row + IMPLAUSIBLE] = 1
        core.counters["records_implausible"] += sum(values[IMPLAUSIBLE::READING_WIDTH])
    before = seqs.upto
    for gap in seqs.add_run(run.first, run.last, now):
        core.watch.gap_filled(dev, ident[3], gap, at)
    chain_store.insert_received_stamped(core.store.conn, run.received, at)
    core.store.insert_readings_values(values)
    core.counters["chain_breaks"] += check_run(core.store, ident, run.first, run.head,
                                               run.last, run.tail, at)
    for seq in seqs.take_newly_counted():
        core.store.count_quarantined(ident[0], ident[3], seq)
    if seqs.upto == before and run.last > seqs.upto:
        seqs.note_waiting(now)  # records above a hole: the acknowledgement waits
    core.dirty_journals.add((ident[0], ident[3]))
    stored = run.last - run.first + 1
    core.counters["records_stored"] += stored
    core.counters[f"{READINGS}_stored"] += stored


def implausible_times(times: list[str], window: tuple[str, str]) -> bool:
    """Whether any of a record's ``times`` lies outside the plausible ``window``."""
    low, high = window[0][:19], window[1][:19]
    for t in times:
        # Validated times are fixed-width: a whole second strictly inside the window's is
        # inside it, whatever the fractions (the common case, without building keys).
        if not low < t[:19] < high and not window[0] <= instant_key(t) <= window[1]:
            return True
    return False
