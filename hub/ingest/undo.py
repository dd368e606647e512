"""What one message may change in the core's memory, kept to be put back if it fails.

Each message is stored under its own savepoint: a failure (a full disk, a bug) rolls its
rows back, and the core must forget what it noted of them too. Its journal's sequence
bookkeeping moves before the INSERTs (a record's number decides where it goes): left
advanced, the batch's flush wrote an ``upto`` past what the store held, the rebuild read
it back and the hub acknowledged records it never stored, which the box then deleted.
So before the savepoint the core keeps the journal's bookkeeping, whether it was due to
be flushed, the device's journal and the counters, and puts them back on failure; the
batch's end then rebuilds the rest from the store (:meth:`IngestCore._restore`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.ingest.core import IngestCore


@dataclass(frozen=True, slots=True)
class Kept:
    """The core's memory of one journal as it was before a message."""

    device: str
    key: tuple[str, str] | None
    seqs: dict[str, Any] | None  # JournalSeqs.snapshot(), None: the journal was unknown
    dirty: bool
    device_known: bool
    device_journal: str | None
    counters: Counter[str]


def keep(core: IngestCore, device: str, journal: str | None) -> Kept:
    """What a message of ``device`` about ``journal`` (None: no records) may change."""
    key = None if journal is None else (device, journal)
    seqs = None if key is None else core.seqs.get(key)
    dev = core.registry.devices.get(device)
    return Kept(device, key, None if seqs is None else seqs.snapshot(),
                key in core.dirty_journals, dev is not None,
                None if dev is None else dev.journal, core.counters.copy())


def put_back(core: IngestCore, kept: Kept) -> None:
    """The message failed: its journal, device journal and counters as they were."""
    if kept.key is not None:
        seqs = core.seqs.get(kept.key)
        if kept.seqs is None:
            core.seqs.pop(kept.key, None)
        elif seqs is not None:
            seqs.put_back(kept.seqs)
        if not kept.dirty:
            core.dirty_journals.discard(kept.key)
    dev = core.registry.devices.get(kept.device)
    if dev is not None and kept.device_known:  # a journal_new event is raised again
        dev.journal = kept.device_journal
    core.counters.clear()
    core.counters.update(kept.counters)
