"""API: the events (session or bearer token), and the actions the pages share.

``GET /api/events``, ``GET /api/events/{id}``, ``GET /api/events/{id}/timeline``,
``POST /api/events/{id}/acknowledge|close|qualify-esr|declare`` with JSON
bodies; a refused value or transition is a 422 whose ``detail[].loc`` names
the field. Viewers see; the ``pcr`` role acts. Every action (:func:`act`, also
used by :mod:`hub.web.pages.events`) is one write transaction: the event, its
``event_notes`` row and the audit record, or nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub import timefmt, workdays
from hub.config import Events as EventSettings
from hub.db.connection import write
from hub.events import workflow as ev
from hub.events.timeline import timeline as event_timeline
from hub.web import audit
from hub.web.auth import User
from hub.web.deps import Db, Pcr, Viewer, now_of
from hub.web.params import Id, Offset

router = APIRouter()

Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=ev.COMMENT_MAX)]
KindName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]


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
        description="exposures, alarms, input changes and the device's other events, in order;"
                    " a journaled input change (type change) gives its first and last edge and"
                    " count (a run), an older agent's live state (type signal) has journaled"
                    " false")
    readings: list[dict[str, Any]] = Field(description="the dose-rate series")
    truncated: bool
    generated_at: str
    generated_by: str


class ActionOut(BaseModel):
    event: EventDetailOut


# -- the actions, shared with the pages ------------------------------------------------


def event_settings(request: Request) -> EventSettings:
    return request.app.state.config.events  # type: ignore[no-any-return]


def get_event(conn: sqlite3.Connection, request: Request, event_id: int) -> dict[str, Any]:
    try:
        return ev.get_event(conn, event_id, workdays.today(now_of(request)),
                            event_settings(request).due_soon_days)
    except ev.EventNotFound:
        raise HTTPException(status_code=404, detail=f"event {event_id}: not found") from None


def act(request: Request, conn: sqlite3.Connection, user: User, event_id: int, action: str,
        run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One transaction: the action (event row and note) and its audit record, or nothing."""
    with write(conn):
        result = run()
        audit.record(conn, user, f"event.{action}", f"event:{event_id}", result,
                     request=request)
    return result


def run_action(action: str, conn: sqlite3.Connection, request: Request, user: User,
               event_id: int, values: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    now = now_of(request)
    if action == "acknowledge":
        return lambda: ev.acknowledge(conn, event_id, user.username, values["comment"], now)
    if action == "close":
        return lambda: ev.close(conn, event_id, user.username, values["comment"], now)
    if action == "qualify-esr":
        am = event_settings(request).alsace_moselle
        return lambda: ev.qualify_esr(conn, event_id, user.username, values["comment"], now, am)
    return lambda: ev.declare(conn, event_id, user.username, values["declared_on"],
                              values["reference"], values.get("comment", ""), now)


def timeline(request: Request, conn: sqlite3.Connection, user: User, event_id: int,
             before_min: int | None, after_min: int | None) -> dict[str, Any]:
    settings = event_settings(request)
    event = get_event(conn, request, event_id)
    before = settings.timeline_before_min if before_min is None else before_min
    after = settings.timeline_after_min if after_min is None else after_min
    data = event_timeline(conn, event, before, after)
    return {**data, "event": event, "generated_at": timefmt.iso(now_of(request).timestamp()),
            "generated_by": user.display_name or user.username}


WindowMin = Annotated[int | None, Query(ge=0, le=1440,
                                        description="minutes (default: [events] config)")]


# -- routes ------------------------------------------------------------------------------------


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
    rows = ev.list_events(conn, filters, workdays.today(now_of(request)),
                          event_settings(request).due_soon_days)
    return {"events": rows, "limit": limit, "offset": offset}


@router.get("/api/events/{event_id}", response_model=EventDetailOut, tags=["events"])
def api_event(request: Request, event_id: Id, user: Viewer, conn: Db) -> dict[str, Any]:
    """One event with its notes (who did what, when, with which comment)."""
    return get_event(conn, request, event_id)


@router.get("/api/events/{event_id}/timeline", response_model=TimelineOut, tags=["events"])
def api_timeline(request: Request, event_id: Id, user: Viewer, conn: Db,
                 before_min: WindowMin = None, after_min: WindowMin = None) -> dict[str, Any]:
    """What the room's device stored around the event (the annex of a declaration)."""
    return timeline(request, conn, user, event_id, before_min, after_min)


_BODY_FIELDS = {"comment", "declared_on", "reference"}


def _api_action(action: str, request: Request, event_id: int, user: User,
                conn: sqlite3.Connection, values: dict[str, Any]) -> Response | dict[str, Any]:
    get_event(conn, request, event_id)
    try:
        act(request, conn, user, event_id, action,
             run_action(action, conn, request, user, event_id, values))
    except ev.EventError as exc:
        loc = ["body", exc.field] if exc.field in _BODY_FIELDS else [exc.field]
        message = exc.message.format(**exc.params)
        return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": "event_error"}]},
                            status_code=422)
    return {"event": get_event(conn, request, event_id)}


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
