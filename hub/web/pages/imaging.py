"""Page: the imaging devices that send RDSRs and the room each maps to (admin).

``GET /admin/imaging`` lists each device seen (:func:`hub.rdsr.devices.listing`: its
identity, the peers that sent its files, first and last file, studies) with a choice of
the hub's boxes by their display names, and for a mapped device its estimated clock
offset (:mod:`hub.rdsr.clock`), flagged beyond ``[dicom] clock_tolerance_s``.
``POST /admin/imaging`` (``imaging``: the device's number, ``device``: a box or empty;
CSRF by the middleware) sets the mapping, audited (``imaging.map``) in the same
transaction; a forged number or box re-shows the page with a 400 naming the field.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.rdsr import devices
from hub.rdsr.clock import split_offset
from hub.web import names
from hub.web.deps import Admin, Db, config_of
from hub.web.i18n import language
from hub.web.templating import render, translate

router = APIRouter()

#: A form field's bound before :mod:`hub.rdsr.devices` says what is wrong with it.
FIELD_MAX = 2000


def _rows(request: Request, db: sqlite3.Connection) -> list[dict[str, Any]]:
    tolerance = config_of(request).dicom.clock_tolerance_s
    out = []
    for device in devices.listing(db):
        offset = devices.clock_offset(db, device, tolerance)
        shown = None
        if offset is not None:
            sign, minutes, seconds = split_offset(offset.seconds)
            shown = {"sign": sign, "minutes": minutes, "seconds": seconds,
                     "pairs": offset.pairs, "drift": offset.drift}
        out.append({"d": device, "offset": shown})
    return out


def _page(request: Request, db: sqlite3.Connection, *, notice: str = "", error: str = "",
          failed: str = "", status_code: int = 200) -> HTMLResponse:
    labels = names.load(db)
    # A box the site named: its name and place; else its place alone (not the key twice).
    boxes = [{"device": d, "label": f"{labels.device(d)} ({s} / {r})"
              if labels.device(d) != d else f"{s} / {r}"} for d, s, r in devices.boxes(db)]
    known = {b["device"] for b in boxes}
    rows = _rows(request, db)
    ids = {str(r["d"].id) for r in rows}
    return render(request, "admin_imaging.html", {
        "rows": rows, "boxes": boxes, "known": known, "notice": notice,
        "tolerance_s": round(config_of(request).dicom.clock_tolerance_s),
        "row_error": error if failed in ids else "", "failed": failed,
        # A number that is not on the page (a forged form): said at the top.
        "general_error": error if failed not in ids else ""}, status_code)


@router.get("/admin/imaging", response_class=HTMLResponse, include_in_schema=False)
def imaging_page(request: Request, user: Admin, db: Db,
                 saved: Annotated[str, Query(max_length=40)] = "") -> HTMLResponse:
    notice = ""
    if saved:
        notice = translate(request, "Mapping of imaging device {n} saved.").format(n=saved)
    return _page(request, db, notice=notice)


@router.post("/admin/imaging", response_class=HTMLResponse, include_in_schema=False)
def set_mapping(request: Request, user: Admin, db: Db,
                imaging: Annotated[str, Form(max_length=FIELD_MAX)] = "",
                device: Annotated[str, Form(max_length=FIELD_MAX)] = "") -> Response:
    try:
        devices.set_mapping(db, imaging, device, user, request)
    except devices.MappingError as exc:
        field = translate(request, devices.FIELDS[exc.field])
        colon = "\u202f: " if language(request) == "fr" else ": "
        message = translate(request, exc.message).format(**exc.params)
        return _page(request, db, error=f"{field}{colon}{message}", failed=imaging,
                     status_code=400)
    return RedirectResponse("/admin/imaging?" + urlencode({"saved": imaging}) + "#imaging",
                            status_code=303)
