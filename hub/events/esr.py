"""The ESR (significant radiation protection event) of guide ASN n° 11, step by step.

A PCR qualifies an event as an ESR under one criterion of the list in force
(:mod:`hub.events.criteria`, stored with the list's version): the declaration to
the ASNR falls due two working days after *detection* (:mod:`hub.workdays`). Until
the declaration is recorded (date and the regulator's reference), an ESR qualified
wrongly can be unqualified, with a reason, and then closed as any event. Once
declared, its follow-up report (compte rendu) falls due ``[events] followup_months``
after the declaration (:mod:`hub.events.followup`), is recorded with its date and
reference, and the ESR closes with the regulator's outcome
(:func:`hub.events.workflow.close`). Apart from all this, a device malfunction calls
for a matériovigilance report to the ANSM, recorded on any event with its date and
reference.

As in :mod:`hub.events.workflow`, the caller holds the write transaction and adds its
audit record in it; a refusal raises :class:`~hub.events.workflow.EventError` naming
the field before anything is written.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Any, Final

from hub import workdays
from hub.events import followup
from hub.events.criteria import Criteria, packaged
from hub.events.workflow import (
    EventError,
    add_note,
    clean_comment,
    clean_reference,
    clean_text,
    current,
    deadline_basis,
    detected_at,
    now_iso,
)

REASON_MAX: Final = 2000


def qualify_esr(conn: sqlite3.Connection, event_id: int, username: str, comment: str,
                now: datetime, alsace_moselle: bool = False, *, criterion: str,
                criteria: Criteria | None = None) -> dict[str, Any]:
    """Qualify as an ESR under ``criterion`` (a code of ``criteria``, the list in force):
    the declaration is due two working days after *detection*.

    Qualifying an open event acknowledges it too (a qualification is a review).
    """
    text = clean_comment(comment)
    listed = criteria or packaged()
    code = (criterion or "").strip()
    if listed.get(code) is None:
        raise EventError("criterion", "Choose one criterion of the list in force ({version}).",
                         version=listed.version)
    event = current(conn, event_id)
    if event["state"] == "closed":
        raise EventError("state", "A closed event cannot be qualified.")
    if event["esr"]:
        raise EventError("state", "The event is already qualified as an ESR.")
    due = workdays.declaration_due(deadline_basis(event, now), alsace_moselle)
    at = now_iso(now)
    conn.execute(
        "UPDATE events SET esr = 1, esr_qualified_at = ?, esr_qualified_by = ?,"
        " declaration_due = ?, esr_criterion = ?, esr_criteria_version = ?,"
        " state = 'acknowledged', acknowledged_at = COALESCE(acknowledged_at, ?),"
        " acknowledged_by = COALESCE(acknowledged_by, ?), updated_at = ? WHERE id = ?",
        [at, username, due.isoformat(), code, listed.version, at, username, at, event_id])
    add_note(conn, event_id, at, username, "qualify_esr", f"{code}: {text}")
    return {"esr": True, "declaration_due": due.isoformat(), "criterion": code,
            "criteria_version": listed.version, "comment": text}


def unqualify_esr(conn: sqlite3.Connection, event_id: int, username: str, reason: str,
                  now: datetime) -> dict[str, Any]:
    """Undo a wrong qualification, before the declaration is recorded: the event is no
    ESR any more (its qualification stays in its notes) and can be closed as any event."""
    text = clean_text(reason, "reason", REASON_MAX, "Give the reason: why it is not an ESR.")
    event = current(conn, event_id)
    if not event["esr"]:
        raise EventError("esr", "The event is not qualified as an ESR.")
    if event["declared_at"]:
        raise EventError("esr", "A declared ESR cannot be unqualified: close it with the"
                                " regulator's outcome.")
    if event["state"] == "closed":
        raise EventError("state", "The event is already closed.")
    at = now_iso(now)
    conn.execute(
        "UPDATE events SET esr = 0, esr_qualified_at = NULL, esr_qualified_by = NULL,"
        " declaration_due = NULL, esr_criterion = NULL, esr_criteria_version = NULL,"
        " updated_at = ? WHERE id = ?", [at, event_id])
    add_note(conn, event_id, at, username, "unqualify_esr", text)
    return {"esr": False, "reason": text, "was_criterion": event["esr_criterion"],
            "was_due": event["declaration_due"]}


def _check_day(field: str, day: date, now: datetime, after: date, after_what: str) -> None:
    """A day the PCR says something was done: not in the future, not before ``after``."""
    if day > workdays.today(now):
        raise EventError(field, "The date cannot be in the future.")
    if day < after:
        raise EventError(field, after_what, date=after.isoformat())


def declare(conn: sqlite3.Connection, event_id: int, username: str, declared_on: date,
            reference: str, comment: str, now: datetime,
            followup_months: int = followup.FOLLOWUP_MONTHS) -> dict[str, Any]:
    """Record the ESR's declaration to the regulator: its date and the regulator's
    reference; the follow-up report falls due ``followup_months`` after that date."""
    ref = clean_reference(reference, "Give the regulator's reference: 1 to 64 letters,"
                                     " digits, spaces or . _ / : -")
    text = clean_comment(comment, required=False)
    event = current(conn, event_id)
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
    due = followup.followup_due(declared_on, followup_months)
    at = now_iso(now)
    conn.execute("UPDATE events SET declared_at = ?, declaration_ref = ?, followup_due = ?,"
                 " updated_at = ? WHERE id = ?",
                 [declared_on.isoformat(), ref, due.isoformat(), at, event_id])
    note = f"{declared_on.isoformat()} {ref}" + (f": {text}" if text else "")
    add_note(conn, event_id, at, username, "declare", note)
    return {"declared_at": declared_on.isoformat(), "declaration_ref": ref,
            "followup_due": due.isoformat(), "comment": text}


def _record_dated(conn: sqlite3.Connection, event: dict[str, Any], username: str,
                  now: datetime, *, report: str, field: str, day: date, after: date,
                  after_what: str, already: str, reference: str, comment: str
                  ) -> dict[str, Any]:
    """The common end of a dated report the PCR records (the follow-up report, the ANSM's):
    once only, on a day neither in the future nor before ``after``; its ``<report>_at``
    and ``<report>_ref`` columns and its note (action ``<report>``) written together."""
    if event[f"{report}_at"]:
        raise EventError("state", already)
    _check_day(field, day, now, after, after_what)
    at = now_iso(now)
    conn.execute(f"UPDATE events SET {report}_at = ?, {report}_ref = ?, updated_at = ?"
                 " WHERE id = ?", [day.isoformat(), reference, at, event["id"]])
    note = f"{day.isoformat()} {reference}" + (f": {comment}" if comment else "")
    add_note(conn, event["id"], at, username, report, note)
    return {f"{report}_at": day.isoformat(), f"{report}_ref": reference, "comment": comment}


def record_followup(conn: sqlite3.Connection, event_id: int, username: str, sent_on: date,
                    reference: str, comment: str, now: datetime) -> dict[str, Any]:
    """Record the follow-up report (compte rendu) sent to the regulator: date, reference.
    A closed ESR may still record it (an older hub closed ESRs without one). A declaration
    date that is no date, or a future one (an older hub's row), bounds it by today."""
    ref = clean_reference(reference, "Give the follow-up report's reference: 1 to 64"
                                     " letters, digits, spaces or . _ / : -")
    text = clean_comment(comment, required=False)
    event = current(conn, event_id)
    if not event["esr"] or not event["declared_at"]:
        raise EventError("esr", "The follow-up report comes after the ESR's declaration.")
    today = workdays.today(now)
    declared = min(followup.iso_day(event["declared_at"]) or today, today)
    return _record_dated(
        conn, event, username, now, report="followup", field="sent_on", day=sent_on,
        after=declared, already="The follow-up report is already recorded.",
        after_what="The follow-up report cannot be sent before the declaration ({date}).",
        reference=ref, comment=text)


def record_materiovigilance(conn: sqlite3.Connection, event_id: int, username: str,
                            reported_on: date, reference: str, comment: str,
                            now: datetime) -> dict[str, Any]:
    """Flag a device malfunction reported to the ANSM (matériovigilance): the report's
    date and reference. Any event may carry it, ESR or not, closed or not."""
    ref = clean_reference(reference, "Give the ANSM report's reference: 1 to 64 letters,"
                                     " digits, spaces or . _ / : -")
    text = clean_comment(comment, required=False)
    event = current(conn, event_id)
    detected = workdays.local_date(detected_at(event))
    return _record_dated(
        conn, event, username, now, report="materiovigilance", field="reported_on",
        day=reported_on, after=detected,
        already="The matériovigilance report is already recorded.",
        after_what="The report cannot be made before the event was detected ({date}).",
        reference=ref, comment=text)
