"""The events inbox, an event's page with the PCR's actions, its printable timeline; and the API.

Pages (session): ``/events`` (inbox, refreshed on the SSE ``events`` message
of ``/live/stream``), ``/events/rows`` (the inbox's table alone, for htmx),
``/events/{id}``, ``POST /events/{id}/acknowledge|close|qualify-esr|declare``
(forms: on success 303 back to the event; refused: the page again, 422, the
message next to the field), ``/events/{id}/timeline`` (printable annex).

API (session or bearer token): ``GET /api/events``, ``GET /api/events/{id}``,
``GET /api/events/{id}/timeline``, ``POST /api/events/{id}/acknowledge|close|
qualify-esr|declare`` with JSON bodies; a refused value or transition is a
422 whose ``detail[].loc`` names the field.

Viewers see; the ``pcr`` role acts. Every action is one write transaction:
the event, its ``event_notes`` row and the audit record, or nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub import timefmt, workdays
from hub.config import Events as EventSettings
from hub.db.connection import get_db, write
from hub.events import workflow as ev
from hub.web import audit
from hub.web.auth import User, require
from hub.web.i18n import N_
from hub.web.params import Id, Offset
from hub.web.templating import render, translate

router = APIRouter()

Db = Annotated[sqlite3.Connection, Depends(get_db)]
Viewer = Annotated[User, Depends(require("viewer"))]
Pcr = Annotated[User, Depends(require("pcr"))]

Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=ev.COMMENT_MAX)]
KindName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
ACTIONS = ("acknowledge", "close", "qualify-esr", "declare")
STATE_LABELS = {"open": N_("Open"), "acknowledged": N_("Acknowledged"), "closed": N_("Closed")}
SEVERITY_LABELS = {"critical": N_("Critical"), "warning": N_("Warning"),
                   "info": N_("Information")}
NOTE_LABELS = {"acknowledge": N_("Acknowledged"), "close": N_("Closed"),
               "qualify_esr": N_("Qualified as ESR"), "declare": N_("Declaration recorded"),
               "note": N_("Note")}
SIGNAL_LABELS = {
    "generator_powered": N_("Generator powered"), "request": N_("Exposure request"),
    "emission": N_("Emission"), "light.powered": N_("Powered light"),
    "light.emission": N_("Emission light"), "interlock_open": N_("Interlock relay open"),
    "probe.connected": N_("Probe connected"),
}
#: Names of the kinds (an unknown, newer kind shows as its code).
KIND_LABELS = {
    "unsolicited_emission": N_("Unsolicited emission"),
    "emission_after_release": N_("Emission after release"),
    "door_open_during_emission": N_("Door open during emission"),
    "emission_while_unpowered": N_("Emission while unpowered"),
    "radiation_without_emission": N_("Radiation without emission"),
    "dose_rate_high": N_("High dose rate"),
    "emission_light_fault": N_("Emission light fault"),
    "emission_light_stuck": N_("Emission light stuck"),
    "powered_light_fault": N_("Powered light fault"),
    "long_exposure": N_("Long exposure"),
    "fluoroscopy_time_exceeded": N_("Fluoroscopy time exceeded"),
    "request_stuck": N_("Request stuck"),
    "probe_fault": N_("Probe fault"),
    "device_offline": N_("Device offline"),
    "data_gap": N_("Data gap"),
    "record_quarantined": N_("Record quarantined"),
    "ack_stalled": N_("Acknowledgement stalled"),
    "journal_new": N_("New journal on a device"),
    "journal_fault": N_("Journal fault"),
    "control_overdue": N_("Control overdue"),
    "control_due_soon": N_("Control due soon"),
}


# -- API models ------------------------------------------------------------------------------


class CommentBody(BaseModel):
    """A comment: what was seen, what was done (required, at most 2,000 characters)."""

    model_config = ConfigDict(extra="forbid")
    comment: Comment


class DeclareBody(BaseModel):
    """The declaration made to the regulator: its date and the regulator's reference."""

    model_config = ConfigDict(extra="forbid")
    declared_on: date
    reference: Annotated[str, StringConstraints(strip_whitespace=True,
                                                pattern=ev.REFERENCE_RE.pattern)]
    comment: Annotated[str, StringConstraints(strip_whitespace=True,
                                              max_length=ev.COMMENT_MAX)] = ""


class NoteOut(BaseModel):
    id: int
    at: str
    username: str
    action: Literal["acknowledge", "close", "qualify_esr", "declare", "note"]
    comment: str


class EventOut(BaseModel):
    id: int
    kind: str
    severity: Literal["critical", "warning", "info"]
    device: str
    site: str
    room: str
    ref: str
    opened_at: str = Field(description="detection: the edge alarm's time, or the hub's")
    condition_cleared_at: str | None = Field(
        description="when the condition ended (alarm cleared, device back, gap filled)")
    state: Literal["open", "acknowledged", "closed"]
    acknowledged_at: str | None
    acknowledged_by: str | None
    closed_at: str | None
    closed_by: str | None
    esr: bool
    esr_qualified_at: str | None
    esr_qualified_by: str | None
    # Dates as stored (YYYY-MM-DD): a row of an older hub may hold one that is no date.
    declaration_due: str | None = Field(
        description="YYYY-MM-DD: two working days after detection (Europe/Paris, French"
                    " public holidays)")
    declared_at: str | None = Field(description="YYYY-MM-DD: when the ESR was declared")
    declaration_ref: str | None
    due_status: Literal["overdue", "soon", "pending"] | None = Field(
        description="for an ESR not yet declared")
    detail: dict[str, Any]


class EventDetailOut(EventOut):
    notes: list[NoteOut]


class EventListOut(BaseModel):
    events: list[EventOut]
    limit: int
    offset: int


class TimelineOut(BaseModel):
    event: EventOut
    start: str
    end: str
    before_min: int
    after_min: int
    entries: list[dict[str, Any]] = Field(
        description="exposures, alarms, signal changes and the device's other events, in order")
    readings: list[dict[str, Any]] = Field(description="the dose-rate series")
    truncated: bool
    generated_at: str
    generated_by: str


class ActionOut(BaseModel):
    event: EventDetailOut


# -- helpers ---------------------------------------------------------------------------------


def _settings(request: Request) -> EventSettings:
    return request.app.state.config.events  # type: ignore[no-any-return]


def _now(request: Request) -> datetime:
    """The clock (tests may put ``app.state.clock``, a callable returning an aware datetime)."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _get(conn: sqlite3.Connection, request: Request, event_id: int) -> dict[str, Any]:
    try:
        return ev.get_event(conn, event_id, workdays.today(_now(request)),
                            _settings(request).due_soon_days)
    except ev.EventNotFound:
        raise HTTPException(status_code=404, detail=f"event {event_id}: not found") from None


def _local(text: str | None, seconds: bool = True) -> str:
    """A stored UTC time as Europe/Paris wall time, for the pages (as stored if it names no
    instant: see :func:`hub.timefmt.wall`)."""
    return timefmt.wall(text, workdays.PARIS, seconds)


def _number(value: float, decimals: int) -> str:
    """A figure to ``decimals`` places; past a billion (an older hub's 1e308, infinity: no
    measurement) in exponent form rather than hundreds of digits."""
    return f"{value:.{decimals}f}" if abs(value) < 1e9 else f"{value:.3g}"


def _page_ctx(request: Request) -> dict[str, Any]:
    def tr(table: dict[str, str], key: str | None) -> str:
        return translate(request, table[key]) if key in table else str(key or "")

    return {
        "local": _local,
        "num": _number,
        "kind_label": lambda k: tr(KIND_LABELS, k),
        "state_label": lambda s: tr(STATE_LABELS, s),
        "severity_label": lambda s: tr(SEVERITY_LABELS, s),
        "note_label": lambda a: tr(NOTE_LABELS, a),
        "signal_label": lambda s: tr(SIGNAL_LABELS, s),
        "today": workdays.today(_now(request)).isoformat(),
    }


def _act(request: Request, conn: sqlite3.Connection, user: User, event_id: int, action: str,
         run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One transaction: the action (event row and note) and its audit record, or nothing."""
    with write(conn):
        result = run()
        audit.record(conn, user, f"event.{action}", f"event:{event_id}", result,
                     request=request)
    return result


def _run(action: str, conn: sqlite3.Connection, request: Request, user: User, event_id: int,
         values: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    now = _now(request)
    if action == "acknowledge":
        return lambda: ev.acknowledge(conn, event_id, user.username, values["comment"], now)
    if action == "close":
        return lambda: ev.close(conn, event_id, user.username, values["comment"], now)
    if action == "qualify-esr":
        am = _settings(request).alsace_moselle
        return lambda: ev.qualify_esr(conn, event_id, user.username, values["comment"], now, am)
    return lambda: ev.declare(conn, event_id, user.username, values["declared_on"],
                              values["reference"], values.get("comment", ""), now)


# -- filters ---------------------------------------------------------------------------------


def _page_filters(request: Request, state: str, kind: str, room: str, esr: str,
                  ) -> tuple[ev.Filters, dict[str, str]]:
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
    return ev.Filters(state=state or None, kind=kind or None, site=site or None,
                      room=room_name or None, esr=esr_value), errors


def _inbox(request: Request, conn: sqlite3.Connection, state: str, kind: str, room: str,
           esr: str) -> dict[str, Any]:
    filters, errors = _page_filters(request, state, kind, room, esr)
    rows = ev.list_events(conn, filters, workdays.today(_now(request)),
                          _settings(request).due_soon_days)
    query = urlencode({k: v for k, v in
                       {"state": state, "kind": kind, "room": room, "esr": esr}.items() if v})
    return {**_page_ctx(request), "events": rows, "errors": errors,
            "chosen": {"state": state, "kind": kind, "room": room, "esr": esr},
            "rows_url": "/events/rows" + (f"?{query}" if query else ""),
            "facets": ev.facets(conn), "states": ev.STATES}


# -- pages -----------------------------------------------------------------------------------


@router.get("/events", response_class=HTMLResponse, include_in_schema=False)
def inbox_page(request: Request, user: Viewer, conn: Db, state: str = "", kind: str = "",
               room: str = "", esr: str = "") -> Response:
    ctx = _inbox(request, conn, state, kind, room, esr)
    return render(request, "events/inbox.html", ctx, 422 if ctx["errors"] else 200)


@router.get("/events/rows", response_class=HTMLResponse, include_in_schema=False)
def inbox_rows(request: Request, user: Viewer, conn: Db, state: str = "", kind: str = "",
               room: str = "", esr: str = "") -> Response:
    return render(request, "events/_rows.html", _inbox(request, conn, state, kind, room, esr))


def _detail(request: Request, conn: sqlite3.Connection, event_id: int,
            errors: dict[str, dict[str, str]] | None = None,
            values: dict[str, dict[str, str]] | None = None, status_code: int = 200) -> Response:
    event = _get(conn, request, event_id)
    return render(request, "events/detail.html",
                  {**_page_ctx(request), "event": event, "errors": errors or {},
                   "values": values or {}}, status_code)


@router.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
def event_page(request: Request, event_id: Id, user: Viewer, conn: Db) -> Response:
    return _detail(request, conn, event_id)


def _form_action(action: str, request: Request, event_id: int, user: User,
                 conn: sqlite3.Connection, values: dict[str, str]) -> Response:
    form = action.replace("-", "_")
    parsed: dict[str, Any] = dict(values)
    try:
        if action == "declare":
            try:
                parsed["declared_on"] = date.fromisoformat(values.get("declared_on", "").strip())
            except ValueError:
                raise ev.EventError("declared_on", N_("Enter the date as YYYY-MM-DD.")) from None
        _get(conn, request, event_id)
        _act(request, conn, user, event_id, action,
             _run(action, conn, request, user, event_id, parsed))
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
               comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("close", request, event_id, user, conn, {"comment": comment})


@router.post("/events/{event_id}/qualify-esr", include_in_schema=False)
def qualify_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                 comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("qualify-esr", request, event_id, user, conn, {"comment": comment})


@router.post("/events/{event_id}/declare", include_in_schema=False)
def declare_form(request: Request, event_id: Id, user: Pcr, conn: Db,
                 declared_on: Annotated[str, Form()] = "",
                 reference: Annotated[str, Form()] = "",
                 comment: Annotated[str, Form()] = "") -> Response:
    return _form_action("declare", request, event_id, user, conn,
                        {"declared_on": declared_on, "reference": reference, "comment": comment})


def _timeline(request: Request, conn: sqlite3.Connection, user: User, event_id: int,
              before_min: int | None, after_min: int | None) -> dict[str, Any]:
    settings = _settings(request)
    event = _get(conn, request, event_id)
    before = settings.timeline_before_min if before_min is None else before_min
    after = settings.timeline_after_min if after_min is None else after_min
    data = ev.timeline(conn, event, before, after)
    return {**data, "event": event, "generated_at": timefmt.iso(_now(request).timestamp()),
            "generated_by": user.display_name or user.username}


WindowMin = Annotated[int | None, Query(ge=0, le=1440,
                                        description="minutes (default: [events] config)")]


@router.get("/events/{event_id}/timeline", response_class=HTMLResponse, include_in_schema=False)
def timeline_page(request: Request, event_id: Id, user: Viewer, conn: Db,
                  before_min: WindowMin = None, after_min: WindowMin = None) -> Response:
    data = _timeline(request, conn, user, event_id, before_min, after_min)
    return render(request, "events/timeline.html", {**_page_ctx(request), **data})


# -- API -------------------------------------------------------------------------------------


@router.get("/api/events", response_model=EventListOut, tags=["events"])
def api_events(
    request: Request, user: Viewer, conn: Db,
    state: Literal["open", "acknowledged", "closed"] | None = None,
    kind: Annotated[KindName | None, Query()] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    room: Annotated[str | None, Query(max_length=64)] = None,
    esr: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Events, open ones first, then acknowledged, then closed; newest first in each."""
    filters = ev.Filters(state=state, kind=kind, site=site, room=room, esr=esr, limit=limit,
                         offset=offset)
    rows = ev.list_events(conn, filters, workdays.today(_now(request)),
                          _settings(request).due_soon_days)
    return {"events": rows, "limit": limit, "offset": offset}


@router.get("/api/events/{event_id}", response_model=EventDetailOut, tags=["events"])
def api_event(request: Request, event_id: Id, user: Viewer, conn: Db) -> dict[str, Any]:
    """One event with its notes (who did what, when, with which comment)."""
    return _get(conn, request, event_id)


@router.get("/api/events/{event_id}/timeline", response_model=TimelineOut, tags=["events"])
def api_timeline(request: Request, event_id: Id, user: Viewer, conn: Db,
                 before_min: WindowMin = None, after_min: WindowMin = None) -> dict[str, Any]:
    """What the room's device stored around the event (the annex of a declaration)."""
    return _timeline(request, conn, user, event_id, before_min, after_min)


_BODY_FIELDS = {"comment", "declared_on", "reference"}


def _api_action(action: str, request: Request, event_id: int, user: User,
                conn: sqlite3.Connection, values: dict[str, Any]) -> Response | dict[str, Any]:
    _get(conn, request, event_id)
    try:
        _act(request, conn, user, event_id, action,
             _run(action, conn, request, user, event_id, values))
    except ev.EventError as exc:
        loc = ["body", exc.field] if exc.field in _BODY_FIELDS else [exc.field]
        message = exc.message.format(**exc.params)
        return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": "event_error"}]},
                            status_code=422)
    return {"event": _get(conn, request, event_id)}


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such event"},
    422: {"description": "a bad value or a refused transition; detail[].loc names the field"},
}


@router.post("/api/events/{event_id}/acknowledge", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_acknowledge(request: Request, event_id: Id, body: CommentBody, user: Pcr,
                    conn: Db) -> Response | dict[str, Any]:
    """open → acknowledged, with a comment."""
    return _api_action("acknowledge", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/close", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_close(request: Request, event_id: Id, body: CommentBody, user: Pcr,
              conn: Db) -> Response | dict[str, Any]:
    """acknowledged → closed, with a comment; an ESR must be declared first."""
    return _api_action("close", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/qualify-esr", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_qualify(request: Request, event_id: Id, body: CommentBody, user: Pcr,
                conn: Db) -> Response | dict[str, Any]:
    """Qualify as an ESR: the declaration is due two working days after detection."""
    return _api_action("qualify-esr", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/declare", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_declare(request: Request, event_id: Id, body: DeclareBody, user: Pcr,
                conn: Db) -> Response | dict[str, Any]:
    """Record the ESR's declaration: the date it was made and the regulator's reference."""
    return _api_action("declare", request, event_id, user, conn, body.model_dump())
