"""Pages: the events inbox, an event's page with the PCR's actions, its printable timeline.

``/events`` (inbox, refreshed on the SSE ``events`` message of
``/live/stream``), ``/events/rows`` (the inbox's table alone, for htmx),
``/events/{id}``, ``POST /events/{id}/acknowledge|close|qualify-esr|unqualify-esr|``
``declare|followup|materiovigilance`` (forms: on success 303 back to the event; refused:
the page again, 422, the message next to the field), ``/events/{id}/timeline``
(printable annex) and ``/events/{id}/timeline.pdf`` (the same, as PDF:
:mod:`hub.web.annex`). The inbox lists the ESR follow-up reports due above the events.
Viewers see; the ``pcr`` role acts, through the same audited actions as the
API (:mod:`hub.web.api.events`).
"""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import workdays
from hub.events import followup
from hub.events import workflow as ev
from hub.events.followup import due_followups
from hub.messages import N_
from hub.web import annex, names, numfmt, timeshow
from hub.web.api.events import (
    WindowMin,
    act,
    criteria_in_force,
    event_settings,
    get_event,
    run_action,
    timeline,
)
from hub.web.auth import User
from hub.web.calendar_words import TYPE_LABELS
from hub.web.changes import SIGNAL_LABELS
from hub.web.deps import Db, Pcr, Viewer, now_of
from hub.web.event_words import detail_lines
from hub.web.i18n import gettext_for, language
from hub.web.pages.operators import event_detail
from hub.web.params import Id
from hub.web.templating import render, translate
from wire import kinds

router = APIRouter()

STATE_LABELS = {"open": N_("Open"), "acknowledged": N_("Acknowledged"), "closed": N_("Closed")}
SEVERITY_LABELS = {"critical": N_("Critical"), "warning": N_("Warning"),
                   "info": N_("Information")}
NOTE_LABELS = {"acknowledge": N_("Acknowledged"), "close": N_("Closed"),
               "qualify_esr": N_("Qualified as ESR"), "declare": N_("Declaration recorded"),
               "note": N_("Note"), "unqualify_esr": N_("ESR qualification withdrawn"),
               "followup": N_("Follow-up report recorded"),
               "materiovigilance": N_("Matériovigilance report recorded")}
#: The date fields of the forms, parsed here (the API's models parse its own).
DATE_FIELDS = ("declared_on", "sent_on", "reported_on")


# -- helpers ---------------------------------------------------------------------------------


def _day(request: Request, text: Any) -> str:
    """A stored ESR day (declaration, follow-up report, matériovigilance) as stored, said
    unreadable when it is no date (an older hub stored what it was given)."""
    if followup.iso_day(text) is not None:
        return str(text)
    return f"{text or ''} ({translate(request, 'unreadable date')})".lstrip()


def _page_ctx(request: Request, conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    def tr(table: dict[str, str], key: str | None) -> str:
        return translate(request, table[key]) if key in table else str(key or "")

    criteria = criteria_in_force(request)
    lang = language(request)

    def criterion_label(code: str | None) -> str:
        """A stored criterion in the list in force (one of an older list: its code only)."""
        found = criteria.get(str(code or ""))
        return found.label(lang) if found else ""

    gettext = gettext_for(request).gettext
    labels = names.load(conn) if conn is not None else names.Names()
    return {
        "criteria": criteria,
        "criterion_label": criterion_label,
        **timeshow.helpers(lang),
        "local": lambda text, seconds=True: timeshow.paris(text, seconds),
        "day": lambda text: _day(request, text),
        # A figure to ``decimals`` places in the reader's language (1e308, inf: a dash).
        "num": lambda value, decimals: numfmt.fixed(value, lang, decimals),
        # An operator event's person only for the PCR, while kept (hub.rdsr.operators_events).
        "detail_lines": lambda detail: detail_lines(
            gettext, lang, event_detail(request, conn, detail), TYPE_LABELS),
        # The site's own names (hub.web.names): a box, a door or lamp, a point.
        "device_name": labels.device,
        "signal_own": labels.signal,
        "door_names": lambda device, doors: ", ".join(
            labels.signal(device, f"door.{d}") or str(d) for d in doors),
        "point_name": labels.point,
        "deadline": lambda text: timeshow.long_day(text, lang),
        # The kinds' names are the vocabulary's (wire/kinds.py), not the catalogs'.
        "kind_label": lambda k: kinds.label(str(k or ""), language(request)),
        "state_label": lambda s: tr(STATE_LABELS, s),
        "severity_label": lambda s: tr(SEVERITY_LABELS, s),
        "note_label": lambda a: tr(NOTE_LABELS, a),
        "signal_label": lambda s: tr(SIGNAL_LABELS, s),
        "today": workdays.today(now_of(request)).isoformat(),
    }


# -- filters ---------------------------------------------------------------------------------


def _page_filters(request: Request, state: str, kind: str, room: str, esr: str,
                  severity: str = "") -> tuple[ev.Filters, dict[str, str]]:
    """The inbox's filters from its form; a bad value is reported next to its field."""
    errors: dict[str, str] = {}
    if state and state not in ev.STATES:
        errors["state"] = translate(request, "Unknown state.")
        state = ""
    if kind and not (len(kind) <= 64 and kind.replace("_", "").isalpha() and kind.islower()):
        errors["kind"] = translate(request, "Unknown kind.")
        kind = ""
    site, _, room_name = room.partition("/") if "/" in room else ("", "", room)
    esr_value: bool | None = None
    if esr in ("yes", "no"):
        esr_value = esr == "yes"
    elif esr:
        errors["esr"] = translate(request, "Choose yes or no.")
    if severity and severity not in kinds.SEVERITIES:
        errors["severity"] = translate(request, "Unknown severity.")
        severity = ""
    return ev.Filters(state=state or None, kind=kind or None, site=site or None,
                      room=room_name or None, esr=esr_value, severity=severity or None), errors


def _inbox(request: Request, conn: sqlite3.Connection, state: str, kind: str, room: str,
           esr: str, severity: str = "") -> dict[str, Any]:
    filters, errors = _page_filters(request, state, kind, room, esr, severity)
    settings, today = event_settings(request), workdays.today(now_of(request))
    rows = ev.list_events(conn, filters, today, settings.due_soon_days,
                          settings.followup_months)
    query = urlencode({k: v for k, v in
                       {"state": state, "kind": kind, "room": room, "esr": esr,
                        "severity": severity}.items() if v})
    followups = due_followups(conn, settings.followup_months, today)
    return {**_page_ctx(request, conn), "events": rows, "errors": errors, "followups": followups,
            "chosen": {"state": state, "kind": kind, "room": room, "esr": esr,
                       "severity": severity},
            "rows_url": "/events/rows" + (f"?{query}" if query else ""),
            "facets": ev.facets(conn), "states": ev.STATES}


# -- pages -----------------------------------------------------------------------------------


@router.get("/events", response_class=HTMLResponse, include_in_schema=False)
def inbox_page(request: Request, user: Viewer, conn: Db, state: str = "", kind: str = "",
               room: str = "", esr: str = "", severity: str = "") -> Response:
    ctx = _inbox(request, conn, state, kind, room, esr, severity)
    return render(request, "events/inbox.html", ctx, 422 if ctx["errors"] else 200)


@router.get("/events/rows", response_class=HTMLResponse, include_in_schema=False)
def inbox_rows(request: Request, user: Viewer, conn: Db, state: str = "", kind: str = "",
               room: str = "", esr: str = "", severity: str = "") -> Response:
    return render(request, "events/_rows.html",
                  _inbox(request, conn, state, kind, room, esr, severity))


def _detail(request: Request, conn: sqlite3.Connection, event_id: int,
            errors: dict[str, dict[str, str]] | None = None,
            values: dict[str, dict[str, str]] | None = None, status_code: int = 200) -> Response:
    event = get_event(conn, request, event_id)
    return render(request, "events/detail.html",
                  {**_page_ctx(request, conn), "event": event, "errors": errors or {},
                   "values": values or {}}, status_code)


@router.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
def event_page(request: Request, event_id: Id, user: Viewer, conn: Db) -> Response:
    return _detail(request, conn, event_id)


def _form_action(action: str, request: Request, event_id: int, user: User,
                 conn: sqlite3.Connection, values: dict[str, str]) -> Response:
    form = action.replace("-", "_")
    parsed: dict[str, Any] = dict(values)
    try:
        for field in DATE_FIELDS:
            if field in values:
                try:
                    parsed[field] = date.fromisoformat(values[field].strip())
                except ValueError:
                    raise ev.EventError(field, N_("Enter the date as YYYY-MM-DD.")) from None
        get_event(conn, request, event_id)
        act(request, conn, user, event_id, action,
             run_action(action, conn, request, user, event_id, parsed))
    except ev.EventError as exc:
        message = translate(request, exc.message).format(**exc.params)
        return _detail(request, conn, event_id, {form: {exc.field: message}}, {form: values},
                       422)
    return RedirectResponse(f"/events/{event_id}", status_code=303)


@router.post("/events/{event_id}/acknowledge", include_in_schema=False)
def acknowledge_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                     comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("acknowledge", request, event_id, user, conn, {"comment": comment})


@router.post("/events/{event_id}/close", include_in_schema=False)
def close_form(request: Request, event_id: Id, user: Pcr, conn: Db,
               comment: Annotated[str, Form()] = "",
               outcome: Annotated[str, Form()] = "") -> Response:
    return _form_action("close", request, event_id, user, conn,
                        {"comment": comment, "outcome": outcome})


@router.post("/events/{event_id}/qualify-esr", include_in_schema=False)
def qualify_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                 comment: Annotated[str, Form()] = "",
                 criterion: Annotated[str, Form()] = "") -> Response:
    return _form_action("qualify-esr", request, event_id, user, conn,
                        {"comment": comment, "criterion": criterion})


@router.post("/events/{event_id}/unqualify-esr", include_in_schema=False)
def unqualify_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                   reason: Annotated[str, Form()] = "") -> Response:
    return _form_action("unqualify-esr", request, event_id, user, conn, {"reason": reason})


@router.post("/events/{event_id}/followup", include_in_schema=False)
def followup_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                  sent_on: Annotated[str, Form()] = "",
                  reference: Annotated[str, Form()] = "",
                  comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("followup", request, event_id, user, conn,
                        {"sent_on": sent_on, "reference": reference, "comment": comment})


@router.post("/events/{event_id}/materiovigilance", include_in_schema=False)
def materiovigilance_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                          reported_on: Annotated[str, Form()] = "",
                          reference: Annotated[str, Form()] = "",
                          comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("materiovigilance", request, event_id, user, conn,
                        {"reported_on": reported_on, "reference": reference,
                         "comment": comment})


@router.post("/events/{event_id}/declare", include_in_schema=False)
def declare_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                 declared_on: Annotated[str, Form()] = "",
                 reference: Annotated[str, Form()] = "",
                 comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("declare", request, event_id, user, conn,
                        {"declared_on": declared_on, "reference": reference, "comment": comment})


def _annex_ctx(request: Request, conn: sqlite3.Connection, user: User, event_id: int,
               before_min: int | None, after_min: int | None) -> dict[str, Any]:
    data = timeline(request, conn, user, event_id, before_min, after_min)
    signer = (user.display_name or user.username) if user.can("pcr") else ""
    return {**_page_ctx(request, conn), **data, **annex.context(request, conn, data, signer)}


@router.get("/events/{event_id}/timeline", response_class=HTMLResponse, include_in_schema=False)
def timeline_page(request: Request, event_id: Id, user: Viewer, conn: Db,
                  before_min: WindowMin = None, after_min: WindowMin = None) -> Response:
    return render(request, "events/timeline.html",
                  _annex_ctx(request, conn, user, event_id, before_min, after_min))


@router.get("/events/{event_id}/timeline.pdf", include_in_schema=False)
def timeline_pdf(request: Request, event_id: Id, user: Viewer, conn: Db,
                 before_min: WindowMin = None, after_min: WindowMin = None) -> Response:
    """The annex as PDF: the page's body in a standalone document, no control in it."""
    ctx = _annex_ctx(request, conn, user, event_id, before_min, after_min)
    body = annex.pdf(annex.document_html(request, ctx))
    name = f"voyant-event-{event_id}-timeline"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
