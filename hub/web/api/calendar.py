"""API: the verification calendar (session or bearer token).

``GET /api/controls`` (every room's next due dates, per point for the workplace
verification), ``GET /api/controls/types`` (in force, then the legacy ones of
records kept), ``GET /api/controls/records``, ``POST /api/controls/records``,
``POST /api/controls/rooms`` and ``POST /api/controls/occasions`` (pcr, audited),
``PUT /api/controls/types/{key}`` (admin, audited: a built-in type's interval, an
optional type enabled); a refused value is a 422 naming the field. The pages and
the feed: :mod:`hub.web.pages.calendar`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub import workdays
from hub.controls import actions as ca
from hub.controls import records as cr
from hub.controls.due import due_items
from hub.controls.schedule import parse_day
from hub.controls.types import ControlError
from hub.db.connection import write
from hub.web import audit
from hub.web.deps import Admin, Db, Pcr, Viewer, config_of, now_of

router = APIRouter()


class DueOut(BaseModel):
    site: str
    room: str
    device_kind: Literal["fixed", "mobile"]
    control: str
    name: str
    source: Literal["builtin", "optional", "config", "site", "legacy"]
    slot: str = Field(description="the type, and the point of a workplace verification")
    point_id: int | None = None
    point_name: str | None = None
    basis: str = ""
    last_by_report: bool = False
    report: dict[str, Any] | None = Field(
        default=None, description="the latest signed quarterly report of the point: closes"
                                  " the verification, or the conditions that failed")
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
    #: None when the stored day is unreadable (written by hand): ``done_on_stored`` has it.
    done_on: date | None
    done_on_stored: str
    result: Literal["ok", "not_ok"]
    performed_by: str
    note: str
    document_ref: str
    recorded_at: str
    recorded_by: str
    point_id: int | None = None


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
    point_id: int | None = Field(default=None, ge=1, description="the measurement point of"
                                 " a workplace verification (required where the room has"
                                 " points)")


class OccasionBody(BaseModel):
    """A modification or a maintenance of a room's equipment, on a day (not in the future)."""

    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    room: str = Field(min_length=1, max_length=64)
    kind: Literal["modification", "maintenance"]
    on_day: date
    note: str = Field(min_length=1, max_length=ca.NOTE_MAX)


class TypeSettingBody(BaseModel):
    """The site's interval of a built-in type (within the law's longest), or an optional
    (quality control) type enabled."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    period_months: int | None = Field(default=None, ge=1, le=120)
    period_months_mobile: int | None = Field(default=None, ge=1, le=120)


class RoomBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    room: str = Field(min_length=1, max_length=64)
    device_kind: Literal["fixed", "mobile"] = "fixed"
    received_on: date | None = None
    first_use_on: date | None = None
    use_changed_on: date | None = None


_BODY = {"site", "room", "control", "done_on", "result", "performed_by", "note",
         "document_ref", "point_id", "device_kind", "received_on", "first_use_on",
         "use_changed_on", "kind", "on_day", "enabled", "period_months",
         "period_months_mobile"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "a bad value; detail[].loc names the field"}}


def _refused(exc: ControlError) -> JSONResponse:
    field = "point_id" if exc.field == "point" else exc.field
    loc = ["path", "key"] if field == "key" else ["body", field] if field in _BODY else [field]
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
    items = [i for i in due_items(conn, config_of(request).controls, today)
             if (site is None or i["site"] == site) and (room is None or i["room"] == room)
             and (status is None or i["status"] == status)]
    items.sort(key=lambda i: (i["due"] is None, i["due"] or "", i["site"], i["room"]))
    return {"today": today, "items": items}


@router.get("/api/controls/types", tags=["controls"])
def api_types(request: Request, user: Viewer, conn: Db) -> list[dict[str, Any]]:
    """The verification types in force (built-in, optional enabled, configured, added on
    the page), then the legacy types of records kept (``legacy``: read-only)."""
    settings = config_of(request).controls
    return [t.as_dict() for t in (*cr.types_in_force(conn, settings),
                                  *cr.legacy_types(conn, settings))]


@router.get("/api/controls/records", response_model=list[RecordOut], tags=["controls"])
def api_records(user: Viewer, conn: Db,
                site: Annotated[str | None, Query(max_length=64)] = None,
                room: Annotated[str | None, Query(max_length=64)] = None,
                control: Annotated[str | None, Query(max_length=40)] = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """The verifications recorded, the most recent first (never changed nor deleted); a
    day stored unreadable is given as ``done_on: null`` beside the text stored."""
    rows = cr.history(conn, site, room, control, limit)
    for row in rows:
        day = parse_day(row["done_on"])
        row["done_on_stored"], row["done_on"] = str(row["done_on"]), day
    return rows


@router.post("/api/controls/records", status_code=201, tags=["controls"], responses=_ERRORS)
def api_record(request: Request, body: RecordBody, user: Pcr, conn: Db) -> Any:
    """Record a control done: the room's next due date moves, an overdue event ends."""
    try:
        with write(conn):
            done = ca.record_done(conn, config_of(request).controls, user.username, body.site,
                                  body.room, body.control, body.done_on, body.result,
                                  body.performed_by, body.note, body.document_ref,
                                  now_of(request), body.point_id)
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


@router.post("/api/controls/occasions", status_code=201, tags=["controls"], responses=_ERRORS)
def api_occasion(request: Request, body: OccasionBody, user: Pcr, conn: Db) -> Any:
    """A modification (the initial verifications fall due again) or a maintenance (the
    verification on return to service falls due) of a room's equipment."""
    try:
        with write(conn):
            added = ca.add_occasion(conn, config_of(request).controls, user.username,
                                    body.site, body.room, body.kind, body.on_day, body.note,
                                    now_of(request))
            audit.record(conn, user, "control.occasion", f"room:{body.site}/{body.room}",
                         added, request)
    except ControlError as exc:
        return _refused(exc)
    return added


@router.put("/api/controls/types/{key}", tags=["controls"], responses=_ERRORS)
def api_type_setting(request: Request, key: Annotated[str, Path(max_length=40)],
                     body: TypeSettingBody, user: Admin, conn: Db) -> Any:
    """The site's setting of a built-in or optional verification type."""
    try:
        with write(conn):
            change = ca.set_type(conn, config_of(request).controls, user.username, key,
                                 body.enabled, body.period_months, body.period_months_mobile,
                                 now_of(request))
            audit.record(conn, user, "control.type_settings", f"control_type:{key}", change,
                         request)
    except ControlError as exc:
        return _refused(exc)
    return change
