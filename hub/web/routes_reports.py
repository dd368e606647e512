"""Quarterly ambient reports and measurement points: pages and API (issue 5).

Pages (session): ``/reports`` (list, search by room, quarter, status, text),
``/reports/{id}`` (the report with its chart; PCR forms: add a manual
measurement, recompute a draft, sign, correct), ``/reports/{id}.pdf`` and
``/reports/{id}.html`` (the signed files as frozen, or a draft rendered now),
``POST /reports/prepare`` (a point's report for any quarter),
``POST /reports/prepare-quarter`` ("Prepare now": every probe point's draft of a
quarter), ``POST /reports/{id}/measurements/{m}/delete``, ``/points`` (the
measurement points; PCR: add a manual point, override thresholds).

API (session or bearer token): ``GET /api/reports``, ``POST /api/reports``
(prepare), ``POST /api/reports/prepare-quarter``, ``GET /api/reports/{id}``,
``POST /api/reports/{id}/measurements|sign|correct|recompute``,
``DELETE /api/reports/{id}/measurements/{m}``, ``GET /api/points``,
``POST /api/points``, ``PUT /api/points/{id}/thresholds``. A refused value is
a 422 whose ``detail[].loc`` names the field; changing a signed report is a
409 saying to make a correction; an unknown id a 404.

Viewers read; the ``pcr`` role acts; every action is audited (``report.*``,
``point.*``). GETs never write: the tables are made at start (``prepare_store``),
and the drafts of the quarter just ended, with the probe points of an older
store's devices, are prepared by :func:`start_scheduler` (from the app's lifespan:
at start, then every ``[reports] prepare_every_min``) or when a PCR presses
"Prepare now".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.config import HubConfig
from hub.db.connection import connect, get_db, write
from hub.logs import log
from hub.reports import points as pts
from hub.reports import quarterly as qr
from hub.reports import render as rd
from hub.web import audit
from hub.web.auth import User, require
from hub.web.i18n import N_, gettext_for
from hub.web.params import Id, Offset
from hub.web.templating import render, translate

router = APIRouter()

Db = Annotated[sqlite3.Connection, Depends(get_db)]
Viewer = Annotated[User, Depends(require("viewer"))]
Pcr = Annotated[User, Depends(require("pcr"))]
Answer = Response | dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------


def _config(request: Request) -> HubConfig:
    return request.app.state.config  # type: ignore[no-any-return]


def _now(request: Request) -> datetime:
    """The clock (tests may put ``app.state.clock``, a callable returning an aware datetime)."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _error_json(exc: pts.PointError, body_fields: set[str]) -> JSONResponse:
    loc = ["body", exc.field] if exc.field in body_fields else [exc.field]
    return JSONResponse({"detail": [{"loc": loc, "msg": exc.message.format(**exc.params),
                                     "type": "report_error"}]}, status_code=exc.status)


def _not_found(exc: pts.PointError) -> HTTPException:
    return HTTPException(status_code=404, detail=exc.message.format(**exc.params))


def _get(conn: sqlite3.Connection, report_id: int, with_files: bool = False) -> dict[str, Any]:
    try:
        return qr.get_report(conn, report_id, with_files=with_files)
    except qr.ReportError as exc:
        raise _not_found(exc) from None


def _public(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in ("html", "pdf")}
    out["links"] = {"page": f"/reports/{report['id']}", "pdf": f"/reports/{report['id']}.pdf",
                    "html": f"/reports/{report['id']}.html"}
    return out


def _zoning_values(request: Request, point: pts.Point) -> dict[str, Any]:
    return pts.thresholds(point, _config(request).zoning)


# -- actions (shared by pages and API) -------------------------------------------------------


def _prepare(request: Request, conn: sqlite3.Connection, user: User, point_id: int,
             quarter: str) -> int:
    q = qr.parse_quarter(quarter)
    if q.next().bounds_start() > _now(request).timestamp():
        raise qr.ReportError("quarter", N_("This quarter has not ended yet."))
    point = pts.get_point(conn, point_id)
    cfg = _config(request)
    report_id = qr.prepare(conn, point, q, cfg.zoning, cfg.reports.high_coverage,
                           _now(request), user.username)
    with write(conn):
        audit.record(conn, user, "report.prepare", f"report:{report_id}",
                     {"point": point_id, "quarter": q.code}, request)
    return report_id


def _prepare_quarter(request: Request, conn: sqlite3.Connection, user: User, quarter: str
                     ) -> list[int]:
    """"Prepare now": what the scheduler does at the end of a quarter, for any ended one."""
    q = qr.parse_quarter(quarter)
    if q.next().bounds_start() > _now(request).timestamp():
        raise qr.ReportError("quarter", N_("This quarter has not ended yet."))
    cfg = _config(request)
    ids = qr.prepare_quarter(conn, q, _now(request), cfg.zoning, cfg.reports.high_coverage)
    with write(conn):
        audit.record(conn, user, "report.prepare_quarter", f"quarter:{q.code}",
                     {"quarter": q.code, "reports": ids}, request)
    return ids


def _recompute(request: Request, conn: sqlite3.Connection, user: User, report_id: int) -> None:
    cfg = _config(request)
    changed = qr.recompute(conn, report_id, cfg.zoning, cfg.reports.high_coverage,
                           _now(request))
    with write(conn):
        audit.record(conn, user, "report.recompute", f"report:{report_id}",
                     {"changed": changed}, request)


def _measure(request: Request, conn: sqlite3.Connection, user: User, report_id: int,
             values: dict[str, Any]) -> dict[str, Any]:
    with write(conn):
        result = qr.add_measurement(conn, report_id, values, user.username, _now(request))
        audit.record(conn, user, "report.measurement", f"report:{report_id}", result, request)
    return result


def _unmeasure(request: Request, conn: sqlite3.Connection, user: User, report_id: int,
               measurement_id: int) -> dict[str, Any]:
    """Remove a manual measurement from a draft; the audit record keeps what it was."""
    with write(conn):
        result = qr.remove_measurement(conn, report_id, measurement_id, _now(request))
        audit.record(conn, user, "report.measurement_remove", f"report:{report_id}", result,
                     request)
    return result


def _sign(request: Request, conn: sqlite3.Connection, user: User, report_id: int, name: str,
          expected: str) -> dict[str, Any]:
    with write(conn):
        result = qr.sign(conn, report_id, name, user.username, _now(request), rd.render_both,
                         expected)
        audit.record(conn, user, "report.sign", f"report:{report_id}", result, request)
    return result


def _correct(request: Request, conn: sqlite3.Connection, user: User, report_id: int
             ) -> dict[str, Any]:
    with write(conn):
        result = qr.correct(conn, report_id, user.username, _now(request))
        audit.record(conn, user, "report.correct", f"report:{report_id}", result, request)
    return result


# -- pages -----------------------------------------------------------------------------------


STATUSES = ("draft", "signed")


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, user: Viewer, conn: Db, room: str = "", quarter: str = "",
                 status: str = "", q: str = "") -> Response:
    """Read only: the drafts are made by the scheduler or "Prepare now", never by a GET."""
    errors: dict[str, str] = {}
    if quarter and not qr.QUARTER_RE.match(quarter):
        errors["quarter"] = translate(request, "A quarter is written like 2026-Q1.")
        quarter = ""
    if status and status not in STATUSES:
        errors["status"] = translate(request, "Unknown state.")
        status = ""
    site, _sep, room_name = room.partition("/") if "/" in room else ("", "", room)
    rows = qr.list_reports(conn, qr.Filters(site=site or None, room=room_name or None,
                                            quarter=quarter or None, status=status or None,
                                            text=q[:64] or None))
    rooms = [f"{r[0]}/{r[1]}" for r in conn.execute(
        "SELECT DISTINCT site, room FROM points ORDER BY site, room")]
    return render(request, "reports/list.html", {
        "reports": rows, "errors": errors, "rooms": rooms,
        "points": pts.list_points(conn, kind="probe"),
        "chosen": {"room": room, "quarter": quarter, "status": status, "q": q},
        "last_quarter": qr.last_ended_quarter(_now(request)).code, "local": rd.local},
        422 if errors else 200)


@router.post("/reports/prepare", include_in_schema=False)
def prepare_form(request: Request, user: Pcr, conn: Db, point_id: Annotated[str, Form()] = "",
                 quarter: Annotated[str, Form()] = "") -> Response:
    try:
        report_id = _prepare(request, conn, user, int(point_id or 0), quarter)
    except ValueError:
        return _list_error(request, conn, "point_id",
                           N_("Choose a measurement point of this room."))
    except pts.PointError as exc:
        return _list_error(request, conn, exc.field, exc.message, **exc.params)
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


@router.post("/reports/prepare-quarter", include_in_schema=False)
def prepare_quarter_form(request: Request, user: Pcr, conn: Db,
                         quarter: Annotated[str, Form()] = "") -> Response:
    try:
        _prepare_quarter(request, conn, user, quarter)
    except pts.PointError as exc:
        return _list_error(request, conn, "prepare_quarter", exc.message, **exc.params)
    return RedirectResponse(f"/reports?quarter={quarter.strip()}", status_code=303)


def _list_error(request: Request, conn: sqlite3.Connection, field: str, message: str,
                **params: Any) -> Response:
    rows = qr.list_reports(conn, qr.Filters())
    return render(request, "reports/list.html", {
        "reports": rows, "errors": {field: translate(request, message).format(**params)},
        "rooms": [], "points": pts.list_points(conn, kind="probe"),
        "chosen": {"room": "", "quarter": "", "status": "", "q": ""},
        "last_quarter": qr.last_ended_quarter(_now(request)).code, "local": rd.local}, 422)


@router.get("/reports/{report_id}.pdf", include_in_schema=False)
def report_pdf(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    report = _get(conn, report_id, with_files=True)
    pdf = report["pdf"] if report["status"] == "signed" else rd.render_pdf(
        rd.render_html(report["content"]))
    name = f"voyant-{report['site']}-{report['room']}-{report['quarter']}-v{report['version']}"
    return Response(bytes(pdf), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


@router.get("/reports/{report_id}.html", response_class=HTMLResponse, include_in_schema=False)
def report_html(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    report = _get(conn, report_id, with_files=True)
    html = report["html"] if report["status"] == "signed" else rd.render_html(report["content"])
    return HTMLResponse(str(html))


def _detail(request: Request, conn: sqlite3.Connection, report_id: int,
            errors: dict[str, dict[str, str]] | None = None,
            values: dict[str, dict[str, str]] | None = None, status_code: int = 200) -> Response:
    report = _get(conn, report_id)
    gettext = gettext_for(request).gettext
    return render(request, "reports/detail.html", {
        "report": report, "c": report["content"], "errors": errors or {},
        "values": values or {}, "room_points": pts.list_points(conn, device=report["device"]),
        **rd.helpers(gettext)}, status_code)


@router.get("/reports/{report_id}", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    return _detail(request, conn, report_id)


def _form(request: Request, conn: sqlite3.Connection, report_id: int, form: str,
          values: dict[str, str], action: Callable[[], Any]) -> Response:
    _get(conn, report_id)
    try:
        result = action()
    except pts.PointError as exc:
        message = translate(request, exc.message).format(**exc.params)
        # a refused state (409) is said at the top of the page: the form may be gone
        where = "status" if exc.status == 409 else form
        return _detail(request, conn, report_id, {where: {exc.field: message}}, {form: values},
                       exc.status)
    target = result["report"] if isinstance(result, dict) and "version" in result else report_id
    return RedirectResponse(f"/reports/{target}", status_code=303)


@router.post("/reports/{report_id}/measurements", include_in_schema=False)
def measurement_form(request: Request, report_id: Id, user: Pcr, conn: Db,
                     kind: Annotated[str, Form()] = "", point_id: Annotated[str, Form()] = "",
                     measured_on: Annotated[str, Form()] = "",
                     period_end: Annotated[str, Form()] = "",
                     value: Annotated[str, Form()] = "",
                     measured_by: Annotated[str, Form()] = "",
                     instrument: Annotated[str, Form()] = "",
                     comment: Annotated[str, Form()] = "") -> Response:
    values = {"kind": kind, "point_id": point_id, "measured_on": measured_on,
              "period_end": period_end, "value": value, "measured_by": measured_by,
              "instrument": instrument, "comment": comment}
    return _form(request, conn, report_id, "measurement", values,
                 lambda: _measure(request, conn, user, report_id, dict(values)))


@router.post("/reports/{report_id}/measurements/{measurement_id}/delete",
             include_in_schema=False)
def remove_measurement_form(request: Request, report_id: Id, measurement_id: Id, user: Pcr,
                            conn: Db) -> Response:
    return _form(request, conn, report_id, "remove", {},
                 lambda: _unmeasure(request, conn, user, report_id, measurement_id))


@router.post("/reports/{report_id}/sign", include_in_schema=False)
def sign_form(request: Request, report_id: Id, user: Pcr, conn: Db,
              name: Annotated[str, Form()] = "",
              content_sha256: Annotated[str, Form()] = "") -> Response:
    return _form(request, conn, report_id, "sign", {"name": name},
                 lambda: _sign(request, conn, user, report_id, name, content_sha256))


@router.post("/reports/{report_id}/correct", include_in_schema=False)
def correct_form(request: Request, report_id: Id, user: Pcr, conn: Db) -> Response:
    return _form(request, conn, report_id, "correct", {},
                 lambda: _correct(request, conn, user, report_id))


@router.post("/reports/{report_id}/recompute", include_in_schema=False)
def recompute_form(request: Request, report_id: Id, user: Pcr, conn: Db) -> Response:
    return _form(request, conn, report_id, "recompute", {},
                 lambda: _recompute(request, conn, user, report_id))


@router.get("/points", response_class=HTMLResponse, include_in_schema=False)
def points_page(request: Request, user: Viewer, conn: Db) -> Response:
    return _points_page(request, conn)


def _points_page(request: Request, conn: sqlite3.Connection,
                 errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                 status_code: int = 200) -> Response:
    points = pts.list_points(conn)
    zoning = _config(request).zoning
    gettext = gettext_for(request).gettext
    return render(request, "reports/points.html", {
        "points": points, "limits": {p.id: pts.thresholds(p, zoning) for p in points},
        "devices": [str(r[0]) for r in conn.execute("SELECT device FROM devices ORDER BY 1")],
        "errors": errors or {}, "values": values or {}, **rd.helpers(gettext)}, status_code)


@router.post("/points", include_in_schema=False)
def add_point_form(request: Request, user: Pcr, conn: Db, device: Annotated[str, Form()] = "",
                   name: Annotated[str, Form()] = "") -> Response:
    try:
        with write(conn):
            point = pts.add_manual_point(conn, device, name, user.username)
            audit.record(conn, user, "point.create", f"point:{point.id}", point.as_dict(),
                         request)
    except pts.PointError as exc:
        return _points_page(request, conn,
                            {exc.field: translate(request, exc.message).format(**exc.params)},
                            {"device": device, "name": name}, exc.status)
    return RedirectResponse("/points", status_code=303)


# -- API -------------------------------------------------------------------------------------


class PrepareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    point_id: int
    quarter: str = Field(description="like 2026-Q1 (Europe/Paris calendar quarter)")


class MeasurementBody(BaseModel):
    """A passive dosimeter's dose over a period (µSv) or a spot check's dose rate (µSv/h)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["passive_dosimeter", "spot_check"]
    point_id: int | None = Field(default=None, description="default: the report's point")
    measured_on: str = Field(description="YYYY-MM-DD: the day, or the period's start")
    period_end: str | None = Field(default=None, description="a dosimeter's period end")
    value: float
    measured_by: str
    instrument: str = ""
    comment: str = ""


class SignBody(BaseModel):
    """The signer signs what they read: the hash is required (409 if the draft changed)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the signer's name as it appears on the report")
    content_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the content_sha256 of the draft read: refused (409) if it changed since")


class PrepareQuarterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(description="like 2026-Q1 (Europe/Paris calendar quarter), ended")


class ThresholdsBody(BaseModel):
    """The point's overrides in mSv; a missing or null key takes the site's value."""

    model_config = ConfigDict(extra="forbid")
    non_regulated_msv_month: float | None = None
    supervised_msv_month: float | None = None
    controlled_green_msv_month: float | None = None
    controlled_yellow_msv_h: float | None = None
    controlled_orange_msv_h: float | None = None


class PointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str
    name: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such report or point"},
    409: {"description": "the report is signed (make a correction) or changed since read"},
    422: {"description": "a bad value; detail[].loc names the field"},
}


@router.get("/api/reports", tags=["reports"])
def api_reports(request: Request, user: Viewer, conn: Db,
                site: Annotated[str | None, Query(max_length=64)] = None,
                room: Annotated[str | None, Query(max_length=64)] = None,
                quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$")] = None,
                status: Literal["draft", "signed"] | None = None,
                q: Annotated[str | None, Query(max_length=64)] = None,
                latest_only: bool = False,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                offset: Offset = 0) -> dict[str, Any]:
    """Reports, newest quarter first (every version; ``latest_only`` hides corrected ones)."""
    rows = qr.list_reports(conn, qr.Filters(site=site, room=room, quarter=quarter,
                                            status=status, text=q, latest_only=latest_only,
                                            limit=limit, offset=offset))
    return {"reports": rows, "limit": limit, "offset": offset}


@router.post("/api/reports", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_prepare(request: Request, body: PrepareBody, user: Pcr, conn: Db) -> Answer:
    """Prepare (or recompute the draft of) a probe point's report for an ended quarter."""
    try:
        report_id = _prepare(request, conn, user, body.point_id, body.quarter)
    except pts.PointError as exc:
        return _error_json(exc, {"point_id", "quarter"})
    return _public(_get(conn, report_id))


@router.post("/api/reports/prepare-quarter", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_prepare_quarter(request: Request, body: PrepareQuarterBody, user: Pcr,
                        conn: Db) -> Answer:
    """"Prepare now": the drafts of every probe point for an ended quarter (the probe
    points of new devices made first; signed reports left as they are)."""
    try:
        ids = _prepare_quarter(request, conn, user, body.quarter)
    except pts.PointError as exc:
        return _error_json(exc, {"quarter"})
    return {"quarter": body.quarter.strip(), "reports": ids}


@router.get("/api/reports/{report_id}", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_report(request: Request, report_id: Id, user: Viewer, conn: Db) -> dict[str, Any]:
    """One report: its content (JSON), hash (``verified``: the content still matches it),
    versions and links to its HTML and PDF."""
    return _public(_get(conn, report_id))


@router.post("/api/reports/{report_id}/measurements", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_measurement(request: Request, report_id: Id, body: MeasurementBody, user: Pcr,
                    conn: Db) -> Answer:
    _get(conn, report_id)
    try:
        _measure(request, conn, user, report_id, body.model_dump())
    except pts.PointError as exc:
        return _error_json(exc, set(MeasurementBody.model_fields))
    return _public(_get(conn, report_id))


@router.delete("/api/reports/{report_id}/measurements/{measurement_id}", tags=["reports"],
               responses=_ERRORS, response_model=None)
def api_remove_measurement(request: Request, report_id: Id, measurement_id: Id, user: Pcr,
                           conn: Db) -> Answer:
    """Remove a wrong manual measurement from a draft (409 once signed); audited with
    the removed values."""
    _get(conn, report_id)
    try:
        _unmeasure(request, conn, user, report_id, measurement_id)
    except pts.PointError as exc:
        if exc.status == 404:
            raise _not_found(exc) from None
        return _error_json(exc, set())
    return _public(_get(conn, report_id))


@router.post("/api/reports/{report_id}/sign", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_sign(request: Request, report_id: Id, body: SignBody, user: Pcr,
             conn: Db) -> Answer:
    """Sign: the content is frozen with its SHA-256, HTML and PDF; never changed after."""
    _get(conn, report_id)
    try:
        _sign(request, conn, user, report_id, body.name, body.content_sha256)
    except pts.PointError as exc:
        return _error_json(exc, {"name", "content_sha256"})
    return _public(_get(conn, report_id))


@router.post("/api/reports/{report_id}/correct", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_correct(request: Request, report_id: Id, user: Pcr, conn: Db) -> Answer:
    """A new draft version of a signed report; the signed one is kept as it is."""
    _get(conn, report_id)
    try:
        result = _correct(request, conn, user, report_id)
    except pts.PointError as exc:
        return _error_json(exc, set())
    return _public(_get(conn, int(result["report"])))


@router.post("/api/reports/{report_id}/recompute", tags=["reports"], responses=_ERRORS,
             response_model=None)
def api_recompute(request: Request, report_id: Id, user: Pcr, conn: Db) -> Answer:
    """Recompute a draft's figures from the readings stored now (late ones included)."""
    _get(conn, report_id)
    try:
        _recompute(request, conn, user, report_id)
    except pts.PointError as exc:
        return _error_json(exc, set())
    return _public(_get(conn, report_id))


def _point_out(request: Request, point: pts.Point) -> dict[str, Any]:
    return {**point.as_dict(), "thresholds": _zoning_values(request, point)}


@router.get("/api/points", tags=["points"])
def api_points(request: Request, user: Viewer, conn: Db,
               device: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    """Measurement points with their effective thresholds (mSv) and where each comes from
    (read only: probe points of new devices are made by the scheduler)."""
    return {"points": [_point_out(request, p) for p in pts.list_points(conn, device=device)]}


@router.post("/api/points", tags=["points"], responses=_ERRORS,
             response_model=None)
def api_add_point(request: Request, body: PointBody, user: Pcr, conn: Db) -> Answer:
    """A manual point (passive dosimeter, survey-meter spot checks) in a device's room."""
    try:
        with write(conn):
            point = pts.add_manual_point(conn, body.device, body.name, user.username)
            audit.record(conn, user, "point.create", f"point:{point.id}", point.as_dict(),
                         request)
    except pts.PointError as exc:
        return _error_json(exc, {"device", "name"})
    return _point_out(request, point)


@router.put("/api/points/{point_id}/thresholds", tags=["points"], responses=_ERRORS,
             response_model=None)
def api_thresholds(request: Request, point_id: Id, body: ThresholdsBody, user: Pcr,
                   conn: Db) -> Answer:
    """Override some of the site's zoning thresholds for this point (reports prepared
    from then on use them; signed ones keep theirs)."""
    try:
        with write(conn):
            point = pts.get_point(conn, point_id)
            point = pts.set_override(conn, point, _config(request).zoning, body.model_dump())
            audit.record(conn, user, "point.thresholds", f"point:{point_id}",
                         dict(point.override), request)
    except pts.PointError as exc:
        if exc.status == 404:
            raise _not_found(exc) from None
        return _error_json(exc, set(ThresholdsBody.model_fields))
    return _point_out(request, point)


# -- scheduling ------------------------------------------------------------------------------


def prepare_due(store_path: str, config: HubConfig, now: datetime | None = None) -> list[int]:
    """One pass of the scheduler, on its own connection (run in a worker thread)."""
    conn = connect(store_path)
    try:
        return qr.prepare_due_reports(conn, now or datetime.now(UTC), config.zoning,
                                      config.reports.high_coverage)
    finally:
        conn.close()


async def scheduler_pass(app: FastAPI) -> None:
    """One pass that never raises: a failure (a locked or full store, a bug) is logged
    with its traceback and the next pass tries again, rather than ending the task
    silently and leaving the quarter without drafts."""
    try:
        ids = await asyncio.to_thread(prepare_due, app.state.store_path, app.state.config)
    except Exception as exc:
        log("reports_prepare_failed", logging.ERROR, exc_info=True, error=type(exc).__name__)
    else:
        log("reports_prepared", logging.DEBUG, reports=len(ids))


async def _scheduler(app: FastAPI) -> None:
    config: HubConfig = app.state.config
    while True:
        await scheduler_pass(app)
        await asyncio.sleep(config.reports.prepare_every_min * 60)


def start_scheduler(app: FastAPI) -> asyncio.Task[None]:
    """Start the periodic preparation of due reports (call from the app's lifespan)."""
    task = asyncio.create_task(_scheduler(app), name="reports")
    app.state.reports_task = task
    return task


async def stop_scheduler(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "reports_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
