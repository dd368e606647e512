"""Rows of the record tables, built from validated batch items.

Pure functions: the store writes what these return. JSON lists (doors,
alarm kinds) are stored as compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, get_args

from hub.db.schema import READING_FIELDS
from wire.contract import AlarmItem, ChangeItem, ExposureItem, ReadingItem

_EXPOSURE_STATE = {"opened": "open", "closed": "closed", "interrupted": "closed"}
_ALARM_STATE = {"raised": "active", "cleared": "cleared", "interrupted": "cleared"}


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


#: The reading's fields in column order, read in one C call (the ingest's hot path).
_READING_VALUES = attrgetter(*READING_FIELDS)


def _may_be_bool(annotation: Any) -> bool:
    return annotation is bool or bool in get_args(annotation)


#: Where a reading row holds a field the contract types as a boolean: the only places a
#: bool can be (its models are strict: ``true`` is refused for a number or a text).
_BOOL_AT = tuple(4 + i for i, name in enumerate(READING_FIELDS)
                 if _may_be_bool(ReadingItem.model_fields[name].annotation))


def reading_row(device: str, site: str, room: str, journal: str, item: ReadingItem,
                implausible: bool = False) -> list[Any]:
    """Values in ``readings`` column order (identity first, then ReadingItem fields, then the
    hub's ``clock_implausible``); booleans stored as 0/1."""
    row = [device, site, room, journal, *_READING_VALUES(item), int(implausible)]
    for at in _BOOL_AT:
        if row[at].__class__ is bool:
            row[at] = int(row[at])
    return row


def reading_rows(device: str, site: str, room: str, journal: str,
                 items: Sequence[ReadingItem]) -> list[Any]:
    """:func:`reading_row` of each item (none implausible), one row after another in one
    list (a run's, :mod:`hub.ingest.runs`): each column's booleans made 0/1 at once, not
    row by row (a third of the row's cost, in the decode worker)."""
    ident = (device, site, room, journal)
    out: list[Any] = []
    for item in items:
        out += ident
        out += _READING_VALUES(item)
        out.append(0)
    width = len(ident) + len(READING_FIELDS) + 1
    for at in _BOOL_AT:
        out[at::width] = [int(v) if v.__class__ is bool else v for v in out[at::width]]
    return out


def exposure_row(
    device: str, site: str, room: str, journal: str, item: ExposureItem, at: str,
    implausible: bool = False,
) -> dict[str, Any]:
    """``state`` is open/closed; ``interrupted`` is 1 for an exposure closed at a restart."""
    return {
        "device": device, "site": site, "room": room, "journal": journal, "run": item.run,
        "number": item.number, "last_seq": item.seq, "event": item.event,
        "state": _EXPOSURE_STATE[item.event], "start": item.start, "end": item.end,
        "duration_s": item.duration_s, "requested": int(item.requested),
        "resumed": int(item.resumed), "interrupted": int(item.event == "interrupted"),
        "procedure": item.procedure, "pulses": item.pulses,
        "doors_open": json.dumps(item.doors_open),
        "emission_light_ok": _flag(item.emission_light_ok),
        "max_dose_rate_usv_h": item.max_dose_rate_usv_h,
        "dose_usv": item.dose_usv, "saturated": _flag(item.saturated),
        "alarms": json.dumps(item.alarms), "calibration": item.calibration,
        "clock_synced": _flag(item.clock_synced), "first_seen": at, "updated": at,
        "clock_implausible": int(implausible),
    }


def alarm_row(
    device: str, site: str, room: str, journal: str, item: AlarmItem, at: str,
    implausible: bool = False,
) -> dict[str, Any]:
    """``state`` is active/cleared; ``interrupted`` is 1 for an alarm closed at a restart."""
    return {
        "device": device, "site": site, "room": room, "journal": journal, "run": item.run,
        "number": item.number, "last_seq": item.seq, "event": item.event,
        "state": _ALARM_STATE[item.event], "kind": item.kind, "subject": item.subject,
        "at": item.at, "since": item.since, "cleared": item.cleared, "detail": item.detail,
        "exposure": item.exposure, "interrupted": int(item.event == "interrupted"),
        "clock_synced": _flag(item.clock_synced), "first_seen": at, "updated": at,
        "clock_implausible": int(implausible),
    }


def change_row(
    device: str, site: str, room: str, journal: str, item: ChangeItem, at: str,
    implausible: bool = False,
) -> dict[str, Any]:
    """``changes`` columns: the record's fields (``value`` 0/1) and when it was stored."""
    return {
        "device": device, "site": site, "room": room, "journal": journal, "seq": item.seq,
        "run": item.run, "signal": item.signal, "value": int(item.value), "first": item.first,
        "last": item.last, "count": item.count, "origin": item.origin, "by": item.by,
        "clock_synced": _flag(item.clock_synced), "clock_implausible": int(implausible),
        "stored_at": at,
    }


def record_times(record: ReadingItem | ExposureItem | AlarmItem | ChangeItem) -> list[str]:
    """Every time a record states (to check it against its receipt)."""
    if isinstance(record, ReadingItem):
        return [record.start, record.end]
    if isinstance(record, ChangeItem):
        return [record.first, record.last]
    if isinstance(record, ExposureItem):
        return [t for t in (record.start, record.end) if t is not None]
    return [t for t in (record.at, record.since, record.cleared) if t is not None]
