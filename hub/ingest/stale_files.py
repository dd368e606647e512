"""A store file replaced under the running hub: what SQLite left beside the old one.

The ingest opens the file at its path again when the one it had is gone or replaced
(:meth:`hub.ingest.service.Ingest._reopen`); SQLite finds a store's ``-wal`` and ``-shm``
by name, so those of the file that is gone must not be taken for the new one's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hub.logs import log


def set_aside_stale_wal(path: str) -> list[Path]:
    """A ``-wal``/``-shm`` left at the path of a store file that is gone belongs to that
    file: renamed aside (kept for inspection), never read as the new store's."""
    if path == ":memory:" or Path(path).exists():
        return []
    moved = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("-wal", "-shm"):
        stale = Path(path + suffix)
        if stale.exists():
            target = stale.with_name(f"{stale.name}.stale-{stamp}")
            stale.rename(target)
            moved.append(target)
            log("store_stale_file_set_aside", logging.WARNING, file=str(stale),
                moved_to=str(target))
    return moved
