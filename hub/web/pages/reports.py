"""Pages: the quarterly ambient reports and their measurement points (issue 5).

``/reports`` (list, search by room, quarter, status, text), ``/reports/{id}``
(the report with its chart; PCR forms: add a manual measurement, recompute a
draft, sign, correct, prepare an amended report), ``/reports/{id}.pdf`` and
``/reports/{id}.html`` (the signed files as frozen, or a draft rendered now),
``POST /reports/prepare`` (a point's report for any quarter),
``POST /reports/prepare-quarter`` ("Prepare now": every probe point's draft of a
quarter), ``POST /reports/{id}/amend`` (an amended report of a signed one),
``POST /reports/{id}/measurements/{m}/delete``, ``/points`` (the measurement
points; PCR: add a manual point, ``POST /points/{id}/zoning``: set a point's
declared zones and background).

Viewers read; the ``pcr`` role acts, through the audited actions of
:mod:`hub.web.api.reports`. GETs never write: the tables are made at start,
and the drafts of the quarter just ended, with the probe points of an older
store's devices, are prepared by the ``reports`` job (:mod:`hub.jobs`: at
start, then every ``[reports] prepare_every_min``) or when a PCR presses
"Prepare now".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.db.connection import write
from hub.messages import N_
from hub.numbers import parse_decimal
from hub.reports import points as pts
from hub.reports import quarterly as qr
from hub.reports import quarters
from hub.web import audit, timeshow
from hub.web import report_document as rd
from hub.web.api.points import set_zoning
from hub.web.api.reports import (
    amend,
    correct,
    get_report,
    measure,
    not_found,
    prepare,
    prepare_quarter,
    recompute,
    sign,
    unmeasure,
)
from hub.web.deps import Db, Pcr, Viewer, config_of, now_of
from hub.web.i18n import gettext_for, language
from hub.web.params import Id
from hub.web.templating import render, translate

router = APIRouter()


# -- pages -----------------------------------------------------------------------------------


STATUSES = ("draft", "signed")


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, user: Viewer, conn: Db, room: str = "", quarter: str = "",
                 status: str = "", q: str = "", prepared: str = "") -> Response:
    """Read only: the drafts are made by the scheduler or "Prepare now", never by a GET."""
    errors: dict[str, str] = {}
    if quarter and not quarters.QUARTER_RE.match(quarter):
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
        "last_quarter": quarters.last_ended_quarter(now_of(request)).code, "local": timeshow.paris,
        "prepared": int(prepared) if prepared.isdigit() and len(prepared) < 6 else None},
        422 if errors else 200)


@router.post("/reports/prepare", include_in_schema=False)
def prepare_form(request: Request, user: Pcr, conn: Db, point_id: Annotated[str, Form()] = "",
                 quarter: Annotated[str, Form()] = "") -> Response:
    try:
        report_id = prepare(request, conn, user, int(point_id or 0), quarter)
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
        ids = prepare_quarter(request, conn, user, quarter)
    except pts.PointError as exc:
        return _list_error(request, conn, "prepare_quarter", exc.message, **exc.params)
    return RedirectResponse(f"/reports?quarter={quarter.strip()}&prepared={len(ids)}",
                            status_code=303)


def _list_error(request: Request, conn: sqlite3.Connection, field: str, message: str,
                **params: Any) -> Response:
    rows = qr.list_reports(conn, qr.Filters())
    return render(request, "reports/list.html", {
        "reports": rows, "errors": {field: translate(request, message).format(**params)},
        "rooms": [], "points": pts.list_points(conn, kind="probe"),
        "chosen": {"room": "", "quarter": "", "status": "", "q": ""},
        "last_quarter": quarters.last_ended_quarter(now_of(request)).code,
        "local": timeshow.paris}, 422)


@router.get("/reports/{report_id}.pdf", include_in_schema=False)
def report_pdf(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    report = get_report(conn, report_id, with_files=True)
    pdf = report["pdf"] if report["status"] == "signed" else rd.render_pdf(
        rd.render_html(report["content"]))
    name = f"voyant-{report['site']}-{report['room']}-{report['quarter']}-v{report['version']}"
    return Response(bytes(pdf), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


@router.get("/reports/{report_id}.html", response_class=HTMLResponse, include_in_schema=False)
def report_html(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    report = get_report(conn, report_id, with_files=True)
    html = report["html"] if report["status"] == "signed" else rd.render_html(report["content"])
    return HTMLResponse(str(html))


def _detail(request: Request, conn: sqlite3.Connection, report_id: int,
            errors: dict[str, dict[str, str]] | None = None,
            values: dict[str, dict[str, str]] | None = None, status_code: int = 200) -> Response:
    report = get_report(conn, report_id)
    gettext = gettext_for(request).gettext
    return render(request, "reports/detail.html", {
        "report": report, "c": report["content"], "errors": errors or {},
        "values": values or {}, "room_points": pts.list_points(conn, device=report["device"]),
        **rd.helpers(gettext, language(request))}, status_code)


@router.get("/reports/{report_id}", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, report_id: Id, user: Viewer, conn: Db) -> Response:
    return _detail(request, conn, report_id)


def _form(request: Request, conn: sqlite3.Connection, report_id: int, form: str,
          values: dict[str, str], action: Callable[[], Any]) -> Response:
    get_report(conn, report_id)
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
                 lambda: measure(request, conn, user, report_id, dict(values)))


@router.post("/reports/{report_id}/measurements/{measurement_id}/delete",
             include_in_schema=False)
def remove_measurement_form(request: Request, report_id: Id, measurement_id: Id, user: Pcr,
                            conn: Db) -> Response:
    return _form(request, conn, report_id, "remove", {},
                 lambda: unmeasure(request, conn, user, report_id, measurement_id))


@router.post("/reports/{report_id}/sign", include_in_schema=False)
def sign_form(request: Request, report_id: Id, user: Pcr, conn: Db,
              name: Annotated[str, Form()] = "",
              content_sha256: Annotated[str, Form()] = "",
              missing_data: Annotated[str, Form()] = "") -> Response:
    """On the page, a report with hours without data is signed only once the signer ticked
    that they saw it (the document says "pas de données" for them, never a zero)."""
    def act() -> Any:
        report = get_report(conn, report_id)
        if rd.missing_hours(report["content"]) and missing_data != "seen":
            raise quarters.ReportError("missing_data", N_(
                "This report has hours without data: tick the box to say you saw them."))
        return sign(request, conn, user, report_id, name, content_sha256)

    return _form(request, conn, report_id, "sign", {"name": name}, act)


@router.post("/reports/{report_id}/correct", include_in_schema=False)
def correct_form(request: Request, report_id: Id, user: Pcr, conn: Db) -> Response:
    return _form(request, conn, report_id, "correct", {},
                 lambda: correct(request, conn, user, report_id))


@router.post("/reports/{report_id}/amend", include_in_schema=False)
def amend_form(request: Request, report_id: Id, user: Pcr, conn: Db) -> Response:
    return _form(request, conn, report_id, "amend", {},
                 lambda: amend(request, conn, user, report_id))


@router.post("/reports/{report_id}/recompute", include_in_schema=False)
def recompute_form(request: Request, report_id: Id, user: Pcr, conn: Db) -> Response:
    return _form(request, conn, report_id, "recompute", {},
                 lambda: recompute(request, conn, user, report_id))


@router.get("/points", response_class=HTMLResponse, include_in_schema=False)
def points_page(request: Request, user: Viewer, conn: Db) -> Response:
    return _points_page(request, conn)


def _points_page(request: Request, conn: sqlite3.Connection,
                 errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                 status_code: int = 200, zoning_form: dict[str, Any] | None = None
                 ) -> Response:
    """``zoning_form``: the point whose zoning form was refused, its values and errors."""
    points = pts.list_points(conn)
    zoning = config_of(request).zoning
    gettext = gettext_for(request).gettext
    return render(request, "reports/points.html", {
        "points": points, "limits": {p.id: pts.thresholds(p, zoning) for p in points},
        "devices": [str(r[0]) for r in conn.execute("SELECT device FROM devices ORDER BY 1")],
        "errors": errors or {}, "values": values or {}, "states": pts.DECLARED_STATES,
        "zone_codes": pts.ZONE_CODES, "zoning_form": zoning_form or {},
        **rd.helpers(gettext, language(request))}, status_code)


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


#: A background typed on the page is a short number ("12.5" or "12,5").
BACKGROUND_MAX_CHARS = 32


@router.post("/points/{point_id}/zoning", include_in_schema=False)
def zoning_form(request: Request, point_id: Id, user: Pcr, conn: Db,
                permanent: Annotated[str, Form()] = "", off: Annotated[str, Form()] = "",
                powered: Annotated[str, Form()] = "", emitting: Annotated[str, Form()] = "",
                background_cpm: Annotated[str, Form()] = "") -> Response:
    """The point's declared zones (one at all times, or per generator state) and its
    background in counts per minute (empty: measured); a refusal is said by the field."""
    declared = {"permanent": permanent, "off": off, "powered": powered, "emitting": emitting}
    values = {**declared, "background_cpm": background_cpm}
    try:
        pts.get_point(conn, point_id)
    except pts.PointError as exc:
        raise not_found(exc) from None
    try:
        background = _number(background_cpm, language(request))
        set_zoning(request, conn, user, point_id,
                   {k: v.strip() or None for k, v in declared.items()}, background)
    except pts.PointError as exc:
        message = translate(request, exc.message).format(**exc.params)
        return _points_page(request, conn, status_code=exc.status, zoning_form={
            "point": point_id, "values": values, "errors": {exc.field: message}})
    return RedirectResponse(f"/points#zoning-{point_id}", status_code=303)


def _number(text: str, lang: str) -> float | None:
    """A typed count rate (12,5 in French); empty: None."""
    if not text.strip():
        return None
    try:
        if len(text) > BACKGROUND_MAX_CHARS:
            raise ValueError(text)
        return parse_decimal(text, lang)
    except ValueError:
        raise pts.PointError("background_cpm", N_("Enter a number.")) from None
