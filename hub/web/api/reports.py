"""API: the quarterly ambient reports (session or bearer token); the actions pages share.

``GET /api/reports``, ``POST /api/reports`` (prepare),
``POST /api/reports/prepare-quarter``, ``GET /api/reports/{id}``,
``POST /api/reports/{id}/measurements|sign|correct|recompute|amend``,
``DELETE /api/reports/{id}/measurements/{m}``. A refused value is a 422 whose
``detail[].loc`` names the field; changing a signed report is a 409 saying to
make a correction (or an amended report, recomputed with the zoning method in
force); an unknown id a 404. Viewers read; the ``pcr`` role acts;
every action is audited (``report.*``), through the functions here that the
pages (:mod:`hub.web.pages.reports`) call too. The measurement points' API is
:mod:`hub.web.api.points`.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.db.connection import write
from hub.messages import N_
from hub.reports import points as pts
from hub.reports import preparation, quarters
from hub.reports import quarterly as qr
from hub.web import audit
from hub.web import report_document as rd
from hub.web.auth import User
from hub.web.deps import Db, Pcr, Viewer, config_of, now_of
from hub.web.i18n import language
from hub.web.params import Id, Offset

router = APIRouter()

Answer = Response | dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------


def error_json(exc: pts.PointError, body_fields: set[str]) -> JSONResponse:
    loc = ["body", exc.field] if exc.field in body_fields else [exc.field]
    return JSONResponse({"detail": [{"loc": loc, "msg": exc.message.format(**exc.params),
                                     "type": "report_error"}]}, status_code=exc.status)


def not_found(exc: pts.PointError) -> HTTPException:
    return HTTPException(status_code=404, detail=exc.message.format(**exc.params))


def get_report(conn: sqlite3.Connection, report_id: int, with_files: bool = False
               ) -> dict[str, Any]:
    try:
        return qr.get_report(conn, report_id, with_files=with_files)
    except quarters.ReportError as exc:
        raise not_found(exc) from None


def public(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in ("html", "pdf")}
    out["links"] = {"page": f"/reports/{report['id']}", "pdf": f"/reports/{report['id']}.pdf",
                    "html": f"/reports/{report['id']}.html"}
    return out


# -- actions (shared by pages and API) -------------------------------------------------------


def prepare(request: Request, conn: sqlite3.Connection, user: User, point_id: int,
             quarter: str) -> int:
    q = quarters.parse_quarter(quarter)
    if q.next().bounds_start() > now_of(request).timestamp():
        raise quarters.ReportError("quarter", N_("This quarter has not ended yet."))
    point = pts.get_point(conn, point_id)
    cfg = config_of(request)
    report_id = preparation.prepare(conn, point, q, cfg.zoning, cfg.reports.high_coverage,
                                    now_of(request), user.username,
                                    cfg.reports.xray_scatter_calibrations)
    with write(conn):
        audit.record(conn, user, "report.prepare", f"report:{report_id}",
                     {"point": point_id, "quarter": q.code}, request)
    return report_id


def prepare_quarter(request: Request, conn: sqlite3.Connection, user: User, quarter: str
                     ) -> list[int]:
    """"Prepare now": what the scheduler does at the end of a quarter, for any ended one."""
    q = quarters.parse_quarter(quarter)
    if q.next().bounds_start() > now_of(request).timestamp():
        raise quarters.ReportError("quarter", N_("This quarter has not ended yet."))
    cfg = config_of(request)
    ids = preparation.prepare_quarter(conn, q, now_of(request), cfg.zoning,
                                      cfg.reports.high_coverage,
                                      scatter=cfg.reports.xray_scatter_calibrations)
    with write(conn):
        audit.record(conn, user, "report.prepare_quarter", f"quarter:{q.code}",
                     {"quarter": q.code, "reports": ids}, request)
    return ids


def recompute(request: Request, conn: sqlite3.Connection, user: User, report_id: int) -> None:
    cfg = config_of(request)
    changed = preparation.recompute(conn, report_id, cfg.zoning, cfg.reports.high_coverage,
                                    now_of(request), cfg.reports.xray_scatter_calibrations)
    with write(conn):
        audit.record(conn, user, "report.recompute", f"report:{report_id}",
                     {"changed": changed}, request)


def measure(request: Request, conn: sqlite3.Connection, user: User, report_id: int,
             values: dict[str, Any]) -> dict[str, Any]:
    with write(conn):
        result = qr.add_measurement(conn, report_id, values, user.username, now_of(request),
                                    language(request))
        audit.record(conn, user, "report.measurement", f"report:{report_id}", result, request)
    return result


def unmeasure(request: Request, conn: sqlite3.Connection, user: User, report_id: int,
               measurement_id: int) -> dict[str, Any]:
    """Remove a manual measurement from a draft; the audit record keeps what it was."""
    with write(conn):
        result = qr.remove_measurement(conn, report_id, measurement_id, now_of(request))
        audit.record(conn, user, "report.measurement_remove", f"report:{report_id}", result,
                     request)
    return result


def sign(request: Request, conn: sqlite3.Connection, user: User, report_id: int, name: str,
          expected: str) -> dict[str, Any]:
    with write(conn):
        result = qr.sign(conn, report_id, name, user.username, now_of(request), rd.render_both,
                         expected)
        audit.record(conn, user, "report.sign", f"report:{report_id}", result, request)
    return result


def correct(request: Request, conn: sqlite3.Connection, user: User, report_id: int
             ) -> dict[str, Any]:
    with write(conn):
        result = qr.correct(conn, report_id, user.username, now_of(request))
        audit.record(conn, user, "report.correct", f"report:{report_id}", result, request)
    return result


def amend(request: Request, conn: sqlite3.Connection, user: User, report_id: int
          ) -> dict[str, Any]:
    """An amended report of a signed one: a new draft version computed again with the
    zoning method in force, naming the signed version it replaces (refused, 409, on a
    draft or a version already corrected)."""
    cfg = config_of(request)
    return preparation.amend(
        conn, report_id, cfg.zoning, cfg.reports.high_coverage, user.username,
        now_of(request), cfg.reports.xray_scatter_calibrations,
        lambda made: audit.record(conn, user, "report.amend", f"report:{report_id}", made,
                                  request))


# -- routes ----------------------------------------------------------------------------------


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


ERRORS: dict[int | str, dict[str, Any]] = {
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


@router.post("/api/reports", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_prepare(request: Request, body: PrepareBody, user: Pcr, conn: Db) -> Answer:
    """Prepare (or recompute the draft of) a probe point's report for an ended quarter."""
    try:
        report_id = prepare(request, conn, user, body.point_id, body.quarter)
    except pts.PointError as exc:
        return error_json(exc, {"point_id", "quarter"})
    return public(get_report(conn, report_id))


@router.post("/api/reports/prepare-quarter", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_prepare_quarter(request: Request, body: PrepareQuarterBody, user: Pcr,
                        conn: Db) -> Answer:
    """"Prepare now": the drafts of every probe point for an ended quarter (the probe
    points of new devices made first; signed reports left as they are)."""
    try:
        ids = prepare_quarter(request, conn, user, body.quarter)
    except pts.PointError as exc:
        return error_json(exc, {"quarter"})
    return {"quarter": body.quarter.strip(), "reports": ids}


@router.get("/api/reports/{report_id}", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_report(request: Request, report_id: Id, user: Viewer, conn: Db) -> dict[str, Any]:
    """One report: its content (JSON), hash (``verified``: the content still matches it),
    versions and links to its HTML and PDF."""
    return public(get_report(conn, report_id))


@router.post("/api/reports/{report_id}/measurements", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_measurement(request: Request, report_id: Id, body: MeasurementBody, user: Pcr,
                    conn: Db) -> Answer:
    get_report(conn, report_id)
    try:
        measure(request, conn, user, report_id, body.model_dump())
    except pts.PointError as exc:
        return error_json(exc, set(MeasurementBody.model_fields))
    return public(get_report(conn, report_id))


@router.delete("/api/reports/{report_id}/measurements/{measurement_id}", tags=["reports"],
               responses=ERRORS, response_model=None)
def api_remove_measurement(request: Request, report_id: Id, measurement_id: Id, user: Pcr,
                           conn: Db) -> Answer:
    """Remove a wrong manual measurement from a draft (409 once signed); audited with
    the removed values."""
    get_report(conn, report_id)
    try:
        unmeasure(request, conn, user, report_id, measurement_id)
    except pts.PointError as exc:
        if exc.status == 404:
            raise not_found(exc) from None
        return error_json(exc, set())
    return public(get_report(conn, report_id))


@router.post("/api/reports/{report_id}/sign", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_sign(request: Request, report_id: Id, body: SignBody, user: Pcr,
             conn: Db) -> Answer:
    """Sign: the content is frozen with its SHA-256, HTML and PDF; never changed after."""
    get_report(conn, report_id)
    try:
        sign(request, conn, user, report_id, body.name, body.content_sha256)
    except pts.PointError as exc:
        return error_json(exc, {"name", "content_sha256"})
    return public(get_report(conn, report_id))


@router.post("/api/reports/{report_id}/correct", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_correct(request: Request, report_id: Id, user: Pcr, conn: Db) -> Answer:
    """A new draft version of a signed report; the signed one is kept as it is."""
    get_report(conn, report_id)
    try:
        result = correct(request, conn, user, report_id)
    except pts.PointError as exc:
        return error_json(exc, set())
    return public(get_report(conn, int(result["report"])))


@router.post("/api/reports/{report_id}/recompute", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_recompute(request: Request, report_id: Id, user: Pcr, conn: Db) -> Answer:
    """Recompute a draft's figures from the readings stored now (late ones included)."""
    get_report(conn, report_id)
    try:
        recompute(request, conn, user, report_id)
    except pts.PointError as exc:
        return error_json(exc, set())
    return public(get_report(conn, report_id))


@router.post("/api/reports/{report_id}/amend", tags=["reports"], responses=ERRORS,
             response_model=None)
def api_amend(request: Request, report_id: Id, user: Pcr, conn: Db) -> Answer:
    """An amended report: a new draft version of a signed report, computed again from the
    stored readings with the zoning method in force (``content.amends`` names the signed
    version, its hash and method); the signed one is kept. 409 on a draft or on a version
    already corrected."""
    get_report(conn, report_id)
    try:
        result = amend(request, conn, user, report_id)
    except pts.PointError as exc:
        return error_json(exc, set())
    return public(get_report(conn, int(result["report"])))
