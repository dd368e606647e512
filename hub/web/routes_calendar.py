"""The control calendar: pages, the ICS feed, the API, and the periodic events check.

Pages (session): ``/calendar`` (reminders, every room's next due dates, the
record form, the add-a-type form for admins), ``/calendar/room?site=&room=``
(one room: its settings, controls and history), ``POST /calendar/record``,
``POST /calendar/room`` (pcr), ``POST /calendar/types`` (admin). A refused
form shows the page again (422) with the message next to the field.

Feed: ``/calendar.ics``, with a token of scope ``calendar`` in ``?token=``
(calendar applications cannot send headers, and feed addresses end up in
calendar services: an ``api`` token is refused there), an
``Authorization: Bearer`` header (either scope), or a session. No credentials at all: the
login page, as every page; a bad token: 401.

API (session or bearer): ``GET /api/controls``, ``GET /api/controls/types``,
``GET /api/controls/records``, ``POST /api/controls/records`` and
``POST /api/controls/rooms`` (pcr); a refused value is a 422 naming the field.

The router's lifespan runs :func:`hub.controls.store.check_overdue` at start
and every ``[controls] check_every_min`` minutes, in a worker thread, beside
the ingest (an app built with ``ingest=False`` does not, unless
``app.state.controls_check`` is set before it starts): it opens and ends the
``control_overdue`` events and the active reminders (``control_due_soon``), so
that a PCR who never opens the calendar still hears of a control coming due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub import workdays
from hub.config import Controls as ControlSettings
from hub.controls import ics
from hub.controls import store as cs
from hub.controls.types import BUILTIN, DEVICE_KINDS, TRIGGER_EVENTS, ControlError
from hub.db.connection import connect, get_db, write
from hub.web import audit
from hub.web.accounts import user_for_token
from hub.web.auth import Forbidden, LoginRequired, User, require
from hub.web.i18n import N_, gettext_for
from hub.web.templating import render, translate

log = logging.getLogger(__name__)

# -- the periodic check --------------------------------------------------------------------------


def _settings_of(app: FastAPI) -> ControlSettings:
    return app.state.config.controls  # type: ignore[no-any-return]


def _now_of(app: FastAPI) -> datetime:
    clock: Callable[[], datetime] | None = getattr(app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def check_now(app: FastAPI) -> dict[str, int]:
    """One calendar check on the app's store (what the background task runs): overdue
    events and reminders."""
    conn = connect(app.state.store_path)
    try:
        return cs.check_overdue(conn, _now_of(app), _settings_of(app))
    finally:
        conn.close()


async def _checker(app: FastAPI) -> None:
    while True:
        try:
            result = await asyncio.to_thread(check_now, app)
            if result["opened"] or result["ended"]:
                log.info("control calendar: %(opened)d event(s) opened (overdue or reminder),"
                         " %(ended)d ended", result)
        except Exception:  # a failed check must not stop the next one
            log.exception("control calendar: the check failed")
        await asyncio.sleep(_settings_of(app).check_every_min * 60)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Beside the ingest (``voyant-hub run``): an app built without it (tests) runs the
    check only if ``app.state.controls_check`` is true, else calls :func:`check_now`."""
    if getattr(app.state, "ingest", None) is None and not getattr(app.state, "controls_check",
                                                                  False):
        yield
        return
    task = asyncio.create_task(_checker(app), name="controls-check")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(lifespan=lifespan)

Db = Annotated[sqlite3.Connection, Depends(get_db)]
Viewer = Annotated[User, Depends(require("viewer"))]
Pcr = Annotated[User, Depends(require("pcr"))]
Admin = Annotated[User, Depends(require("admin"))]


def require_feed_token(request: Request, db: sqlite3.Connection = Depends(get_db),  # noqa: B008
                       token: Annotated[str | None, Query(
                           max_length=200, description="a calendar token")] = None,
                       ) -> User:
    """The feed's user: a calendar token in ``?token=``, a bearer header, else the session.

    Feed addresses are pasted into cloud calendar services, so ``?token=``
    takes only a ``calendar`` token (it reads the feed and nothing else); an
    ``api`` token there is refused, saying so. A bearer header (kept in no
    calendar's settings) may carry either scope. A token that is given must be
    valid (401, even with a session); with no credentials at all,
    :class:`LoginRequired` (the login page, as every page).
    """
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    given = token or bearer
    if not given:
        user = getattr(request.state, "user", None)
        if user is None:
            raise LoginRequired()
    else:
        calendar = user_for_token(db, given, "calendar")
        api = None if calendar is not None else user_for_token(db, given, "api")
        if api is not None and token:
            raise HTTPException(
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
                detail="an API token is refused in ?token= (feed addresses end up in calendar"
                       " services): create a token of scope calendar for the feed, and revoke"
                       " this one if the address was shared")
        user = calendar or api
        if user is None:
            raise HTTPException(status_code=401, detail="invalid or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
    if not user.can("viewer"):
        raise Forbidden("viewer")
    return user


require_feed_token.required_role = "viewer"  # type: ignore[attr-defined]  # the route walk

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
    return workdays.today(_now_of(request.app))


def _message(request: Request, exc: ControlError) -> str:
    return translate(request, exc.message).format(**exc.params)


def _page_ctx(request: Request, conn: sqlite3.Connection) -> dict[str, Any]:
    def tr(table: dict[str, str], key: str | None) -> str:
        return translate(request, table[key]) if key in table else str(key or "")

    settings = _settings_of(request.app)
    types = cs.types_in_force(conn, settings)
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
        "types": types, "rooms": cs.rooms(conn), "today": _today(request).isoformat(),
        "remind_days": sorted(settings.remind_days, reverse=True),
        "device_kinds": DEVICE_KINDS, "trigger_events": TRIGGER_EVENTS,
    }


def _calendar_page(request: Request, conn: sqlite3.Connection,
                   errors: dict[str, dict[str, str]] | None = None,
                   values: dict[str, dict[str, Any]] | None = None,
                   status_code: int = 200) -> Response:
    items = cs.due_items(conn, _settings_of(request.app), _today(request))
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
        settings = cs.find_room(conn, site, room)
    except ControlError:
        raise HTTPException(status_code=404, detail="no such room") from None
    items = cs.due_items(conn, _settings_of(request.app), _today(request), (site, room))
    return render(request, "calendar/room.html", {
        **_page_ctx(request, conn), "room": settings, "items": items,
        "history": cs.history(conn, site, room), "errors": errors or {},
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
            done = cs.record_done(conn, _settings_of(request.app), user.username, site,
                                  room_name, control, done_on, result, performed_by, note,
                                  document_ref, _now_of(request.app))
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
            change = cs.set_room(conn, _settings_of(request.app), user.username, site, room,
                                 device_kind, received_on, first_use_on, use_changed_on,
                                 _now_of(request.app))
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
            added = cs.add_type(conn, _settings_of(request.app), user.username, key, name,
                                fixed, mobile, triggers or [], _now_of(request.app))
            audit.record(conn, user, "control.type_add", f"control_type:{added['key']}",
                         added, request)
    except ControlError as exc:
        return _calendar_page(request, conn, {"type": {exc.field: _message(request, exc)}},
                              {"type": values}, 422)
    return RedirectResponse("/calendar", status_code=303)


# -- the feed ------------------------------------------------------------------------------------


@router.get("/calendar.ics", name="calendar_feed", include_in_schema=False)
def calendar_feed(request: Request,
                  user: Annotated[User, Depends(require_feed_token)],
                  conn: Db) -> Response:
    settings = _settings_of(request.app)
    now = _now_of(request.app)
    items = cs.due_items(conn, settings, workdays.today(now))
    tr = gettext_for(request).gettext
    body = ics.feed(items, now, settings.remind_days, tr, request.url.hostname or "voyant",
                    tr("Voyant: controls"))
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": 'inline; filename="voyant-controls.ics"'})


# -- API -----------------------------------------------------------------------------------------


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
    performed_by: str = Field(min_length=1, max_length=cs.PERFORMER_MAX)
    note: str = Field(default="", max_length=cs.NOTE_MAX)
    document_ref: str = Field(default="", max_length=cs.DOCUMENT_MAX)


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
    today = _today(request)
    items = [i for i in cs.due_items(conn, _settings_of(request.app), today)
             if (site is None or i["site"] == site) and (room is None or i["room"] == room)
             and (status is None or i["status"] == status)]
    items.sort(key=lambda i: (i["due"] is None, i["due"] or "", i["site"], i["room"]))
    return {"today": today, "items": items}


@router.get("/api/controls/types", tags=["controls"])
def api_types(request: Request, user: Viewer, conn: Db) -> list[dict[str, Any]]:
    """The control types in force: built-in, configured, added on the page."""
    return [t.as_dict() for t in cs.types_in_force(conn, _settings_of(request.app))]


@router.get("/api/controls/records", response_model=list[RecordOut], tags=["controls"])
def api_records(user: Viewer, conn: Db,
                site: Annotated[str | None, Query(max_length=64)] = None,
                room: Annotated[str | None, Query(max_length=64)] = None,
                control: Annotated[str | None, Query(max_length=40)] = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """The controls recorded, the most recent first (never changed nor deleted)."""
    return cs.history(conn, site, room, control, limit)


@router.post("/api/controls/records", status_code=201, tags=["controls"], responses=_ERRORS)
def api_record(request: Request, body: RecordBody, user: Pcr, conn: Db) -> Any:
    """Record a control done: the room's next due date moves, an overdue event ends."""
    try:
        with write(conn):
            done = cs.record_done(conn, _settings_of(request.app), user.username, body.site,
                                  body.room, body.control, body.done_on, body.result,
                                  body.performed_by, body.note, body.document_ref,
                                  _now_of(request.app))
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
            change = cs.set_room(conn, _settings_of(request.app), user.username, body.site,
                                 body.room, body.device_kind, body.received_on,
                                 body.first_use_on, body.use_changed_on, _now_of(request.app))
            audit.record(conn, user, "control.room", f"room:{body.site}/{body.room}", change,
                         request)
    except ControlError as exc:
        return _refused(exc)
    return change
