"""Change records of one input that follow each other, shown as one train.

The agent journals a pulse train as its first edge, then one record per second
at most (``edge_agent.changes``): right for the evidence (a killed agent loses at
most a second of it), but a 20-second fluoroscopy would read as 21 lines. Here,
for the page and the annex only, records of one input and one journal, each
starting within :data:`TRAIN_GAP_S` of the last edge of the one before, are
merged into one entry: its first and last edge, the changes it holds, the value
after the last, and the records (sequence numbers) it comes from. The records
stay as they are in the store, the CSV and the export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

from hub import timefmt

#: The agent's ``edge_agent.changes.TRAIN_GAP_S``: changes of one input closer than this
#: are one run (the hub does not import the agent).
TRAIN_GAP_S: Final = 1.0


def merge_trains(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` (change records as dicts, oldest ``first`` first) with each train merged.

    Each entry needs ``signal``, ``value``, ``first``, ``last``, ``count``, ``origin``,
    ``journal`` and ``seq``; a merged one gets ``records`` (how many) and ``last_seq``.
    Only ``edge`` records with readable times and integer counts are merged: anything odd
    in the store stays a line of its own."""
    out: list[dict[str, Any]] = []
    open_trains: dict[tuple[Any, Any], dict[str, Any]] = {}
    gap = timedelta(seconds=TRAIN_GAP_S)
    for entry in entries:
        item = {**entry, "records": 1, "last_seq": entry.get("seq")}
        key = (entry.get("journal"), entry.get("signal"))
        train = open_trains.get(key)
        first = timefmt.instant(entry.get("first"))
        if _mergeable(entry) and first is not None and train is not None:
            last = timefmt.instant(train["last"])
            if last is not None and last <= first <= last + gap:
                train.update(last=entry["last"], value=entry["value"], last_seq=entry["seq"],
                             count=train["count"] + entry["count"],
                             records=train["records"] + 1)
                if entry.get("clock_synced") is False:
                    train["clock_synced"] = False
                if entry.get("clock_implausible"):
                    train["clock_implausible"] = True
                continue
        out.append(item)
        if _mergeable(entry) and first is not None:
            open_trains[key] = item
        else:
            open_trains.pop(key, None)
    return out


def _mergeable(entry: Mapping[str, Any]) -> bool:
    count = entry.get("count")
    return (entry.get("origin") == "edge" and isinstance(count, int)
            and not isinstance(count, bool) and isinstance(entry.get("seq"), int))
