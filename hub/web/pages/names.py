"""Page: the site's display names of its boxes, doors, lamps and points (admin).

``GET /admin/names`` lists what can be named (:func:`hub.web.names.targets`), each
key with its label; ``POST /admin/names`` (``device``, ``kind``, ``key``,
``label``; CSRF by the middleware) sets one label, or removes it when empty,
audited (``names.set``) in the same transaction. A refused label (too long,
control characters) or an unknown key re-shows the page (400) with the message next
to the row, the typed text kept. The keys stay visible here: the admin maps them.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.web import names
from hub.web.deps import Admin, Db
from hub.web.i18n import language
from hub.web.pages.rooms import signal_labeller
from hub.web.templating import render, translate

router = APIRouter()

#: A form field's bound before :func:`hub.web.names.clean` says what is wrong with it.
FIELD_MAX = 2000


def _page(request: Request, db: sqlite3.Connection, *, notice: str = "",
          failed: tuple[str, str, str] | None = None, typed: str = "", error: str = "",
          status_code: int = 200) -> HTMLResponse:
    labels = names.load(db)
    default = signal_labeller(request, names.Names())  # what a page says without a label
    targets = names.targets(db)
    rows = [{"device": device, "kind": kind, "key": key,
             "label": typed if (device, kind, key) == failed else labels.get(device, kind, key),
             "error": error if (device, kind, key) == failed else "",
             "default": default(device, key) if kind == "signal" else key}
            for device, kind, key in targets]
    return render(request, "admin_names.html", {
        "rows": rows, "notice": notice, "max_label": names.MAX_LABEL,
        # A key that is not on the page (a forged form): said at the top.
        "general_error": error if failed is not None and failed not in targets else ""},
        status_code)


@router.get("/admin/names", response_class=HTMLResponse, include_in_schema=False)
def names_page(request: Request, user: Admin, db: Db,
               saved: Annotated[str, Query(max_length=500)] = "") -> HTMLResponse:
    notice = translate(request, "Name of {key} saved.").format(key=saved) if saved else ""
    return _page(request, db, notice=notice)


@router.post("/admin/names", response_class=HTMLResponse, include_in_schema=False)
def set_name(request: Request, user: Admin, db: Db,
             device: Annotated[str, Form(max_length=FIELD_MAX)] = "",
             kind: Annotated[str, Form(max_length=FIELD_MAX)] = "",
             key: Annotated[str, Form(max_length=FIELD_MAX)] = "",
             label: Annotated[str, Form(max_length=FIELD_MAX)] = "") -> Response:
    try:
        names.set_label(db, device, kind, key, label, user, request)
    except names.LabelError as exc:
        field = translate(request, names.FIELDS[exc.field])
        colon = "\u202f: " if language(request) == "fr" else ": "
        message = translate(request, exc.message).format(**exc.params)
        return _page(request, db, failed=(device, kind, key), typed=label,
                     error=f"{field}{colon}{message}", status_code=400)
    return RedirectResponse("/admin/names?" + urlencode({"saved": key}) + "#names",
                            status_code=303)
