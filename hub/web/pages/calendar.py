"""Pages: the verification calendar (order of 23 October 2020), its forms, its programme
and its ICS feed.

``/calendar`` (reminders, ESR follow-up reports to hand in, every room's next due
dates, the record form, the type settings and the add-a-type form for admins),
``/calendar/programme`` (the verification programme, art. 18: one printable page),
``/calendar/room?site=&room=`` (one room: its settings, occasions, verifications
and history), ``POST /calendar/record``, ``POST /calendar/room``,
``POST /calendar/occasion`` (pcr), ``POST /calendar/types`` and
``POST /calendar/type-settings`` (admin). A refused form shows the page again
(422) with the message next to the field.

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
from hub.controls.due import due_items
from hub.controls.types import (
    BUILTIN,
    DEVICE_KINDS,
    OCCASION_KINDS,
    OPTIONAL,
    TRIGGER_EVENTS,
    ControlError,
)
from hub.db.connection import write
from hub.events.followup import due_followups
from hub.web import audit
from hub.web.calendar_words import (
    BASIS_LABELS,
    KIND_LABELS,
    OCCASION_LABELS,
    PERFORMER_LABELS,
    REASON_LABELS,
    RESULT_LABELS,
    STATUS_LABELS,
    TRIGGER_LABELS,
    TYPE_LABELS,
)
from hub.web.deps import Admin, Db, FeedUser, Pcr, Viewer, config_of, now_of
from hub.web.i18n import gettext_for, language
from hub.web.numfmt import number
from hub.web.templating import render, translate
from hub.web.timeshow import long_day, paris

router = APIRouter()



# -- helpers -------------------------------------------------------------------------------------


def _today(request: Request) -> date:
    return workdays.today(now_of(request))


def _message(request: Request, exc: ControlError) -> str:
    return translate(request, exc.message).format(**exc.params)


def _grouped(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One reminder per type, state and due date, naming every room (and point) it is for:
    18 rooms due the same verification the same day read as one line, not 18."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        key = (item["status"], item["control"], item["due"], item.get("remind_days"))
        group = groups.setdefault(key, {**item, "places": []})
        group["places"].append({"site": item["site"], "room": item["room"],
                                "point_id": item.get("point_id"),
                                "point_name": item.get("point_name")})
    return list(groups.values())


def _page_ctx(request: Request, conn: sqlite3.Connection) -> dict[str, Any]:
    def tr(table: dict[str, str], key: str | None) -> str:
        return translate(request, table[key]) if key in table else str(key or "")

    def failure(item: dict[str, Any]) -> str:
        """A verification's failure in words: its numbers in the reader's language, its
        times in Paris time (the params are the report's stored figures)."""
        lang = language(request)
        params = {key: paris(value) if key == "start"
                  else number(value, lang) if isinstance(value, int | float)
                  and not isinstance(value, bool) else value
                  for key, value in item["params"].items()}
        return translate(request, item["message"]).format(**params)

    settings = config_of(request).controls
    return {
        "status_label": lambda s: tr(STATUS_LABELS, s),
        "reason_label": lambda r: tr(REASON_LABELS, r),
        "result_label": lambda r: tr(RESULT_LABELS, r),
        "kind_label": lambda k: tr(KIND_LABELS, k),
        "trigger_label": lambda t: tr(TRIGGER_LABELS, t),
        "performer_label": lambda p: tr(PERFORMER_LABELS, p),
        "occasion_label": lambda o: tr(OCCASION_LABELS, o),
        "type_label": lambda key, name: tr(TYPE_LABELS, key) if key in TYPE_LABELS else name,
        "basis_label": lambda key, basis="": tr(BASIS_LABELS, key) if key in BASIS_LABELS
        else basis,
        "failure_text": failure,
        "long_day": lambda value: long_day(value, language(request)),
        "months": lambda n: (translate(request, "1 month") if n == 1 else
                             translate(request, "{n} months").format(n=n)),
        "types": cr.types_in_force(conn, settings),
        "legacy": cr.legacy_types(conn, settings),
        "rooms": cr.rooms(conn), "points": cr.points(conn),
        "today": _today(request).isoformat(),
        "remind_days": sorted(settings.remind_days, reverse=True),
        "device_kinds": DEVICE_KINDS, "trigger_events": TRIGGER_EVENTS,
        "occasion_kinds": OCCASION_KINDS, "workplace": "periodic_workplace",
    }


def _calendar_page(request: Request, conn: sqlite3.Connection,
                   errors: dict[str, dict[str, str]] | None = None,
                   values: dict[str, dict[str, Any]] | None = None,
                   status_code: int = 200) -> Response:
    items = due_items(conn, config_of(request).controls, _today(request))
    by_room: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        by_room.setdefault((item["site"], item["room"]), []).append(item)
    reminders = _grouped(sorted(
        (i for i in items if i["status"] in ("overdue", "soon", "upcoming")),
        key=lambda i: (i["due"], i["site"], i["room"], i["slot"])))
    settings = {s.key: s for s in cr.type_settings(conn)}
    adjustable = [t for t in (*BUILTIN, *OPTIONAL)
                  if t.key not in config_of(request).controls.disabled]
    return render(request, "calendar/calendar.html", {
        **_page_ctx(request, conn), "by_room": by_room, "reminders": reminders,
        "followups": due_followups(conn, config_of(request).events.followup_months,
                                   workdays.today(now_of(request))),
        "adjustable": adjustable,
        "type_settings": settings, "errors": errors or {}, "values": values or {},
        "feed_url": str(request.url_for("calendar_feed")) + "?token=…"}, status_code)


def _room_page(request: Request, conn: sqlite3.Connection, site: str, room: str,
               errors: dict[str, dict[str, str]] | None = None,
               values: dict[str, dict[str, Any]] | None = None,
               status_code: int = 200) -> Response:
    try:
        settings = cr.find_room(conn, site, room)
    except ControlError:
        raise HTTPException(status_code=404, detail="no such room") from None
    items = due_items(conn, config_of(request).controls, _today(request), (site, room))
    return render(request, "calendar/room.html", {
        **_page_ctx(request, conn), "room": settings, "items": items,
        "occasions": cr.occasions(conn, site, room),
        "history": cr.history(conn, site, room), "errors": errors or {},
        "values": values or {}}, status_code)


def _room_url(site: str, room: str) -> str:
    return "/calendar/room?" + urlencode({"site": site, "room": room})


# -- pages ---------------------------------------------------------------------------------------


@router.get("/calendar", response_class=HTMLResponse, include_in_schema=False)
def calendar_page(request: Request, user: Viewer, conn: Db) -> Response:
    return _calendar_page(request, conn)


@router.get("/calendar/programme", response_class=HTMLResponse, include_in_schema=False)
def programme_page(request: Request, user: Viewer, conn: Db) -> Response:
    """The verification programme (art. 18): every type as the site set it, printable."""
    return render(request, "calendar/programme.html", _page_ctx(request, conn))


@router.get("/calendar/room", response_class=HTMLResponse, include_in_schema=False)
def room_page(request: Request, user: Viewer, conn: Db, site: str = "",
              room: str = "") -> Response:
    return _room_page(request, conn, site, room)


@router.post("/calendar/record", include_in_schema=False)
def record_form(request: Request, user: Pcr, conn: Db,
                room: Annotated[str, Form()] = "", control: Annotated[str, Form()] = "",
                done_on: Annotated[str, Form()] = "", result: Annotated[str, Form()] = "",
                performed_by: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                document_ref: Annotated[str, Form()] = "", point: Annotated[str, Form()] = "",
                back: Annotated[str, Form()] = "", from_time: Annotated[str, Form()] = "",
                to_time: Annotated[str, Form()] = "") -> Response:
    values = {"room": room, "control": control, "done_on": done_on, "result": result,
              "performed_by": performed_by, "note": note, "document_ref": document_ref,
              "point": point, "from_time": from_time, "to_time": to_time}
    site, _, room_name = room.partition("/")
    try:
        with write(conn):
            done = ca.record_done(conn, config_of(request).controls, user.username, site,
                                  room_name, control, done_on, result, performed_by, note,
                                  document_ref, now_of(request), point or None, from_time,
                                  to_time)
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


@router.post("/calendar/occasion", include_in_schema=False)
def occasion_form(request: Request, user: Pcr, conn: Db, site: Annotated[str, Form()] = "",
                  room: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "",
                  on_day: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                  from_time: Annotated[str, Form()] = "",
                  to_time: Annotated[str, Form()] = "") -> Response:
    """A modification or a maintenance (its hours optional): the verifications it calls
    for fall due."""
    values = {"kind": kind, "on_day": on_day, "note": note, "from_time": from_time,
              "to_time": to_time}
    try:
        with write(conn):
            added = ca.add_occasion(conn, config_of(request).controls, user.username, site,
                                    room, kind, on_day, note, now_of(request), from_time,
                                    to_time)
            audit.record(conn, user, "control.occasion", f"room:{site}/{room}", added, request)
    except ControlError as exc:
        if exc.field == "room":
            raise HTTPException(status_code=404, detail="no such room") from None
        return _room_page(request, conn, site, room,
                          {"occasion": {exc.field: _message(request, exc)}},
                          {"occasion": values}, 422)
    return RedirectResponse(_room_url(site, room), status_code=303)


def _months(value: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 4:  # int() would take "+1", "١٢" or 4300 digits
        raise ControlError(field, "A number of months from 1 to {max}.", max=120)
    return int(text)


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


@router.post("/calendar/type-settings", include_in_schema=False)
def type_settings_form(request: Request, user: Admin, conn: Db,
                       key: Annotated[str, Form()] = "", enabled: Annotated[str, Form()] = "",
                       period_months: Annotated[str, Form()] = "",
                       period_months_mobile: Annotated[str, Form()] = "") -> Response:
    """The site's interval of a built-in type, or an optional type enabled."""
    values = {key: {"enabled": enabled, "period_months": period_months,
                    "period_months_mobile": period_months_mobile}}
    try:
        fixed = _months(period_months, "period_months")
        mobile = _months(period_months_mobile, "period_months_mobile")
        with write(conn):
            change = ca.set_type(conn, config_of(request).controls, user.username, key,
                                 enabled == "1", fixed, mobile, now_of(request))
            audit.record(conn, user, "control.type_settings", f"control_type:{key}", change,
                         request)
    except ControlError as exc:
        return _calendar_page(request, conn,
                              {f"setting-{key}": {exc.field: _message(request, exc)}},
                              {"setting": values}, 422)
    return RedirectResponse("/calendar#type-settings", status_code=303)


# -- the feed ------------------------------------------------------------------------------------


@router.get("/calendar.ics", name="calendar_feed", include_in_schema=False)
def calendar_feed(request: Request, user: FeedUser, conn: Db) -> Response:
    settings = config_of(request).controls
    now = now_of(request)
    items = due_items(conn, settings, workdays.today(now))
    tr = gettext_for(request).gettext
    body = ics.feed(items, now, settings.remind_days, tr, request.url.hostname or "voyant",
                    tr("Voyant: verifications"),
                    due_followups(conn, config_of(request).events.followup_months,
                                  workdays.today(now_of(request))))
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": 'inline; filename="voyant-controls.ics"'})
