"""An event's incident timeline: what the room's device stored around it, for the annex.

Read only: the exposures, alarms, input changes, the device's other events
(``device_offline``, ``data_gap``) and the dose-rate readings in a window
around the event's detection, each section bounded by :data:`TIMELINE_ROWS`.
Input changes are the journaled change records (``changes``: every debounced
change, a run of them as one entry with its count and edge times); an older
agent's live states (``signal_changes``, throttled, not journaled) only before
the device's first journaled change, marked so.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hub import timefmt
from hub.events.trains import merge_trains
from hub.events.workflow import EventError, detected_at, rows

#: Rows of each timeline section at most (a printable annex, not an export).
TIMELINE_ROWS: Final = 5000
#: How far before the window a change record overlapping it can start: a record spans one
#: second at most (the agent's ``TRAIN_SPAN_S``; a start record has ``first`` = ``last``),
#: so a minute bounds the index range of ``idx_changes_device_first`` with room to spare.
SPAN_MARGIN_MIN: Final = 1


def _shifted(moment: datetime, minutes: int) -> datetime:
    """``moment`` moved by ``minutes``, held within years 1-9999 (a window never wraps)."""
    try:
        return moment + timedelta(minutes=minutes)
    except OverflowError:
        return (datetime.max if minutes > 0 else datetime.min).replace(tzinfo=UTC)


def _order(entry: Mapping[str, Any]) -> tuple[bool, datetime, str, str]:
    """Entries in time order; a time that names no instant last, as written."""
    moment = timefmt.instant(entry["at"])
    return (moment is None, moment or datetime.min.replace(tzinfo=UTC), str(entry["at"]),
            str(entry["type"]))


def timeline(conn: sqlite3.Connection, event: Mapping[str, Any], before_min: int,
             after_min: int, now: datetime | None = None) -> dict[str, Any]:
    """What the room's device stored around the event, oldest first.

    The window runs from ``before_min`` before detection to ``after_min``
    after the condition ended (or after detection while it still holds), cut
    at ``now`` (the time of printing: an annex never claims to cover what has
    not happened yet; ``end_clamped`` says so). ``entries`` merges exposures,
    alarms, input changes and the device's other events; ``readings`` is the
    dose-rate series.
    """
    try:
        detected = detected_at(event)
    except EventError:  # no time to put anything around: the event alone, as stored
        return {"start": str(event["opened_at"]), "end": str(event["opened_at"]),
                "before_min": before_min, "after_min": after_min, "entries": [],
                "readings": [], "truncated": False, "end_clamped": False}
    start = _shifted(detected, -before_min)
    cleared = timefmt.instant(event.get("condition_cleared_at"))
    end = _shifted(cleared if cleared is not None and cleared >= detected else detected,
                   after_min)
    clamped = now is not None and end > now
    if now is not None:
        end = min(end, now)
        start = min(start, end)
    lo, hi, device = timefmt.stamp(start), timefmt.stamp(end), event["device"]
    entries: list[dict[str, Any]] = []
    for row in rows(conn,
                     "SELECT * FROM exposures WHERE device = ? AND start <= ?"
                     " AND (\"end\" IS NULL OR \"end\" >= ?) ORDER BY start LIMIT ?",
                     [device, hi, lo, TIMELINE_ROWS]):
        entries.append({
            "at": row["start"], "type": "exposure", "end": row["end"],
            "duration_s": row["duration_s"], "requested": _bool(row["requested"]),
            "doors_open": json.loads(row["doors_open"] or "[]"),
            "emission_light_ok": _bool(row["emission_light_ok"]),
            "max_dose_rate_usv_h": row["max_dose_rate_usv_h"], "dose_usv": row["dose_usv"],
            "alarms": json.loads(row["alarms"] or "[]"), "interrupted": bool(row["interrupted"]),
            "procedure": row["procedure"], "state": row["state"],
            "clock_synced": _bool(row["clock_synced"]),
        })
    for row in rows(conn,
                     "SELECT * FROM alarms WHERE device = ? AND at <= ?"
                     " AND (cleared IS NULL OR cleared >= ?) ORDER BY at LIMIT ?",
                     [device, hi, lo, TIMELINE_ROWS]):
        entries.append({"at": row["at"], "type": "alarm", "kind": row["kind"],
                        "subject": row["subject"], "state": row["state"],
                        "cleared": row["cleared"], "exposure": row["exposure"],
                        "interrupted": bool(row["interrupted"]),
                        "clock_synced": _bool(row["clock_synced"])})
    entries += _changes(conn, device, lo, hi, timefmt.stamp(_shifted(start, -SPAN_MARGIN_MIN)))
    for row in rows(conn,
                     "SELECT id, kind, opened_at, condition_cleared_at FROM events"
                     " WHERE device = ? AND id != ? AND opened_at >= ? AND opened_at <= ?"
                     " AND kind IN ('device_offline', 'data_gap') ORDER BY opened_at LIMIT ?",
                     [device, event["id"], lo, hi, TIMELINE_ROWS]):
        entries.append({"at": row["opened_at"], "type": "event", "event_id": row["id"],
                        "kind": row["kind"], "cleared": row["condition_cleared_at"]})
    entries.sort(key=_order)
    readings = rows(conn,
                     "SELECT start, \"end\", mean_usv_h, mean_sigma_usv_h, max_usv_h, saturated,"
                     " calibration, counts, clock_synced FROM readings WHERE device = ?"
                     " AND start >= ?"
                     " AND start <= ? ORDER BY start LIMIT ?",
                     [device, lo, hi, TIMELINE_ROWS])
    for reading in readings:
        reading["saturated"] = _bool(reading["saturated"])
        reading["clock_synced"] = _bool(reading["clock_synced"])
    return {"start": lo, "end": hi, "before_min": before_min, "after_min": after_min,
            "entries": entries, "readings": readings, "end_clamped": clamped,
            "truncated": len(readings) >= TIMELINE_ROWS or len(entries) >= TIMELINE_ROWS}


def _changes(conn: sqlite3.Connection, device: str, lo: str, hi: str,
             since: str) -> list[dict[str, Any]]:
    """The input changes of the window: each journaled record (a run with its edge times,
    ``first`` to ``last``, overlapping the window; ``first`` from ``since``, just before
    ``lo``, so the index bounds the read, not the device's whole history), a train's
    records merged into one entry (:mod:`hub.events.trains`), then the live
    states of an older agent (``signal_changes``) dated before the device's first journaled
    change, so that no change is shown twice."""
    journaled: list[dict[str, Any]] = []
    for row in rows(conn,
                     "SELECT journal, seq, signal, value, first, last, count, origin, by,"
                     " clock_synced, clock_implausible FROM changes WHERE device = ?"
                     " AND first >= ? AND first <= ? AND last >= ? ORDER BY first, seq LIMIT ?",
                     [device, since, hi, lo, TIMELINE_ROWS]):
        journaled.append({"at": row["first"], "type": "change", "journaled": True,
                    "signal": row["signal"], "value": _bool(row["value"]),
                    "first": row["first"], "last": row["last"], "count": row["count"],
                    "origin": row["origin"], "by": row["by"], "journal": row["journal"],
                    "seq": row["seq"], "clock_synced": _bool(row["clock_synced"]),
                    "clock_implausible": bool(row["clock_implausible"])})
    out = merge_trains(journaled)  # a pulse train's records: one entry
    journaled_from = conn.execute("SELECT min(first) FROM changes WHERE device = ?",
                                  [device]).fetchone()[0]
    until = hi if journaled_from is None else min(hi, str(journaled_from))
    for row in rows(conn,
                     "SELECT at, signal, value FROM signal_changes WHERE device = ?"
                     " AND at >= ? AND at <= ? AND (? OR at < ?) ORDER BY at, signal LIMIT ?",
                     [device, lo, hi, journaled_from is None, until, TIMELINE_ROWS]):
        out.append({"at": row["at"], "type": "signal", "journaled": False,
                    "signal": row["signal"], "value": bool(row["value"])})
    return out


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def identification(conn: sqlite3.Connection, event: Mapping[str, Any]) -> dict[str, Any]:
    """What the hub knows of the room's equipment, for the annex's heading: the monitoring
    device (its agent version, the journal the event came from and when that journal
    began), the room's generator as the verification calendar holds it (fixed or mobile,
    received, first used) and the probe's measurement point. Missing facts stay ``None``."""
    device = event["device"]
    found = rows(conn, "SELECT agent, journal, last_seen FROM devices WHERE device = ?",
                 [device])
    detail = event.get("detail")
    journal = detail.get("journal") if isinstance(detail, Mapping) else None
    journal = journal if isinstance(journal, str) else (found[0]["journal"] if found else None)
    started = rows(conn, "SELECT started_at FROM journals WHERE device = ? AND journal = ?",
                   [device, journal])
    room = rows(conn, "SELECT device_kind, received_on, first_use_on FROM control_rooms"
                      " WHERE site = ? AND room = ?", [event["site"], event["room"]])
    point = rows(conn, "SELECT name FROM points WHERE device = ? AND kind = 'probe'", [device])
    return {"device": device, "site": event["site"], "room": event["room"],
            "agent": found[0]["agent"] if found else None, "journal": journal,
            "journal_started_at": started[0]["started_at"] if started else None,
            "device_kind": room[0]["device_kind"] if room else None,
            "received_on": room[0]["received_on"] if room else None,
            "first_use_on": room[0]["first_use_on"] if room else None,
            "probe_point": point[0]["name"] if point else None}


def alarm_exposure(conn: sqlite3.Connection, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The exposure an edge alarm names (its detail's journal, run and exposure number),
    with its dose and peak dose rate; ``None`` when the alarm names none or it is not
    stored (yet)."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    journal, run, number = detail.get("journal"), detail.get("run"), detail.get("exposure")
    if not (isinstance(journal, str) and _integer(run) and _integer(number)):
        return None
    found = rows(conn, "SELECT number, state, start, \"end\", duration_s, pulses,"
                       " max_dose_rate_usv_h, dose_usv, saturated, calibration FROM exposures"
                       " WHERE device = ? AND journal = ? AND run = ? AND number = ?",
                 [event["device"], journal, run, number])
    if not found:
        return None
    found[0]["saturated"] = _bool(found[0]["saturated"])
    return found[0]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
