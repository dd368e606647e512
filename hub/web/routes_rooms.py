"""Rooms: the overview, a room's page, its exposures as CSV, and the same data under /api.

Pages (HTML, for the PCR):

- ``GET /``: one card per room, refreshed live (``sse:rooms``, ``sse:events``)
  from the fragment ``GET /overview/cards``;
- ``GET /rooms/{device}``: live signals (fragment ``/rooms/{device}/signals``,
  on ``sse:rooms``), the dose-rate chart (fragment ``/rooms/{device}/chart``,
  ``range`` = 24h | 7d | quarter), the exposures table with its filters
  (``from``, ``to``: dates, UTC; ``requested``, ``alarm``: any | yes | no;
  ``page``);
- ``GET /rooms/{device}/exposures.csv``: the same filters, every matching row.

API (JSON, documented at /api/docs): ``/api/rooms``, ``/api/rooms/{device}``,
``/api/rooms/{device}/readings?range=``, ``/api/rooms/{device}/exposures``.
Every route needs the viewer role. The live stream is :mod:`hub.web.live`.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator

from hub.db.connection import get_db
from hub.web import chart, live, rooms
from hub.web.auth import User, require
from hub.web.params import Page
from hub.web.rooms import Choice, ExposureFilters, ExposurePage, Range, Readings, Room
from hub.web.templating import render, translate

router = APIRouter()
router.include_router(live.router)

Viewer = Annotated[User, Depends(require("viewer"))]
Db = Annotated[sqlite3.Connection, Depends(get_db)]

CHOICES = ("any", "yes", "no")
CSV_COLUMNS = ("device", "journal", "run", "number", "state", "start", "end", "duration_s",
               "requested", "resumed", "interrupted", "procedure", "pulses", "doors_open",
               "emission_light_ok", "max_dose_rate_usv_h", "dose_usv", "saturated", "alarms",
               "calibration", "clock_synced", "clock_implausible")


# -- helpers for the templates ------------------------------------------------------------------


def when(text: str | None) -> str:
    """``2026-01-05T07:00:05.250Z`` as ``2026-01-05 07:00:05`` (UTC, said in the headings)."""
    if not text:
        return "—"
    return text.replace("T", " ")[:19]


def rate(value: float | None) -> str:
    """3 significant digits; thousands grouped; beyond a billion (no measurement: an older
    hub's 1e308 or infinity) in exponent form rather than 300 digits."""
    if value is None:
        return "—"
    if 1000 <= value < 1e9:
        return f"{value:,.0f}".replace(",", "\u202f")
    return f"{value:.3g}"


def seconds(value: float | None) -> str:
    """A duration in seconds to a tenth (exponent form past a billion, as :func:`rate`)."""
    if value is None:
        return "—"
    return f"{value:.1f}" if value < 1e9 else f"{value:.3g}"


def _ctx(**values: Any) -> dict[str, Any]:
    return {"when": when, "rate": rate, "seconds": seconds, **values}


def _room_or_404(db: sqlite3.Connection, device: str) -> Room:
    room = rooms.get_room(db, device)
    if room is None:
        raise HTTPException(status_code=404, detail=f"no room with the device {device!r}")
    return room


# -- filters from a form: errors next to the field ------------------------------------------------


def form_filters(request: Request) -> tuple[ExposureFilters, int, dict[str, str]]:
    """The exposure filters of the query string; bad fields are left out and explained."""
    q = request.query_params
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (q.get(name) or "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = translate(request, "Expected a date: YYYY-MM-DD.")
    choices: dict[str, Choice] = {}
    for name in ("requested", "alarm"):
        raw = (q.get(name) or "any").strip()
        if raw in CHOICES:
            choices[name] = raw  # type: ignore[assignment]
        else:
            errors[name] = translate(request, "Expected any, yes or no.")
            choices[name] = "any"
    start, stop = dates["from"], dates["to"]
    if start is not None and stop is not None and stop < start:
        errors["to"] = translate(request, "The end date is before the start date.")
        dates["to"] = None
    page = 1
    raw_page = (q.get("page") or "1").strip()
    if raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= 18 and int(raw_page) >= 1:
        page = int(raw_page)  # 18 digits: an SQLite integer whatever they are
    else:
        errors["page"] = translate(request, "Expected a page number.")
    filters = ExposureFilters(date_from=dates["from"], date_to=dates["to"],
                              requested=choices["requested"], alarm=choices["alarm"])
    return filters, page, errors


def _range(request: Request) -> tuple[Range, str | None]:
    raw = request.query_params.get("range") or "24h"
    if raw in rooms.RANGES:
        return raw, None  # type: ignore[return-value]
    return "24h", translate(request, "Expected 24h, 7d or quarter.")


def _end(request: Request) -> tuple[datetime | None, str | None]:
    """The chart's end: a day (its end, UTC) or a time (UTC); none: now."""
    raw = (request.query_params.get("end") or "").strip()
    if not raw:
        return None, None
    try:
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), time.max, UTC)
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None, translate(request,
                               "Expected a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM).")
    try:
        return rooms.chart_end(parsed), None
    except ValueError:
        return None, translate(request, "Expected a date from {first} to {last}.").format(
            first=rooms.END_MIN.date().isoformat(), last=rooms.END_MAX.date().isoformat())


def _query(request: Request, **changes: Any) -> str:
    params = {k: v for k, v in request.query_params.items() if k in
              ("range", "end", "from", "to", "requested", "alarm", "page")}
    params.update({k: str(v) for k, v in changes.items()})
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


# -- pages ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/overview.html", _ctx(rooms=rooms.list_rooms(db)))


@router.get("/overview/cards", response_class=HTMLResponse, include_in_schema=False)
def overview_cards(request: Request, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/_cards.html", _ctx(rooms=rooms.list_rooms(db)))


@router.get("/rooms/{device}", response_class=HTMLResponse, include_in_schema=False)
def room_page(request: Request, device: str, user: Viewer, db: Db) -> Response:
    room = _room_or_404(db, device)
    range_, range_error = _range(request)
    end, end_error = _end(request)
    filters, page, errors = form_filters(request)
    errors.update({k: v for k, v in (("range", range_error), ("end", end_error)) if v})
    data = rooms.readings(db, device, range_, end)
    listing = rooms.exposures(db, device, filters, page)
    q = request.query_params
    return render(request, "rooms/room.html", _ctx(
        room=room, readings=data, svg=chart.draw(data), range=range_, listing=listing,
        errors=errors,
        form={k: q.get(k, "") for k in ("from", "to", "requested", "alarm", "end")},
        query=lambda **changes: _query(request, **changes)), 422 if errors else 200)


@router.get("/rooms/{device}/signals", response_class=HTMLResponse, include_in_schema=False)
def room_signals(request: Request, device: str, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/_signals.html", _ctx(room=_room_or_404(db, device)))


@router.get("/rooms/{device}/chart", response_class=HTMLResponse, include_in_schema=False)
def room_chart(request: Request, device: str, user: Viewer, db: Db) -> Response:
    room = _room_or_404(db, device)
    range_, range_error = _range(request)
    end, end_error = _end(request)
    data = rooms.readings(db, device, range_, end)
    errors = {k: v for k, v in (("range", range_error), ("end", end_error)) if v}
    return render(request, "rooms/_chart.html", _ctx(
        room=room, readings=data, svg=chart.draw(data), range=range_, errors=errors,
        form={k: request.query_params.get(k, "")
              for k in ("from", "to", "requested", "alarm", "end")},
        query=lambda **changes: _query(request, **changes)), 422 if errors else 200)


@router.get("/rooms/{device}/exposures.csv", include_in_schema=False)
def room_exposures_csv(request: Request, device: str, user: Viewer, db: Db) -> Response:
    """Every exposure matching the filters, oldest first; UTF-8, a header row."""
    room = _room_or_404(db, device)
    filters, _page, errors = form_filters(request)
    errors.pop("page", None)
    if errors:
        text = "\n".join(f"{name}: {message}" for name, message in errors.items())
        return Response(text + "\n", status_code=422, media_type="text/plain; charset=utf-8")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in rooms.all_exposures(db, device, filters):
        row = item.model_dump()
        writer.writerow([_csv_cell(row[c]) for c in CSV_COLUMNS])
    span = "_".join(str(d) for d in (filters.date_from, filters.date_to) if d is not None)
    name = f"exposures_{room.device}{'_' + span if span else ''}.csv"
    return Response(out.getvalue().encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _csv_cell(value: Any) -> Any:
    """Lists as ``a;b``, booleans as 1/0, none as empty; text that a spreadsheet would run
    as a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``."""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# -- API ------------------------------------------------------------------------------------------


@router.get("/api/rooms", response_model=list[Room], tags=["rooms"])
def api_rooms(user: Viewer, db: Db) -> list[Room]:
    """Every room: presence, live state (inputs, doors, lamps, alarms), dose rate with its
    calibration, and the count of open events."""
    return rooms.list_rooms(db)


@router.get("/api/rooms/{device}", response_model=Room, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_room(device: str, user: Viewer, db: Db) -> Room:
    """One room, as in ``/api/rooms``."""
    return _room_or_404(db, device)


@router.get("/api/rooms/{device}/readings", response_model=Readings, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_readings(
    device: str, user: Viewer, db: Db,
    range_: Annotated[Range, Query(alias="range", description="24h, 7d or quarter")] = "24h",
    end: Annotated[datetime | None, Query(
        description=f"end of the range (default: now), {rooms.END_MIN.date()} to"
                    f" {rooms.END_MAX.date()}"), AfterValidator(rooms.chart_end)] = None,
) -> Readings:
    """The dose-rate chart's points (mean and max of each step), from the rollups."""
    _room_or_404(db, device)
    return rooms.readings(db, device, range_, end)


@router.get("/api/rooms/{device}/exposures", response_model=ExposurePage, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_exposures(
    device: str, user: Viewer, db: Db,
    date_from: Annotated[date | None, Query(alias="from", description="first day (UTC)")]
    = None,
    date_to: Annotated[date | None, Query(alias="to", description="last day (UTC), included")]
    = None,
    requested: Annotated[Choice, Query(description="requested by the operator")] = "any",
    alarm: Annotated[Choice, Query(description="with at least one alarm")] = "any",
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = rooms.PER_PAGE,
) -> ExposurePage:
    """A room's exposures, newest first, filtered and paginated."""
    _room_or_404(db, device)
    if date_from is not None and date_to is not None and date_to < date_from:
        raise HTTPException(status_code=422, detail=[{
            "loc": ["query", "to"], "type": "value_error",
            "msg": "the end date is before the start date", "input": str(date_to)}])
    filters = ExposureFilters(date_from=date_from, date_to=date_to, requested=requested,
                              alarm=alarm)
    return rooms.exposures(db, device, filters, page, per_page)
