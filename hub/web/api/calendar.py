"""API: the control calendar (session or bearer token).

``GET /api/controls`` (every room's next due dates), ``GET /api/controls/types``,
``GET /api/controls/records``, ``POST /api/controls/records`` and
``POST /api/controls/rooms`` (pcr, audited); a refused value is a 422 naming
the field. The pages and the feed: :mod:`hub.web.pages.calendar`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub import workdays
from hub.controls import actions as ca
from hub.controls import records as cr
from hub.controls.types import ControlError
from hub.db.connection import write
from hub.web import audit
from hub.web.deps import Db, Pcr, Viewer, config_of, now_of

router = APIRouter()


class DueOut(BaseModel):
    site: str
    room: str
    device_kind: Literal["fixed", "mobile"]
    control: str
    name: str
    source: Literal["builtin", "config", "site"]
    period_months: int | None
    due: date | None = Field(description="next due date (Europe/Paris calendar day)")
    reason: str | None = Field(description="periodic, receipt, first_use, change_of_use,"
                                           " recheck or first_record")
    status: Literal["overdue", "soon", "upcoming", "ok", "unscheduled"]
    remind_days: int | None = Field(description="the reminder reached (30, 7) or null")
    days_left: int | None
    last_done: date | None
    last_result: Literal["ok", "not_ok"] | None
    records: int


class DueListOut(BaseModel):
    today: date
    items: list[DueOut]


class RecordOut(BaseModel):
    id: int
    site: str
    room: str
    control: str
    done_on: date
    result: Literal["ok", "not_ok"]
    performed_by: str
    note: str
    document_ref: str
    recorded_at: str
    recorded_by: str


class RecordBody(BaseModel):
    """A control done: who performed it (a person or an organisation), when, its result."""

    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    room: str = Field(min_length=1, max_length=64)
    control: str = Field(min_length=1, max_length=40)
    done_on: date
    result: Literal["ok", "not_ok"]
    performed_by: str = Field(min_length=1, max_length=ca.PERFORMER_MAX)
    note: str = Field(default="", max_length=ca.NOTE_MAX)
    document_ref: str = Field(default="", max_length=ca.DOCUMENT_MAX)


class RoomBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    room: str = Field(min_length=1, max_length=64)
    device_kind: Literal["fixed", "mobile"] = "fixed"
    received_on: date | None = None
    first_use_on: date | None = None
    use_changed_on: date | None = None


_BODY = {"site", "room", "control", "done_on", "result", "performed_by", "note",
         "document_ref", "device_kind", "received_on", "first_use_on", "use_changed_on"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "a bad value; detail[].loc names the field"}}


def _refused(exc: ControlError) -> JSONResponse:
    loc = ["body", exc.field] if exc.field in _BODY else [exc.field]
    return JSONResponse({"detail": [{"loc": loc, "msg": exc.message.format(**exc.params),
                                     "type": "control_error"}]}, status_code=422)


@router.get("/api/controls", response_model=DueListOut, tags=["controls"])
def api_controls(request: Request, user: Viewer, conn: Db,
                 site: Annotated[str | None, Query(max_length=64)] = None,
                 room: Annotated[str | None, Query(max_length=64)] = None,
                 status: Literal["overdue", "soon", "upcoming", "ok", "unscheduled"] | None = None,
                 ) -> dict[str, Any]:
    """Every room's next due date of every control type, the earliest first."""
    today = workdays.today(now_of(request))
    items = [i for i in cr.due_items(conn, config_of(request).controls, today)
             if (site is None or i["site"] == site) and (room is None or i["room"] == room)
             and (status is None or i["status"] == status)]
    items.sort(key=lambda i: (i["due"] is None, i["due"] or "", i["site"], i["room"]))
    return {"today": today, "items": items}


@router.get("/api/controls/types", tags=["controls"])
def api_types(request: Request, user: Viewer, conn: Db) -> list[dict[str, Any]]:
    """The control types in force: built-in, configured, added on the page."""
    return [t.as_dict() for t in cr.types_in_force(conn, config_of(request).controls)]


@router.get("/api/controls/records", response_model=list[RecordOut], tags=["controls"])
def api_records(user: Viewer, conn: Db,
                site: Annotated[str | None, Query(max_length=64)] = None,
                room: Annotated[str | None, Query(max_length=64)] = None,
                control: Annotated[str | None, Query(max_length=40)] = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """The controls recorded, the most recent first (never changed nor deleted)."""
    return cr.history(conn, site, room, control, limit)


@router.post("/api/controls/records", status_code=201, tags=["controls"], responses=_ERRORS)
def api_record(request: Request, body: RecordBody, user: Pcr, conn: Db) -> Any:
    """Record a control done: the room's next due date moves, an overdue event ends."""
    try:
        with write(conn):
            done = ca.record_done(conn, config_of(request).controls, user.username, body.site,
                                  body.room, body.control, body.done_on, body.result,
                                  body.performed_by, body.note, body.document_ref,
                                  now_of(request))
            audit.record(conn, user, "control.record",
                         f"control:{body.site}/{body.room}/{body.control}", done, request)
    except ControlError as exc:
        return _refused(exc)
    return {"record": done}


@router.post("/api/controls/rooms", tags=["controls"], responses=_ERRORS)
def api_room(request: Request, body: RoomBody, user: Pcr, conn: Db) -> Any:
    """A room's device kind (fixed or mobile) and its receipt, first use, change of use
    dates (null: unknown)."""
    try:
        with write(conn):
            change = ca.set_room(conn, config_of(request).controls, user.username, body.site,
                                 body.room, body.device_kind, body.received_on,
                                 body.first_use_on, body.use_changed_on, now_of(request))
            audit.record(conn, user, "control.room", f"room:{body.site}/{body.room}", change,
                         request)
    except ControlError as exc:
        return _refused(exc)
    return change
