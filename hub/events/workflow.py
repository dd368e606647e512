"""Events: what the PCR reviews. Edge alarms and hub events, their workflow, ESR, timelines.

Two parties write an event, each its own columns:

- the **ingest** opens it (an edge alarm's first record, a ``data_gap``, a
  ``device_offline``) and sets ``condition_cleared_at`` when the condition
  ends (alarm cleared, gap filled, device back); it never touches ``state``;
- the **PCR** moves ``state`` from ``open`` to ``acknowledged`` (comment
  required) to ``closed`` (comment required), may qualify it as an ESR
  (which sets ``declaration_due``, see :mod:`hub.workdays`) and records the
  declaration (date and the regulator's reference). Each action is one
  ``event_notes`` row.

The action functions here check and write; the caller holds the write
transaction (``BEGIN IMMEDIATE``) and adds its audit record in it, so an
action is all or nothing. A refused action raises :class:`EventError` naming
the field before anything is written.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from hub import timefmt, workdays
from wire.contract import AlarmItem

State = Literal["open", "acknowledged", "closed"]
STATES: Final[tuple[State, ...]] = ("open", "acknowledged", "closed")
SEVERITIES: Final = ("critical", "warning", "info")
HUB_KINDS: Final = ("device_offline", "data_gap", "record_quarantined", "ack_stalled",
                    "journal_new")

#: Severity of each kind; an unknown (newer) alarm kind is a warning.
SEVERITY: Final[dict[str, str]] = {
    "unsolicited_emission": "critical",
    "emission_after_release": "critical",
    "door_open_during_emission": "critical",
    "emission_while_unpowered": "critical",
    "radiation_without_emission": "critical",
    "dose_rate_high": "critical",
    "emission_light_fault": "warning",
    "emission_light_stuck": "warning",
    "powered_light_fault": "warning",
    "long_exposure": "warning",
    "fluoroscopy_time_exceeded": "warning",
    "request_stuck": "warning",
    "probe_fault": "warning",
    "journal_fault": "warning",  # the agent's journal cannot write: a system fault
    "device_offline": "warning",
    "data_gap": "warning",
    "record_quarantined": "warning",
    "ack_stalled": "warning",
    "journal_new": "info",
}

COMMENT_MAX: Final = 2000
REFERENCE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:-]{0,63}$")
#: Rows of each timeline section at most (a printable annex, not an export).
TIMELINE_ROWS: Final = 5000


def severity(kind: str) -> str:
    return SEVERITY.get(kind, "warning")


def alarm_ref(journal: str, run: int, number: int) -> str:
    """The name of an edge alarm for ever: ``journal:run:number``."""
    return f"{journal}:{run}:{number}"


def alarm_detail(journal: str, alarm: AlarmItem, stored_at: str) -> dict[str, Any]:
    return {"journal": journal, "run": alarm.run, "number": alarm.number,
            "subject": alarm.subject, "at": alarm.at, "since": alarm.since,
            "exposure": alarm.exposure, "detail": alarm.detail, "stored_at": stored_at}


class EventError(ValueError):
    """A refused action or value; ``field`` names what to fix; ``message`` is the English
    source string (translated by the page, then ``.format(**params)``)."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(f"{field}: {message.format(**params)}")
        self.field, self.message, self.params = field, message, params


class EventNotFound(LookupError):
    pass


# -- reading -----------------------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def detected_at(event: Mapping[str, Any]) -> datetime:
    """When the event was detected: an edge alarm's ``at``, a hub event's opening.

    A time that names no instant (stored by a hub older than the contract's checks)
    gives way to when the hub stored the alarm, then to the row's last change: the
    event keeps a place in time, as its device's clock did not give it one.
    """
    for text in (event.get("opened_at"), _stored_at(event), event.get("updated_at")):
        moment = timefmt.instant(text)
        if moment is not None:
            return moment
    raise EventError("opened_at", "The event's time {time} is not a real date and time.",
                     time=str(event.get("opened_at")))


#: How far from the present a detection time is believed for a deadline: a device clock
#: stamping year 1 or 9999 (an older hub stored it as sent) must not set an ESR deadline.
DEADLINE_PAST: Final = timedelta(days=3660)
DEADLINE_FUTURE: Final = timedelta(days=1)


def deadline_basis(event: Mapping[str, Any], now: datetime) -> datetime:
    """The moment an ESR deadline runs from: the detection, unless its clock is implausible
    (the ingest dates such an event by its receipt; older hubs did not): then when the hub
    stored it, else now."""
    moment = detected_at(event)
    if now - DEADLINE_PAST <= moment <= now + DEADLINE_FUTURE:
        return moment
    stored = timefmt.instant(_stored_at(event))
    if stored is not None and now - DEADLINE_PAST <= stored <= now + DEADLINE_FUTURE:
        return stored
    return now


def _stored_at(event: Mapping[str, Any]) -> Any:
    """When the hub stored an edge alarm (its detail's ``stored_at``), if the detail says."""
    detail = event.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = None
    return detail.get("stored_at") if isinstance(detail, dict) else None


def due_status(event: Mapping[str, Any], today: date, soon_days: int = 1) -> str | None:
    """An undeclared ESR: ``overdue``, ``soon`` (due within ``soon_days``) or ``pending``.

    A due date that is no date (an older hub's row) is ``overdue``: the ESR is undeclared
    and its deadline unknown, so it must be looked at now."""
    if not event.get("esr") or event.get("declared_at") or not event.get("declaration_due"):
        return None
    try:
        due = date.fromisoformat(str(event["declaration_due"]))
    except ValueError:
        return "overdue"
    if today > due:
        return "overdue"
    return "soon" if (due - today).days <= soon_days else "pending"


def _shape(row: dict[str, Any], today: date, soon_days: int) -> dict[str, Any]:
    try:
        row["detail"] = json.loads(row["detail"] or "{}")
    except ValueError:
        row["detail"] = {"raw": row["detail"]}
    row["esr"] = bool(row["esr"])
    row["due_status"] = due_status(row, today, soon_days)
    return row


@dataclass(frozen=True, slots=True)
class Filters:
    state: str | None = None
    kind: str | None = None
    site: str | None = None
    room: str | None = None
    esr: bool | None = None
    limit: int = 200
    offset: int = 0


_ORDER: Final = ("CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END,"
                 " opened_at DESC, id DESC")


def list_events(conn: sqlite3.Connection, filters: Filters, today: date,
                soon_days: int = 1) -> list[dict[str, Any]]:
    """Open ones first, then acknowledged, then closed; newest first in each."""
    where, params = [], []
    for column in ("state", "kind", "site", "room"):
        value = getattr(filters, column)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.esr is not None:
        where.append("esr = ?")
        params.append(int(filters.esr))
    sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY {_ORDER} LIMIT ? OFFSET ?"
    rows = _rows(conn, sql, [*params, filters.limit, filters.offset])
    return [_shape(r, today, soon_days) for r in rows]


def facets(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    """The kinds and rooms that have events (for the inbox's filters)."""
    return {
        "kinds": [r[0] for r in conn.execute("SELECT DISTINCT kind FROM events ORDER BY kind")],
        "rooms": [tuple(r) for r in conn.execute(
            "SELECT DISTINCT site, room FROM events ORDER BY site, room")],
    }


def get_event(conn: sqlite3.Connection, event_id: int, today: date,
              soon_days: int = 1) -> dict[str, Any]:
    rows = _rows(conn, "SELECT * FROM events WHERE id = ?", [event_id])
    if not rows:
        raise EventNotFound(event_id)
    event = _shape(rows[0], today, soon_days)
    event["notes"] = notes(conn, event_id)
    return event


def notes(conn: sqlite3.Connection, event_id: int) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT id, at, username, action, comment FROM event_notes"
                       " WHERE event_id = ? ORDER BY id", [event_id])


# -- actions (the caller holds the write transaction) ------------------------------------------


def _now_iso(now: datetime) -> str:
    return timefmt.iso(now.timestamp())


def clean_comment(comment: str | None, required: bool = True) -> str:
    text = (comment or "").strip()
    if required and not text:
        raise EventError("comment", "A comment is required.")
    if len(text) > COMMENT_MAX:
        raise EventError("comment", "At most {max} characters.", max=COMMENT_MAX)
    return text


def _current(conn: sqlite3.Connection, event_id: int) -> dict[str, Any]:
    rows = _rows(conn, "SELECT * FROM events WHERE id = ?", [event_id])
    if not rows:
        raise EventNotFound(event_id)
    return rows[0]


def _note(conn: sqlite3.Connection, event_id: int, at: str, username: str, action: str,
          comment: str) -> int:
    cursor = conn.execute(
        "INSERT INTO event_notes (event_id, at, username, action, comment) VALUES (?, ?, ?, ?, ?)",
        [event_id, at, username, action, comment])
    return int(cursor.lastrowid or 0)


def acknowledge(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
                now: datetime) -> dict[str, Any]:
    """open -> acknowledged: someone has seen it and says what they do about it."""
    text = clean_comment(comment)
    event = _current(conn, event_id)
    if event["state"] != "open":
        raise EventError("state", "The event is already acknowledged or closed.")
    at = _now_iso(now)
    conn.execute("UPDATE events SET state = 'acknowledged', acknowledged_at = ?,"
                 " acknowledged_by = ?, updated_at = ? WHERE id = ?",
                 [at, username, at, event_id])
    _note(conn, event_id, at, username, "acknowledge", text)
    return {"state": "acknowledged", "comment": text}


def close(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
          now: datetime) -> dict[str, Any]:
    """acknowledged -> closed, with the conclusion; an ESR must be declared first."""
    text = clean_comment(comment)
    event = _current(conn, event_id)
    if event["state"] == "open":
        raise EventError("state", "Acknowledge the event before closing it.")
    if event["state"] == "closed":
        raise EventError("state", "The event is already closed.")
    if event["esr"] and not event["declared_at"]:
        raise EventError("state", "An ESR cannot be closed before its declaration is recorded.")
    at = _now_iso(now)
    conn.execute("UPDATE events SET state = 'closed', closed_at = ?, closed_by = ?,"
                 " updated_at = ? WHERE id = ?", [at, username, at, event_id])
    _note(conn, event_id, at, username, "close", text)
    return {"state": "closed", "comment": text}


def qualify_esr(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
                now: datetime, alsace_moselle: bool = False) -> dict[str, Any]:
    """Qualify as an ESR: the declaration is due two working days after *detection*.

    Qualifying an open event acknowledges it too (a qualification is a review).
    """
    text = clean_comment(comment)
    event = _current(conn, event_id)
    if event["state"] == "closed":
        raise EventError("state", "A closed event cannot be qualified.")
    if event["esr"]:
        raise EventError("state", "The event is already qualified as an ESR.")
    due = workdays.declaration_due(deadline_basis(event, now), alsace_moselle)
    at = _now_iso(now)
    conn.execute(
        "UPDATE events SET esr = 1, esr_qualified_at = ?, esr_qualified_by = ?,"
        " declaration_due = ?, state = 'acknowledged',"
        " acknowledged_at = COALESCE(acknowledged_at, ?),"
        " acknowledged_by = COALESCE(acknowledged_by, ?), updated_at = ? WHERE id = ?",
        [at, username, due.isoformat(), at, username, at, event_id])
    _note(conn, event_id, at, username, "qualify_esr", text)
    return {"esr": True, "declaration_due": due.isoformat(), "comment": text}


def declare(conn: sqlite3.Connection, event_id: int, username: str, declared_on: date,
            reference: str, comment: str, now: datetime) -> dict[str, Any]:
    """Record the ESR's declaration to the regulator: its date and the regulator's reference."""
    ref = (reference or "").strip()
    if not REFERENCE_RE.match(ref):
        raise EventError("reference", "Give the regulator's reference: 1 to 64 letters, digits,"
                                      " spaces or . _ / : -")
    text = clean_comment(comment, required=False)
    event = _current(conn, event_id)
    if not event["esr"]:
        raise EventError("esr", "Only an event qualified as an ESR can be declared.")
    if event["declared_at"]:
        raise EventError("state", "The declaration is already recorded.")
    if declared_on > workdays.today(now):
        raise EventError("declared_on", "The declaration date cannot be in the future.")
    detected = workdays.local_date(detected_at(event))
    if declared_on < detected:
        raise EventError("declared_on", "The declaration date cannot be before the event"
                                        " was detected ({date}).", date=detected.isoformat())
    at = _now_iso(now)
    conn.execute("UPDATE events SET declared_at = ?, declaration_ref = ?, updated_at = ?"
                 " WHERE id = ?", [declared_on.isoformat(), ref, at, event_id])
    note = f"{declared_on.isoformat()} {ref}" + (f": {text}" if text else "")
    _note(conn, event_id, at, username, "declare", note)
    return {"declared_at": declared_on.isoformat(), "declaration_ref": ref, "comment": text}


# -- timeline ----------------------------------------------------------------------------------


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
             after_min: int) -> dict[str, Any]:
    """What the room's device stored around the event, oldest first.

    The window runs from ``before_min`` before detection to ``after_min``
    after the condition ended (or after detection while it still holds).
    ``entries`` merges exposures, alarms, signal changes and the device's
    other events; ``readings`` is the dose-rate series.
    """
    try:
        detected = detected_at(event)
    except EventError:  # no time to put anything around: the event alone, as stored
        return {"start": str(event["opened_at"]), "end": str(event["opened_at"]),
                "before_min": before_min, "after_min": after_min, "entries": [],
                "readings": [], "truncated": False}
    start = _shifted(detected, -before_min)
    cleared = timefmt.instant(event.get("condition_cleared_at"))
    end = _shifted(cleared if cleared is not None and cleared >= detected else detected,
                   after_min)
    lo, hi, device = timefmt.stamp(start), timefmt.stamp(end), event["device"]
    entries: list[dict[str, Any]] = []
    for row in _rows(conn,
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
    for row in _rows(conn,
                     "SELECT * FROM alarms WHERE device = ? AND at <= ?"
                     " AND (cleared IS NULL OR cleared >= ?) ORDER BY at LIMIT ?",
                     [device, hi, lo, TIMELINE_ROWS]):
        entries.append({"at": row["at"], "type": "alarm", "kind": row["kind"],
                        "subject": row["subject"], "state": row["state"],
                        "cleared": row["cleared"], "exposure": row["exposure"],
                        "interrupted": bool(row["interrupted"]),
                        "clock_synced": _bool(row["clock_synced"])})
    for row in _rows(conn,
                     "SELECT at, signal, value FROM signal_changes WHERE device = ?"
                     " AND at >= ? AND at <= ? ORDER BY at, signal LIMIT ?",
                     [device, lo, hi, TIMELINE_ROWS]):
        entries.append({"at": row["at"], "type": "signal", "signal": row["signal"],
                        "value": bool(row["value"])})
    for row in _rows(conn,
                     "SELECT id, kind, opened_at, condition_cleared_at FROM events"
                     " WHERE device = ? AND id != ? AND opened_at >= ? AND opened_at <= ?"
                     " AND kind IN ('device_offline', 'data_gap') ORDER BY opened_at LIMIT ?",
                     [device, event["id"], lo, hi, TIMELINE_ROWS]):
        entries.append({"at": row["opened_at"], "type": "event", "event_id": row["id"],
                        "kind": row["kind"], "cleared": row["condition_cleared_at"]})
    entries.sort(key=_order)
    readings = _rows(conn,
                     "SELECT start, \"end\", mean_usv_h, mean_sigma_usv_h, max_usv_h, saturated,"
                     " calibration, counts, clock_synced FROM readings WHERE device = ?"
                     " AND start >= ?"
                     " AND start <= ? ORDER BY start LIMIT ?",
                     [device, lo, hi, TIMELINE_ROWS])
    for reading in readings:
        reading["saturated"] = _bool(reading["saturated"])
        reading["clock_synced"] = _bool(reading["clock_synced"])
    return {"start": lo, "end": hi, "before_min": before_min, "after_min": after_min,
            "entries": entries, "readings": readings,
            "truncated": len(readings) >= TIMELINE_ROWS or len(entries) >= TIMELINE_ROWS}


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)
