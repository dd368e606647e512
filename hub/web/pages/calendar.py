"""Pages: the control calendar, its forms, and its ICS feed.

``/calendar`` (reminders, every room's next due dates, the record form, the
add-a-type form for admins), ``/calendar/room?site=&room=`` (one room: its
settings, controls and history), ``POST /calendar/record``,
``POST /calendar/room`` (pcr), ``POST /calendar/types`` (admin). A refused
form shows the page again (422) with the message next to the field.

Feed: ``/calendar.ics``, with a token of scope ``calendar`` in ``?token=``
(calendar applications cannot send headers, and feed addresses end up in
calendar services: an ``api`` token is refused there), an
``Authorization: Bearer`` header (either scope), or a session
(:data:`hub.web.deps.FeedUser`). No credentials at all: the login page, as
every page; a bad token: 401.

The same data for programs: :mod:`hub.web.api.calendar`. The periodic check
that opens the ``control_overdue`` events is the ``controls`` job of
:mod:`hub.jobs`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import workdays
from hub.controls import actions as ca
from hub.controls import ics
from hub.controls import records as cr
from hub.controls.types import BUILTIN, DEVICE_KINDS, TRIGGER_EVENTS, ControlError
from hub.db.connection import write
from hub.messages import N_
from hub.web import audit
from hub.web.deps import Admin, Db, FeedUser, Pcr, Viewer, config_of, now_of
from hub.web.i18n import gettext_for
from hub.web.templating import render, translate

router = APIRouter()

STATUS_LABELS = {"overdue": N_("Overdue"), "soon": N_("Due soon"),
                 "upcoming": N_("Upcoming"), "ok": N_("Up to date"),
                 "unscheduled": N_("No due date")}
REASON_LABELS = {"periodic": N_("period since the last control"), "receipt": N_("receipt"),
                 "first_use": N_("first use"), "change_of_use": N_("change of use"),
                 "recheck": N_("re-check after a not-OK result"),
                 "first_record": N_("no control recorded yet")}
RESULT_LABELS = {"ok": N_("Compliant"), "not_ok": N_("Not compliant")}
KIND_LABELS = {"fixed": N_("fixed device"), "mobile": N_("mobile device")}
TRIGGER_LABELS = {"receipt": N_("at receipt"), "first_use": N_("before first use"),
                  "change_of_use": N_("after a change of use")}
#: The built-in types' names, marked for translation (hub.controls.types.BUILTIN).
TYPE_LABELS = {
    "ambient_internal": N_("Internal ambient control"),
    "ambient_external": N_("External ambient control"),
    "technical_internal": N_("Internal technical control"),
    "quality_internal": N_("Internal image quality control"),
    "quality_external": N_("External quality control"),
    "quality_audit": N_("External audit of the internal quality control"),
}
BASIS_LABELS = {
    "ambient_internal": N_("quarterly: at most 3 months apart (order of 23 October 2020,"
                           " art. 12)"),
    "ambient_external": N_("every 5 years (fixed device), 3 years (mobile device)"),
    "technical_internal": N_("at receipt, before first use, after a change of use, then"
                             " yearly"),
    "quality_internal": N_("initial 3 months after first clinical use, then quarterly"),
    "quality_external": N_("before first clinical use, then every 5 years"),
    "quality_audit": N_("one year after entry into service, then yearly"),
}
FEED_WORDS = (N_("Overdue"), N_("Control"), N_("Room"), N_("Last done"),
              N_("Voyant: controls"))
assert set(TYPE_LABELS) == {t.key for t in BUILTIN}


# -- helpers -------------------------------------------------------------------------------------


def _today(request: Request) -> date:
    return workdays.today(now_of(request))


def _message(request: Request, exc: ControlError) -> str:
    return translate(request, exc.message).format(**exc.params)


def _page_ctx(request: Request, conn: sqlite3.Connection) -> dict[str, Any]:
    def tr(table: dict[str, str], key: str | None) -> str:
        return translate(request, table[key]) if key in table else str(key or "")

    settings = config_of(request).controls
    types = cr.types_in_force(conn, settings)
    return {
        "status_label": lambda s: tr(STATUS_LABELS, s),
        "reason_label": lambda r: tr(REASON_LABELS, r),
        "result_label": lambda r: tr(RESULT_LABELS, r),
        "kind_label": lambda k: tr(KIND_LABELS, k),
        "trigger_label": lambda t: tr(TRIGGER_LABELS, t),
        "type_label": lambda key, name: tr(TYPE_LABELS, key) if key in TYPE_LABELS else name,
        "basis_label": lambda key: tr(BASIS_LABELS, key),
        "months": lambda n: (translate(request, "1 month") if n == 1 else
                             translate(request, "{n} months").format(n=n)),
        "types": types, "rooms": cr.rooms(conn), "today": _today(request).isoformat(),
        "remind_days": sorted(settings.remind_days, reverse=True),
        "device_kinds": DEVICE_KINDS, "trigger_events": TRIGGER_EVENTS,
    }


def _calendar_page(request: Request, conn: sqlite3.Connection,
                   errors: dict[str, dict[str, str]] | None = None,
                   values: dict[str, dict[str, Any]] | None = None,
                   status_code: int = 200) -> Response:
    items = cr.due_items(conn, config_of(request).controls, _today(request))
    by_room: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        by_room.setdefault((item["site"], item["room"]), []).append(item)
    reminders = sorted((i for i in items if i["status"] in ("overdue", "soon", "upcoming")),
                       key=lambda i: (i["due"], i["site"], i["room"], i["control"]))
    return render(request, "calendar/calendar.html", {
        **_page_ctx(request, conn), "by_room": by_room, "reminders": reminders,
        "errors": errors or {}, "values": values or {},
        "feed_url": str(request.url_for("calendar_feed")) + "?token=…"}, status_code)


def _room_page(request: Request, conn: sqlite3.Connection, site: str, room: str,
               errors: dict[str, dict[str, str]] | None = None,
               values: dict[str, dict[str, Any]] | None = None,
               status_code: int = 200) -> Response:
    try:
        settings = cr.find_room(conn, site, room)
    except ControlError:
        raise HTTPException(status_code=404, detail="no such room") from None
    items = cr.due_items(conn, config_of(request).controls, _today(request), (site, room))
    return render(request, "calendar/room.html", {
        **_page_ctx(request, conn), "room": settings, "items": items,
        "history": cr.history(conn, site, room), "errors": errors or {},
        "values": values or {}}, status_code)


def _room_url(site: str, room: str) -> str:
    return "/calendar/room?" + urlencode({"site": site, "room": room})


# -- pages ---------------------------------------------------------------------------------------


@router.get("/calendar", response_class=HTMLResponse, include_in_schema=False)
def calendar_page(request: Request, user: Viewer, conn: Db) -> Response:
    return _calendar_page(request, conn)


@router.get("/calendar/room", response_class=HTMLResponse, include_in_schema=False)
def room_page(request: Request, user: Viewer, conn: Db, site: str = "",
              room: str = "") -> Response:
    return _room_page(request, conn, site, room)


@router.post("/calendar/record", include_in_schema=False)
def record_form(request: Request, user: Pcr, conn: Db,
                room: Annotated[str, Form()] = "", control: Annotated[str, Form()] = "",
                done_on: Annotated[str, Form()] = "", result: Annotated[str, Form()] = "",
                performed_by: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                document_ref: Annotated[str, Form()] = "",
                back: Annotated[str, Form()] = "") -> Response:
    values = {"room": room, "control": control, "done_on": done_on, "result": result,
              "performed_by": performed_by, "note": note, "document_ref": document_ref}
    site, _, room_name = room.partition("/")
    try:
        with write(conn):
            done = ca.record_done(conn, config_of(request).controls, user.username, site,
                                  room_name, control, done_on, result, performed_by, note,
                                  document_ref, now_of(request))
            audit.record(conn, user, "control.record",
                         f"control:{site}/{room_name}/{control}", done, request)
    except ControlError as exc:
        errors = {"record": {exc.field: _message(request, exc)}}
        if back == "room" and site and room_name:
            with contextlib.suppress(HTTPException):
                return _room_page(request, conn, site, room_name, errors, {"record": values},
                                  422)
        return _calendar_page(request, conn, errors, {"record": values}, 422)
    target = _room_url(site, room_name) if back == "room" else "/calendar"
    return RedirectResponse(target, status_code=303)


@router.post("/calendar/room", include_in_schema=False)
def room_form(request: Request, user: Pcr, conn: Db, site: Annotated[str, Form()] = "",
              room: Annotated[str, Form()] = "", device_kind: Annotated[str, Form()] = "",
              received_on: Annotated[str, Form()] = "",
              first_use_on: Annotated[str, Form()] = "",
              use_changed_on: Annotated[str, Form()] = "") -> Response:
    values = {"device_kind": device_kind, "received_on": received_on,
              "first_use_on": first_use_on, "use_changed_on": use_changed_on}
    try:
        with write(conn):
            change = ca.set_room(conn, config_of(request).controls, user.username, site, room,
                                 device_kind, received_on, first_use_on, use_changed_on,
                                 now_of(request))
            audit.record(conn, user, "control.room", f"room:{site}/{room}", change, request)
    except ControlError as exc:
        if exc.field == "room":
            raise HTTPException(status_code=404, detail="no such room") from None
        return _room_page(request, conn, site, room, {"room": {exc.field: _message(request, exc)}},
                          {"room": values}, 422)
    return RedirectResponse(_room_url(site, room), status_code=303)


def _months(value: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ControlError(field, "A number of months from 1 to {max}.", max=120) from None


@router.post("/calendar/types", include_in_schema=False)
def type_form(request: Request, user: Admin, conn: Db, key: Annotated[str, Form()] = "",
              name: Annotated[str, Form()] = "", period_months: Annotated[str, Form()] = "",
              period_months_mobile: Annotated[str, Form()] = "",
              triggers: Annotated[list[str] | None, Form()] = None) -> Response:
    values = {"key": key, "name": name, "period_months": period_months,
              "period_months_mobile": period_months_mobile, "triggers": triggers or []}
    try:
        fixed = _months(period_months, "period_months")
        mobile = _months(period_months_mobile, "period_months_mobile")
        with write(conn):
            added = ca.add_type(conn, config_of(request).controls, user.username, key, name,
                                fixed, mobile, triggers or [], now_of(request))
            audit.record(conn, user, "control.type_add", f"control_type:{added['key']}",
                         added, request)
    except ControlError as exc:
        return _calendar_page(request, conn, {"type": {exc.field: _message(request, exc)}},
                              {"type": values}, 422)
    return RedirectResponse("/calendar", status_code=303)


# -- the feed ------------------------------------------------------------------------------------


@router.get("/calendar.ics", name="calendar_feed", include_in_schema=False)
def calendar_feed(request: Request, user: FeedUser, conn: Db) -> Response:
    settings = config_of(request).controls
    now = now_of(request)
    items = cr.due_items(conn, settings, workdays.today(now))
    tr = gettext_for(request).gettext
    body = ics.feed(items, now, settings.remind_days, tr, request.url.hostname or "voyant",
                    tr("Voyant: controls"))
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": 'inline; filename="voyant-controls.ics"'})
