"""The ESR follow-up report (compte rendu) that guide ASN n° 11 asks after a declaration.

Its due date is fixed when the declaration is recorded (``events.followup_due``: the
declaration date plus ``[events] followup_months`` calendar months); an ESR declared
before the hub knew of follow-ups has none stored, and is due the default two months
after its declaration. :func:`due_followups` is what the inbox and the calendar list;
:func:`status` is what an event's page says, from the same :func:`due_on`.

An older hub stored these days as it was given: no date at all, year 1, 9999-12-31. They
are read with :func:`iso_day` (None when no date) and a due date is never later than
:data:`LATEST`, so that the calendar can still add a day to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date
from typing import Any, Final, Literal

from hub import workdays

#: The guide's "about two months", the default of ``[events] followup_months``.
FOLLOWUP_MONTHS: Final = 2
#: The latest due date given: near ``date.max``, a month left for readers that add days.
LATEST: Final = date(9999, 12, 1)

Status = Literal["overdue", "soon", "pending"]


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months (:func:`hub.workdays.add_months`: 31 December + 2
    months is 28 or 29 February), never later than :data:`LATEST`."""
    return min(workdays.add_months(day, months), LATEST)


def followup_due(declared_on: date, months: int = FOLLOWUP_MONTHS) -> date:
    """When the follow-up report of an ESR declared on ``declared_on`` is due."""
    return min(add_months(declared_on, months), LATEST)


def iso_day(text: Any) -> date | None:
    """A stored ``YYYY-MM-DD`` (a longer text: its first ten characters), or None when it
    is no date."""
    return workdays.parse_day(str(text)[:10]) if text else None


def due_on(stored_due: Any, declared_at: Any, months: int = FOLLOWUP_MONTHS) -> date | None:
    """A declared ESR's follow-up due date: the stored one, else ``months`` after the
    declaration; never after :data:`LATEST`; None when neither is a date (an older hub's
    row). The one reckoning of the inbox, the calendar and an event's page."""
    stored = iso_day(stored_due)
    if stored is not None:
        return min(stored, LATEST)
    declared_on = iso_day(declared_at)
    return followup_due(declared_on, months) if declared_on else None


def status(event: Mapping[str, Any], today: date, soon_days: int = 1,
           months: int = FOLLOWUP_MONTHS) -> Status | None:
    """A declared ESR whose follow-up report is not recorded (``event``: its row):
    ``overdue``, ``soon`` (due within ``soon_days``) or ``pending``; one whose dates are no
    dates (an older hub's row) is ``overdue``: it must be looked at now. None for any other
    event."""
    if (not event.get("esr") or not event.get("declared_at") or event.get("followup_at")
            or event.get("state") == "closed"):
        return None
    due = due_on(event.get("followup_due"), event.get("declared_at"), months)
    if due is None or today > due:
        return "overdue"
    return "soon" if (due - today).days <= soon_days else "pending"


def due_followups(conn: sqlite3.Connection, months: int = FOLLOWUP_MONTHS,
                  today: date | None = None) -> list[dict[str, Any]]:
    """Every ESR whose declaration is recorded and whose follow-up report is not, soonest
    due first. A closed one is not: a declared ESR closes only once its report is recorded
    (:func:`hub.events.workflow.close`), so a closed one without it was closed by a hub
    older than follow-ups. ``months`` dates the ESRs declared before due dates were
    stored; one whose dates are no dates (an older hub's row) is due ``today`` (the Paris
    day of the app's clock; the real one if not given): it must be looked at now."""
    day = today or workdays.today()
    cursor = conn.execute(
        "SELECT id, kind, device, site, room, declared_at, followup_due, declaration_ref"
        " FROM events WHERE esr = 1 AND declared_at IS NOT NULL AND followup_at IS NULL"
        " AND state != 'closed'")
    out: list[dict[str, Any]] = []
    for event_id, kind, device, site, room, declared, stored, ref in cursor.fetchall():
        declared_on = iso_day(declared)
        due = due_on(stored, declared, months)
        out.append({"event_id": int(event_id), "kind": str(kind), "device": str(device),
                    "site": str(site), "room": str(room),
                    "declared_at": declared_on.isoformat() if declared_on else str(declared),
                    "due_on": (due or day).isoformat(),
                    "declaration_ref": str(ref or "")})
    out.sort(key=lambda r: (r["due_on"], r["event_id"]))
    return out
