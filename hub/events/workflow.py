"""Events: what the PCR reviews. Edge alarms and hub events, their workflow, ESR.

Two parties write an event, each its own columns:

- the **ingest** opens it (an edge alarm's first record, a ``data_gap``, a
  ``device_offline``: every kind, with its severity and its name, is in
  :mod:`wire.kinds`) and sets ``condition_cleared_at`` when the condition
  ends (alarm cleared, gap filled, device back); it never touches ``state``;
- the **PCR** moves ``state`` from ``open`` to ``acknowledged`` (comment
  required) to ``closed`` (comment required; a declared ESR's also with the
  regulator's outcome). What makes an event an ESR (qualification under a
  guide n°11 criterion, declaration, follow-up report, matériovigilance) is
  :mod:`hub.events.esr`. Each action is one ``event_notes`` row.

The action functions here check and write; the caller holds the write
transaction (``BEGIN IMMEDIATE``) and adds its audit record in it, so an
action is all or nothing. A refused action raises :class:`EventError` naming
the field before anything is written. What the device stored around an event
is :mod:`hub.events.timeline`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from hub import timefmt
from hub.events import followup
from wire.contract import AlarmItem
from wire.errors import HubError

State = Literal["open", "acknowledged", "closed"]
STATES: Final[tuple[State, ...]] = ("open", "acknowledged", "closed")

COMMENT_MAX: Final = 2000
OUTCOME_MAX: Final = 2000
REFERENCE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:-]{0,63}$")


def alarm_ref(journal: str, run: int, number: int) -> str:
    """The name of an edge alarm for ever: ``journal:run:number``."""
    return f"{journal}:{run}:{number}"


def alarm_detail(journal: str, alarm: AlarmItem, stored_at: str) -> dict[str, Any]:
    return {"journal": journal, "run": alarm.run, "number": alarm.number,
            "subject": alarm.subject, "at": alarm.at, "since": alarm.since,
            "exposure": alarm.exposure, "detail": alarm.detail, "stored_at": stored_at}


class EventError(HubError, ValueError):
    """A refused action or value; ``field`` names what to fix; ``message`` is the English
    source string (translated by the page, then ``.format(**params)``)."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(f"{field}: {message.format(**params)}")
        self.field, self.message, self.params = field, message, params


class EventNotFound(HubError, LookupError):
    pass


# -- reading -----------------------------------------------------------------------------------


def rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of a query as dicts keyed by column name."""
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


def followup_status(event: Mapping[str, Any], today: date, soon_days: int = 1,
                    months: int = followup.FOLLOWUP_MONTHS) -> str | None:
    """A declared ESR whose follow-up report is not recorded: ``overdue``, ``soon`` or
    ``pending``, reckoned as the inbox's list (:func:`hub.events.followup.status`)."""
    return followup.status(event, today, soon_days, months)


def _shape(row: dict[str, Any], today: date, soon_days: int, months: int) -> dict[str, Any]:
    try:
        row["detail"] = json.loads(row["detail"] or "{}")
    except ValueError:
        row["detail"] = {"raw": row["detail"]}
    row["esr"] = bool(row["esr"])
    row["due_status"] = due_status(row, today, soon_days)
    row["followup_status"] = followup_status(row, today, soon_days, months)
    due = followup.due_on(row.get("followup_due"), row.get("declared_at"), months)
    row["followup_due_on"] = due.isoformat() if due else None
    return row


@dataclass(frozen=True, slots=True)
class Filters:
    state: str | None = None
    kind: str | None = None
    site: str | None = None
    room: str | None = None
    esr: bool | None = None
    severity: str | None = None
    limit: int = 200
    offset: int = 0


_ORDER: Final = ("CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END,"
                 " opened_at DESC, id DESC")


def list_events(conn: sqlite3.Connection, filters: Filters, today: date,
                soon_days: int = 1,
                followup_months: int = followup.FOLLOWUP_MONTHS) -> list[dict[str, Any]]:
    """Open ones first, then acknowledged, then closed; newest first in each.
    ``followup_months``: ``[events] followup_months``, for the ESRs declared before follow-up
    due dates were stored."""
    where, params = [], []
    for column in ("state", "kind", "site", "room", "severity"):
        value = getattr(filters, column)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.esr is not None:
        where.append("esr = ?")
        params.append(int(filters.esr))
    sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY {_ORDER} LIMIT ? OFFSET ?"
    found = rows(conn, sql, [*params, filters.limit, filters.offset])
    return [_shape(r, today, soon_days, followup_months) for r in found]


def facets(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    """The kinds and rooms that have events (for the inbox's filters)."""
    return {
        "kinds": [r[0] for r in conn.execute("SELECT DISTINCT kind FROM events ORDER BY kind")],
        "rooms": [tuple(r) for r in conn.execute(
            "SELECT DISTINCT site, room FROM events ORDER BY site, room")],
    }


def get_event(conn: sqlite3.Connection, event_id: int, today: date, soon_days: int = 1,
              followup_months: int = followup.FOLLOWUP_MONTHS) -> dict[str, Any]:
    found = rows(conn, "SELECT * FROM events WHERE id = ?", [event_id])
    if not found:
        raise EventNotFound(event_id)
    event = _shape(found[0], today, soon_days, followup_months)
    event["notes"] = notes(conn, event_id)
    return event


def notes(conn: sqlite3.Connection, event_id: int) -> list[dict[str, Any]]:
    return rows(conn, "SELECT id, at, username, action, comment FROM event_notes"
                      " WHERE event_id = ? ORDER BY id", [event_id])


# -- actions (the caller holds the write transaction) ------------------------------------------


def now_iso(now: datetime) -> str:
    return timefmt.iso(now.timestamp())


def clean_comment(comment: str | None, required: bool = True) -> str:
    text = (comment or "").strip()
    if required and not text:
        raise EventError("comment", "A comment is required.")
    if len(text) > COMMENT_MAX:
        raise EventError("comment", "At most {max} characters.", max=COMMENT_MAX)
    return text


def clean_text(value: str | None, field: str, most: int, missing: str) -> str:
    """A required free text (a reason, an outcome), stripped and bounded; ``missing``: the
    refusal when it is empty."""
    text = (value or "").strip()
    if not text:
        raise EventError(field, missing)
    if len(text) > most:
        raise EventError(field, "At most {max} characters.", max=most)
    return text


def clean_reference(reference: str | None, message: str, field: str = "reference") -> str:
    """A reference given by the regulator or the ANSM, as typed (spaces around dropped);
    ``message``: the refusal, which says whose reference."""
    ref = (reference or "").strip()
    if not REFERENCE_RE.match(ref):
        raise EventError(field, message)
    return ref


def current(conn: sqlite3.Connection, event_id: int) -> dict[str, Any]:
    found = rows(conn, "SELECT * FROM events WHERE id = ?", [event_id])
    if not found:
        raise EventNotFound(event_id)
    return found[0]


def add_note(conn: sqlite3.Connection, event_id: int, at: str, username: str, action: str,
          comment: str) -> int:
    cursor = conn.execute(
        "INSERT INTO event_notes (event_id, at, username, action, comment) VALUES (?, ?, ?, ?, ?)",
        [event_id, at, username, action, comment])
    return int(cursor.lastrowid or 0)


def acknowledge(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
                now: datetime) -> dict[str, Any]:
    """open -> acknowledged: someone has seen it and says what they do about it."""
    text = clean_comment(comment)
    event = current(conn, event_id)
    if event["state"] != "open":
        raise EventError("state", "The event is already acknowledged or closed.")
    at = now_iso(now)
    conn.execute("UPDATE events SET state = 'acknowledged', acknowledged_at = ?,"
                 " acknowledged_by = ?, updated_at = ? WHERE id = ?",
                 [at, username, at, event_id])
    add_note(conn, event_id, at, username, "acknowledge", text)
    return {"state": "acknowledged", "comment": text}


def close(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
          now: datetime, outcome: str = "") -> dict[str, Any]:
    """acknowledged -> closed, with the conclusion. An ESR closes once declared and its
    follow-up report recorded, with the regulator's ``outcome`` (which comes after that
    report); one qualified wrongly is unqualified first
    (:func:`hub.events.esr.unqualify_esr`): before that, it could never be closed."""
    text = clean_comment(comment)
    event = current(conn, event_id)
    if event["state"] == "open":
        raise EventError("state", "Acknowledge the event before closing it.")
    if event["state"] == "closed":
        raise EventError("state", "The event is already closed.")
    result: dict[str, Any] = {"state": "closed", "comment": text}
    if event["esr"]:
        if not event["declared_at"]:
            raise EventError("esr", "An ESR cannot be closed before its declaration is"
                                    " recorded; if it was qualified wrongly, unqualify it"
                                    " first.")
        if not event["followup_at"]:
            raise EventError("followup", "Record the follow-up report (compte rendu) before"
                                         " closing the ESR.")
        result["outcome"] = clean_text(outcome, "outcome", OUTCOME_MAX,
                                       "Give the regulator's outcome to close a declared ESR.")
    at = now_iso(now)
    conn.execute("UPDATE events SET state = 'closed', closed_at = ?, closed_by = ?,"
                 " esr_outcome = COALESCE(?, esr_outcome), updated_at = ? WHERE id = ?",
                 [at, username, result.get("outcome"), at, event_id])
    add_note(conn, event_id, at, username, "close", text)
    return result
