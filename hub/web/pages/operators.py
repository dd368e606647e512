"""Page: the operators named by the dose reports, and their register (admin; issue 17,
item 6).

``GET /admin/operators`` says whether the feature is on. Off (every new store), it says
why: monitoring named employees needs the staff committee (CSE) consulted first; the admin
turns it on by ticking that the CSE was consulted (``POST /admin/operators/enable``,
``cse_consulted=yes``; audited ``operators.enable``). On, it shows the workers' training
validity (``POST /admin/operators/settings``), the professions with their patients'
training validity (``POST /admin/operators/professions``, ``.../professions/delete``), the
register with each person's trainings, lapsed today or not (``POST /admin/operators/save``,
``.../delete``), and the way to turn it off (``POST /admin/operators/disable``: the names
stored from the RDSRs are deleted). Every change is audited in its transaction
(:mod:`hub.rdsr.operators_settings`, :mod:`hub.rdsr.operators_register`); a hostile or
wrong field re-shows the page with a 400 naming the field. CSRF by the middleware.

The room page's exposures show each emission's operators through the template function
``exposure_operators`` registered here (:func:`exposure_operators`): for the PCR and the
admin, while the feature is on. The events page names an operator event's person the same
way (:func:`event_detail`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.messages import N_
from hub.rdsr import operators_events
from hub.rdsr import operators_register as register
from hub.rdsr import operators_settings as settings
from hub.rdsr.operators_flags import lapsed, valid_until
from hub.rdsr.operators_settings import OperatorError
from hub.rdsr.operators_store import ExposureKey, Named, for_exposures
from hub.web import timeshow
from hub.web.deps import Admin, Db, RequestDb
from hub.web.i18n import language
from hub.web.templating import TEMPLATES, render, translate

router = APIRouter()

#: A form field's bound before the register says what is wrong with it.
FIELD_MAX = 4000
#: What a successful form says on the page it returns to (``?done=``).
NOTICES = {
    "enabled": N_("The operators feature is on."),
    "disabled": N_("The operators feature is off; the names stored from the dose reports "
                   "are deleted."),
    "settings": N_("Workers' training validity saved."),
    "profession": N_("Profession saved."),
    "profession_deleted": N_("Profession deleted."),
    "saved": N_("Operator saved."),
    "deleted": N_("Operator deleted."),
}
Field = Annotated[str, Form(max_length=FIELD_MAX)]
#: What an operator event says in place of a name it does not show.
NOT_KEPT = N_("name not kept")
NOT_SHOWN = N_("name not shown to this role")


def _status(entry: register.Entry, months: int, today: date) -> dict[str, Any]:
    def one(trained: date | None, valid: int) -> dict[str, Any]:
        return {"on": trained, "until": valid_until(trained, valid),
                "lapsed": lapsed(trained, valid, today)}
    return {"e": entry, "workers": one(entry.workers_on, months),
            "patients": one(entry.patients_on, entry.patients_months)}


def _page(request: Request, db: sqlite3.Connection, *, notice: str = "",
          errors: dict[str, str] | None = None, form: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    on = settings.enabled(db)
    months = settings.workers_months(db)
    today = datetime.now(UTC).date()
    return render(request, "admin_operators.html", {
        "on": on, "switched": settings.switched(db), "workers_months": months,
        "professions": settings.professions(db) if on else [],
        "rows": [_status(e, months, today) for e in register.listing(db)] if on else [],
        "notice": notice, "errors": errors or {}, "form": form or {},
        "colon": "\u202f: " if language(request) == "fr" else ": ",
        **timeshow.helpers(language(request))}, status_code)


def _refused(request: Request, db: sqlite3.Connection, exc: OperatorError,
             form: dict[str, str] | None = None) -> HTMLResponse:
    """The page again, 400, the message naming the field (and the form as it was sent)."""
    label = translate(request, settings.FIELDS.get(exc.field, exc.field))
    colon = "\u202f: " if language(request) == "fr" else ": "
    message = translate(request, exc.message).format(**exc.params)
    return _page(request, db, errors={exc.field: f"{label}{colon}{message}"}, form=form,
                 status_code=400)


def _done(what: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/operators?done={what}", status_code=303)


@router.get("/admin/operators", response_class=HTMLResponse, include_in_schema=False)
def operators_page(request: Request, user: Admin, db: Db,
                   done: Annotated[str, Query(max_length=40)] = "") -> HTMLResponse:
    notice = translate(request, NOTICES[done]) if done in NOTICES else ""
    return _page(request, db, notice=notice)


@router.post("/admin/operators/enable", response_class=HTMLResponse, include_in_schema=False)
def enable(request: Request, user: Admin, db: Db, cse_consulted: Field = "") -> Response:
    try:
        settings.enable(db, cse_consulted, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc)
    return _done("enabled")


@router.post("/admin/operators/disable", response_class=HTMLResponse, include_in_schema=False)
def disable(request: Request, user: Admin, db: Db) -> Response:
    settings.disable(db, user, request)
    return _done("disabled")


@router.post("/admin/operators/settings", response_class=HTMLResponse,
             include_in_schema=False)
def workers_settings(request: Request, user: Admin, db: Db,
                     workers_months: Field = "") -> Response:
    try:
        settings.set_workers_months(db, workers_months, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc, {"workers_months": workers_months})
    return _done("settings")


@router.post("/admin/operators/professions", response_class=HTMLResponse,
             include_in_schema=False)
def save_profession(request: Request, user: Admin, db: Db, profession_name: Field = "",
                    patients_months: Field = "") -> Response:
    try:
        settings.save_profession(db, profession_name, patients_months, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc, {"profession_name": profession_name,
                                           "patients_months": patients_months})
    return _done("profession")


@router.post("/admin/operators/professions/delete", response_class=HTMLResponse,
             include_in_schema=False)
def delete_profession(request: Request, user: Admin, db: Db, profession: Field = "") -> Response:
    try:
        settings.delete_profession(db, profession, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc)
    return _done("profession_deleted")


@router.post("/admin/operators/save", response_class=HTMLResponse, include_in_schema=False)
def save_operator(request: Request, user: Admin, db: Db, operator: Field = "", name: Field = "",
                  profession: Field = "", workers_on: Field = "", patients_on: Field = "",
                  name_forms: Field = "", other_ids: Field = "") -> Response:
    sent = {"operator": operator, "name": name, "profession": profession,
            "workers_on": workers_on, "patients_on": patients_on, "name_forms": name_forms,
            "other_ids": other_ids}
    try:
        form = register.parse_form(db, name, profession, workers_on, patients_on, name_forms,
                                   other_ids)
        register.save(db, operator, form, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc, sent)
    return _done("saved")


@router.post("/admin/operators/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_operator(request: Request, user: Admin, db: Db, operator: Field = "") -> Response:
    try:
        register.delete(db, operator, user, request)
    except OperatorError as exc:
        return _refused(request, db, exc)
    return _done("deleted")


def exposure_operators(request: Request, device: str, items: Iterable[Any]
                       ) -> dict[ExposureKey, list[Named]] | None:
    """For the room page: each listed emission's operators, or none (no column) when the
    feature is off or the reader is below the PCR (names of employees: who follows up)."""
    user = getattr(request.state, "user", None)
    holder = getattr(request.state, "db", None)
    if user is None or not user.can("pcr") or not isinstance(holder, RequestDb):
        return None
    keys = [(str(e.journal), int(e.run), int(e.number)) for e in items]
    return for_exposures(holder.get(), device, keys)


def event_detail(request: Request, conn: sqlite3.Connection | None, detail: Any) -> Any:
    """An event's detail for the events page: an operator event's person named to the
    PCR and the admin only (:mod:`hub.rdsr.operators_events`)."""
    user = getattr(request.state, "user", None)
    return operators_events.resolve(conn, detail, user is not None and user.can("pcr"),
                                    translate(request, NOT_KEPT),
                                    translate(request, NOT_SHOWN))


_GLOBALS: dict[str, Callable[..., Any]] = {"exposure_operators": exposure_operators}
TEMPLATES.env.globals.update(_GLOBALS)
