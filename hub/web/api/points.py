"""API: the measurement points of the quarterly reports (session or bearer token).

``GET /api/points`` (with each point's effective thresholds), ``POST /api/points``
(a manual point, pcr), ``PUT /api/points/{id}/thresholds`` (pcr),
``PUT /api/points/{id}/zoning`` (pcr: the zones declared at the delimitation and the
initial verification, and the natural background to subtract); audited
(``point.*``). The page is ``/points`` (:mod:`hub.web.pages.reports`), which shares
:func:`set_zoning`.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.db.connection import write
from hub.reports import points as pts
from hub.web import audit
from hub.web.api.reports import ERRORS, Answer, error_json, not_found
from hub.web.auth import User
from hub.web.deps import Db, Pcr, Viewer, config_of
from hub.web.params import Id

router = APIRouter()


def zoning_values(request: Request, point: pts.Point) -> dict[str, Any]:
    return pts.thresholds(point, config_of(request).zoning)


class ThresholdsBody(BaseModel):
    """The point's overrides in mSv; a missing or null key takes the site's value."""

    model_config = ConfigDict(extra="forbid")
    non_regulated_msv_month: float | None = None
    supervised_msv_month: float | None = None
    controlled_green_msv_month: float | None = None
    controlled_yellow_msv_h: float | None = None
    controlled_orange_msv_h: float | None = None


class ZoningBody(BaseModel):
    """The point's declared zones and natural background; what is not given is cleared."""

    model_config = ConfigDict(extra="forbid")
    declared: dict[str, str | None] = Field(
        default_factory=dict,
        description="zone codes (non_regulated, supervised, controlled_green, "
                    "controlled_yellow, controlled_orange, controlled_red) by generator state: "
                    "`permanent` (one zone at all times), or any of `off`, `powered`, "
                    "`emitting` (an intermittent zone; never lower in a later state)")
    background_cpm: float | None = Field(
        default=None,  # NaN and infinities are refused by the range check, naming the field
        description="natural background to subtract, counts per minute (0 to 10,000); null: "
                    "measured, the median of the quarter's hours with the generator unpowered")


def set_zoning(request: Request, conn: sqlite3.Connection, user: User, point_id: int,
               declared: dict[str, str | None], background_cpm: float | None) -> pts.Point:
    """Set a point's declared zones and background (reports prepared from then on use them;
    signed ones keep theirs); audited in the same transaction."""
    with write(conn):
        point = pts.set_zoning(conn, pts.get_point(conn, point_id), declared, background_cpm)
        audit.record(conn, user, "point.zoning", f"point:{point_id}",
                     {"declared": dict(point.declared),
                      "background_cpm": point.background_cpm}, request)
    return point


def zoning_error(exc: pts.PointError) -> JSONResponse:
    """A refused zoning as a 422 whose ``loc`` names the field (a state is under
    ``declared``)."""
    where = ["background_cpm"] if exc.field == "background_cpm" else ["declared", exc.field]
    return JSONResponse({"detail": [{"loc": ["body", *where],
                                     "msg": exc.message.format(**exc.params),
                                     "type": "point_error"}]}, status_code=exc.status)


class PointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str
    name: str


def _point_out(request: Request, point: pts.Point) -> dict[str, Any]:
    return {**point.as_dict(), "thresholds": zoning_values(request, point)}


@router.get("/api/points", tags=["points"])
def api_points(request: Request, user: Viewer, conn: Db,
               device: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    """Measurement points with their effective thresholds (mSv) and where each comes from
    (read only: probe points of new devices are made by the scheduler)."""
    return {"points": [_point_out(request, p) for p in pts.list_points(conn, device=device)]}


@router.post("/api/points", tags=["points"], responses=ERRORS,
             response_model=None)
def api_add_point(request: Request, body: PointBody, user: Pcr, conn: Db) -> Answer:
    """A manual point (passive dosimeter, survey-meter spot checks) in a device's room."""
    try:
        with write(conn):
            point = pts.add_manual_point(conn, body.device, body.name, user.username)
            audit.record(conn, user, "point.create", f"point:{point.id}", point.as_dict(),
                         request)
    except pts.PointError as exc:
        return error_json(exc, {"device", "name"})
    return _point_out(request, point)


@router.put("/api/points/{point_id}/thresholds", tags=["points"], responses=ERRORS,
             response_model=None)
def api_thresholds(request: Request, point_id: Id, body: ThresholdsBody, user: Pcr,
                   conn: Db) -> Answer:
    """Override some of the site's zoning thresholds for this point (reports prepared
    from then on use them; signed ones keep theirs)."""
    try:
        with write(conn):
            point = pts.get_point(conn, point_id)
            point = pts.set_override(conn, point, config_of(request).zoning, body.model_dump())
            audit.record(conn, user, "point.thresholds", f"point:{point_id}",
                         dict(point.override), request)
    except pts.PointError as exc:
        if exc.status == 404:
            raise not_found(exc) from None
        return error_json(exc, set(ThresholdsBody.model_fields))
    return _point_out(request, point)


@router.put("/api/points/{point_id}/zoning", tags=["points"], responses=ERRORS,
            response_model=None)
def api_zoning(request: Request, point_id: Id, body: ZoningBody, user: Pcr,
               conn: Db) -> Answer:
    """Set the zones declared for this point (from the delimitation and the initial
    verification) and its natural background: the quarterly reports prepared from then on
    give each month's verdict against them (signed ones keep theirs)."""
    try:
        point = set_zoning(request, conn, user, point_id, body.declared, body.background_cpm)
    except pts.PointError as exc:
        if exc.status == 404:
            raise not_found(exc) from None
        return zoning_error(exc)
    return _point_out(request, point)
