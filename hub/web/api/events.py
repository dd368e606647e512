"""API: the events (session or bearer token), and the actions the pages share.

``GET /api/events``, ``GET /api/events/{id}``, ``GET /api/events/{id}/timeline``,
``GET /api/events/followups`` (the ESR follow-up reports due),
``POST /api/events/{id}/acknowledge|close|qualify-esr|unqualify-esr|declare|followup|``
``materiovigilance`` with JSON bodies; a refused value or transition is a 422 whose
``detail[].loc`` names the field. Viewers see; the ``pcr`` role acts. Every action
(:func:`act`, also used by :mod:`hub.web.pages.events`) is one write transaction: the
event, its ``event_notes`` row and the audit record, or nothing.
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
from hub.events import criteria as esr_criteria
from hub.events import esr
from hub.events import workflow as ev
from hub.events.followup import due_followups
from hub.events.timeline import timeline as event_timeline
from hub.web import audit
from hub.web.auth import User
from hub.web.deps import Db, Pcr, Viewer, now_of
from hub.web.params import Id, Offset

router = APIRouter()

Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=ev.COMMENT_MAX)]
KindName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
OptionalComment = Annotated[str, StringConstraints(strip_whitespace=True,
                                                   max_length=ev.COMMENT_MAX)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True,
                                             pattern=ev.REFERENCE_RE.pattern)]


# -- API models ------------------------------------------------------------------------------


class CommentBody(BaseModel):
    """A comment: what was seen, what was done (required, at most 2,000 characters)."""

    model_config = ConfigDict(extra="forbid")
    comment: Comment


class CloseBody(CommentBody):
    """The conclusion; a declared ESR's also needs the regulator's outcome."""

    outcome: Annotated[str, StringConstraints(strip_whitespace=True,
                                              max_length=ev.OUTCOME_MAX)] = ""


class QualifyBody(CommentBody):
    """Why it is significant, and the guide n°11 criterion (a code of the list in force)."""

    criterion: Annotated[str, StringConstraints(strip_whitespace=True,
                                                pattern=esr_criteria.CODE_RE.pattern)]


class UnqualifyBody(BaseModel):
    """Why the event is not an ESR after all (required)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=esr.REASON_MAX)]


class DeclareBody(BaseModel):
    """The declaration made to the regulator: its date and the regulator's reference."""

    model_config = ConfigDict(extra="forbid")
    declared_on: date
    reference: Reference
    comment: OptionalComment = ""


class FollowupBody(BaseModel):
    """The follow-up report (compte rendu) sent to the regulator: its date and reference."""

    model_config = ConfigDict(extra="forbid")
    sent_on: date
    reference: Reference
    comment: OptionalComment = ""


class MateriovigilanceBody(BaseModel):
    """The matériovigilance report made to the ANSM: its date and reference."""

    model_config = ConfigDict(extra="forbid")
    reported_on: date
    reference: Reference
    comment: OptionalComment = ""


class NoteOut(BaseModel):
    id: int
    at: str
    username: str
    action: Literal["acknowledge", "close", "qualify_esr", "declare", "note",
                    "unqualify_esr", "followup", "materiovigilance"]
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
    esr_criterion: str | None = Field(description="the guide n°11 criterion's code")
    esr_criteria_version: str | None = Field(description="the criteria list it was chosen in")
    followup_due: str | None = Field(
        description="YYYY-MM-DD: the follow-up report (compte rendu) is due")
    followup_at: str | None = Field(description="YYYY-MM-DD: the follow-up report was sent")
    followup_ref: str | None
    followup_status: Literal["overdue", "soon", "pending"] | None = Field(
        description="for a declared ESR whose follow-up report is not recorded")
    materiovigilance_at: str | None = Field(
        description="YYYY-MM-DD: a device malfunction reported to the ANSM")
    materiovigilance_ref: str | None
    esr_outcome: str | None = Field(description="the regulator's outcome, at closing")
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
    end_clamped: bool = Field(False, description="true: the window's end was cut at the time"
                              " the timeline was made (generated_at)")
    generated_at: str
    generated_by: str


class ActionOut(BaseModel):
    event: EventDetailOut


class FollowupOut(BaseModel):
    event_id: int
    kind: str
    device: str
    site: str
    room: str
    declared_at: str
    due_on: str
    declaration_ref: str


class FollowupsOut(BaseModel):
    followups: list[FollowupOut]


# -- the actions, shared with the pages ------------------------------------------------


def event_settings(request: Request) -> EventSettings:
    return request.app.state.config.events  # type: ignore[no-any-return]


def get_event(conn: sqlite3.Connection, request: Request, event_id: int) -> dict[str, Any]:
    try:
        settings = event_settings(request)
        return ev.get_event(conn, event_id, workdays.today(now_of(request)),
                            settings.due_soon_days, settings.followup_months)
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


def criteria_in_force(request: Request) -> esr_criteria.Criteria:
    """The guide n°11 criteria of this site (read and checked with the configuration)."""
    return esr_criteria.in_force(event_settings(request).esr_criteria_file)


def run_action(action: str, conn: sqlite3.Connection, request: Request, user: User,
               event_id: int, values: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    now, who, settings = now_of(request), user.username, event_settings(request)
    comment = values.get("comment", "")
    actions: dict[str, Callable[[], dict[str, Any]]] = {
        "acknowledge": lambda: ev.acknowledge(conn, event_id, who, comment, now),
        "close": lambda: ev.close(conn, event_id, who, comment, now, values.get("outcome", "")),
        "qualify-esr": lambda: esr.qualify_esr(
            conn, event_id, who, comment, now, settings.alsace_moselle,
            criterion=values.get("criterion", ""), criteria=criteria_in_force(request)),
        "unqualify-esr": lambda: esr.unqualify_esr(conn, event_id, who,
                                                   values.get("reason", ""), now),
        "declare": lambda: esr.declare(conn, event_id, who, values["declared_on"],
                                       values["reference"], comment, now,
                                       settings.followup_months),
        "followup": lambda: esr.record_followup(conn, event_id, who, values["sent_on"],
                                                values["reference"], comment, now),
        "materiovigilance": lambda: esr.record_materiovigilance(
            conn, event_id, who, values["reported_on"], values["reference"], comment, now),
    }
    return actions[action]


def timeline(request: Request, conn: sqlite3.Connection, user: User, event_id: int,
             before_min: int | None, after_min: int | None) -> dict[str, Any]:
    settings = event_settings(request)
    event = get_event(conn, request, event_id)
    before = settings.timeline_before_min if before_min is None else before_min
    after = settings.timeline_after_min if after_min is None else after_min
    now = now_of(request)
    data = event_timeline(conn, event, before, after, now)
    return {**data, "event": event, "generated_at": timefmt.iso(now.timestamp()),
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
    settings = event_settings(request)
    rows = ev.list_events(conn, filters, workdays.today(now_of(request)),
                          settings.due_soon_days, settings.followup_months)
    return {"events": rows, "limit": limit, "offset": offset}


@router.get("/api/events/followups", response_model=FollowupsOut, tags=["events"])
def api_followups(request: Request, user: Viewer, conn: Db) -> dict[str, Any]:
    """The declared ESRs whose follow-up report (compte rendu) is not recorded, soonest due
    first."""
    return {"followups": due_followups(conn, event_settings(request).followup_months,
                                       workdays.today(now_of(request)))}


@router.get("/api/events/{event_id}", response_model=EventDetailOut, tags=["events"])
def api_event(request: Request, event_id: Id, user: Viewer, conn: Db) -> dict[str, Any]:
    """One event with its notes (who did what, when, with which comment)."""
    return get_event(conn, request, event_id)


@router.get("/api/events/{event_id}/timeline", response_model=TimelineOut, tags=["events"])
def api_timeline(request: Request, event_id: Id, user: Viewer, conn: Db,
                 before_min: WindowMin = None, after_min: WindowMin = None) -> dict[str, Any]:
    """What the room's device stored around the event (the annex of a declaration)."""
    return timeline(request, conn, user, event_id, before_min, after_min)


_BODY_FIELDS = {"comment", "declared_on", "reference", "criterion", "reason", "outcome",
                "sent_on", "reported_on"}


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
def api_close(request: Request, event_id: Id, body: CloseBody, user: Pcr,
              conn: Db) -> Response | dict[str, Any]:
    """acknowledged → closed, with a comment; an ESR must be declared first, and closes
    with the regulator's outcome (``outcome``)."""
    return _api_action("close", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/qualify-esr", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_qualify(request: Request, event_id: Id, body: QualifyBody, user: Pcr,
                conn: Db) -> Response | dict[str, Any]:
    """Qualify as an ESR under a guide n°11 criterion: the declaration is due two working
    days after detection."""
    return _api_action("qualify-esr", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/unqualify-esr", response_model=ActionOut,
             tags=["events"], responses=_ERRORS)
def api_unqualify(request: Request, event_id: Id, body: UnqualifyBody, user: Pcr,
                  conn: Db) -> Response | dict[str, Any]:
    """Undo a wrong ESR qualification (before the declaration), with the reason."""
    return _api_action("unqualify-esr", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/declare", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_declare(request: Request, event_id: Id, body: DeclareBody, user: Pcr,
                conn: Db) -> Response | dict[str, Any]:
    """Record the ESR's declaration: the date it was made and the regulator's reference."""
    return _api_action("declare", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/followup", response_model=ActionOut, tags=["events"],
             responses=_ERRORS)
def api_followup(request: Request, event_id: Id, body: FollowupBody, user: Pcr,
                 conn: Db) -> Response | dict[str, Any]:
    """Record the ESR's follow-up report (compte rendu): when it was sent, its reference."""
    return _api_action("followup", request, event_id, user, conn, body.model_dump())


@router.post("/api/events/{event_id}/materiovigilance", response_model=ActionOut,
             tags=["events"], responses=_ERRORS)
def api_materiovigilance(request: Request, event_id: Id, body: MateriovigilanceBody,
                         user: Pcr, conn: Db) -> Response | dict[str, Any]:
    """Flag a device malfunction reported to the ANSM: the report's date and reference."""
    return _api_action("materiovigilance", request, event_id, user, conn, body.model_dump())
