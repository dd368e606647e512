"""Pages: the rooms' overview, a room's page, its exposures as CSV (HTML, for the PCR).

- ``GET /``: one card per room, refreshed live (``sse:rooms``, ``sse:events``)
  from the fragment ``GET /overview/cards``;
- ``GET /rooms/{device}``: live signals (fragment ``/rooms/{device}/signals``,
  on ``sse:rooms``), the dose-rate chart (:mod:`hub.web.chart_view`; its fragment
  ``/rooms/{device}/chart`` is :mod:`hub.web.pages.chart`), the exposures table with its filters
  (``from``, ``to``: Paris days; ``requested``, ``alarm``: any | yes | no;
  ``page``);
- ``GET /rooms/{device}/exposures.csv``: the same filters, every matching row;
- ``GET /rooms/{device}/changes.csv``: the journaled input changes (``from``, ``to``);
  both CSV files in the request's language, for a spreadsheet (:mod:`hub.web.csv_export`:
  French Excel's ``;`` and decimal comma, a BOM, Paris times with their offset);
- ``GET /rooms/{device}/journal.jsonl``: the journal export with its hashes, for an
  inspector (``docs/protocol.md``, "The hash chain").

The page also shows the badge of the device's hash chain (:mod:`hub.chain.status`)
and its latest input changes.

One clock: every time a person reads is Europe/Paris wall time (the page says the
zone once, under its title), and the days of the filters are Paris days (23 or 25
hours when the clocks change). Numbers are written in the reader's language
(:mod:`hub.web.numfmt`), states in words, and the site's own names of its boxes,
doors and lamps (:mod:`hub.web.names`) stand for the config keys.

The same data as JSON: :mod:`hub.web.api.rooms`. Every route needs the viewer
role. The live stream is :mod:`hub.web.live`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from hub.chain.export import export_lines
from hub.chain.status import device_status
from hub.db.connection import connect
from hub.messages import N_
from hub.web import changes, chart_view, csv_export, names, numfmt, rooms, timeshow
from hub.web.api.rooms import room_or_404
from hub.web.deps import Db, Viewer
from hub.web.i18n import language
from hub.web.rooms import Choice, ExposureFilters
from hub.web.templating import render, translate
from hub.workdays import PARIS

router = APIRouter()

CHOICES = ("any", "yes", "no")
CSV_COLUMNS = ("device", "journal", "run", "number", "state", "start", "end", "duration_s",
               "requested", "resumed", "interrupted", "procedure", "pulses", "doors_open",
               "emission_light_ok", "max_dose_rate_usv_h", "dose_usv", "saturated", "alarms",
               "calibration", "clock_synced", "clock_implausible")
#: How the CSV files write their times and numbers (:mod:`hub.web.csv_export`).
EXPOSURE_KINDS: dict[str, csv_export.Kind] = {
    "start": "time", "end": "time", "duration_s": "seconds", "max_dose_rate_usv_h": "dose",
    "dose_usv": "dose"}
CHANGE_KINDS: dict[str, csv_export.Kind] = {"first": "time", "last": "time",
                                            "stored_at": "time"}


# -- helpers for the templates ------------------------------------------------------------------


def when(text: str | None) -> str:
    """``2026-01-05T07:00:05.250Z`` as ``2026-01-05 08:00:05``: Paris wall time, to the
    second (the page says the zone once)."""
    return timeshow.paris(text, True) if text else "—"


def signal_labeller(request: Request, labels: names.Names) -> Callable[[str, str], str]:
    """``label(device, signal)``: the site's name of an input, else its name in words
    (``door.corridor``: "Door corridor"), else its key as the agent sent it."""
    def label(device: str, signal: str) -> str:
        named = labels.signal(device, signal)
        if named:
            return named
        if signal in changes.SIGNAL_LABELS:
            return translate(request, changes.SIGNAL_LABELS[signal])
        for prefix, word in (("door.", "Door"), ("light.", "Light")):
            if signal.startswith(prefix):
                return f"{translate(request, word)} {signal.removeprefix(prefix)}"
        return signal

    return label


def state_word(signal: str, value: bool | None) -> str:
    """An input's state in words (an English msgid): a door is open or closed, a lamp lit
    or not, the tube's emission on or off, any other input yes or no."""
    if signal.startswith("door."):
        return N_("open") if value else N_("closed")
    if signal.startswith(("light.", "light_")):
        return N_("lit") if value else N_("not lit")
    if signal == "emission":
        return N_("X-rays on") if value else N_("X-rays off")
    return N_("yes") if value else N_("no")


def _ctx(request: Request, db: sqlite3.Connection, **values: Any) -> dict[str, Any]:
    """What the rooms' templates use: times, numbers, names (one query for the names)."""
    lang = language(request)
    labels = names.load(db)
    signal_label = signal_labeller(request, labels)
    return {
        "when": when,
        "rate": lambda value: numfmt.number(value, lang, 3),
        "seconds": lambda value: numfmt.fixed(value, lang, 1),
        "names": labels,
        "signal_label": signal_label,
        "state_word": lambda signal, value: translate(request, state_word(signal, value)),
        "door_label": lambda device, door: signal_label(device, "door." + door),
        # What an alarm is about: an input (``door.corridor``), or "door" (any door).
        "subject": lambda device, about: labels.subject(device, about)
        or (signal_label(device, about) if "." in about
            else translate(request, "Door") if about == "door" else about),
        # French puts a narrow no-break space before a colon.
        "colon": "\u202f: " if lang == "fr" else ": ",
        "room_title": lambda room: labels.get(room.device, "device", room.device)
        or f"{room.site} · {room.room}",
        **values}


# -- filters from a form: errors next to the field ------------------------------------------------


def form_dates(request: Request, errors: dict[str, str]) -> dict[str, date | None]:
    """The ``from`` and ``to`` dates of the query string (Paris days); a bad one is left
    out and explained in ``errors``."""
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (request.query_params.get(name) or "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = translate(request, "Expected a date: YYYY-MM-DD.")
    start, stop = dates["from"], dates["to"]
    if start is not None and stop is not None and stop < start:
        errors["to"] = translate(request, "The end date is before the start date.")
        dates["to"] = None
    return dates


def form_filters(request: Request) -> tuple[ExposureFilters, int, dict[str, str]]:
    """The exposure filters of the query string; bad fields are left out and explained."""
    q = request.query_params
    errors: dict[str, str] = {}
    dates = form_dates(request, errors)
    choices: dict[str, Choice] = {}
    for name in ("requested", "alarm"):
        raw = (q.get(name) or "any").strip()
        if raw in CHOICES:
            choices[name] = raw  # type: ignore[assignment]
        else:
            errors[name] = translate(request, "Expected any, yes or no.")
            choices[name] = "any"
    page = 1
    raw_page = (q.get("page") or "1").strip()
    if raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= 18 and int(raw_page) >= 1:
        page = int(raw_page)  # 18 digits: an SQLite integer whatever they are
    else:
        errors["page"] = translate(request, "Expected a page number.")
    filters = ExposureFilters(date_from=dates["from"], date_to=dates["to"],
                              requested=choices["requested"], alarm=choices["alarm"])
    return filters, page, errors


def _query(request: Request, **changes: Any) -> str:
    params = {k: v for k, v in request.query_params.items() if k in
              ("range", "end", "from", "to", "requested", "alarm", "page")}
    params.update({k: str(v) for k, v in changes.items()})
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


# -- pages ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/overview.html", _ctx(request, db, rooms=rooms.list_rooms(db)))


@router.get("/overview/cards", response_class=HTMLResponse, include_in_schema=False)
def overview_cards(request: Request, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/_cards.html", _ctx(request, db, rooms=rooms.list_rooms(db)))


@router.get("/rooms/{device}", response_class=HTMLResponse, include_in_schema=False)
def room_page(request: Request, device: str, user: Viewer, db: Db) -> Response:
    room = room_or_404(db, device)
    view = chart_view.build(request, db, room.device)
    filters, page, errors = form_filters(request)
    errors.update(view.errors)
    listing = rooms.exposures(db, device, filters, page, zone=PARIS)
    q = request.query_params
    return render(request, "rooms/room.html", _ctx(
        request, db,
        room=room, chart=view, readings=view.readings, range=view.range, listing=listing,
        errors=errors, chain=device_status(db, device), changes=changes.latest(db, device),
        form={k: q.get(k, "") for k in ("from", "to", "requested", "alarm", "end")},
        query=lambda **changes: _query(request, **changes)), 422 if errors else 200)


@router.get("/rooms/{device}/signals", response_class=HTMLResponse, include_in_schema=False)
def room_signals(request: Request, device: str, user: Viewer, db: Db) -> HTMLResponse:
    return render(request, "rooms/_signals.html",
                  _ctx(request, db, room=room_or_404(db, device)))


@router.get("/rooms/{device}/exposures.csv", include_in_schema=False)
def room_exposures_csv(request: Request, device: str, user: Viewer, db: Db) -> Response:
    """Every exposure matching the filters, oldest first, a header row, in the request's
    language (:mod:`hub.web.csv_export`)."""
    room = room_or_404(db, device)
    filters, _page, errors = form_filters(request)
    errors.pop("page", None)
    if errors:
        return _refused(errors)
    items = (item.model_dump() for item in rooms.all_exposures(db, device, filters, PARIS))
    body = csv_export.document(CSV_COLUMNS, ([row[c] for c in CSV_COLUMNS] for row in items),
                               language(request), EXPOSURE_KINDS)
    dates = {"from": filters.date_from, "to": filters.date_to}
    return _csv(body, _file_name("exposures", room.device, dates, "csv"))


def _csv(body: bytes, name: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _refused(errors: dict[str, str]) -> Response:
    """A download's bad query string, said in plain text (422), field by field."""
    text = "\n".join(f"{name}: {message}" for name, message in errors.items())
    return Response(text + "\n", status_code=422, media_type="text/plain; charset=utf-8")


def _file_name(kind: str, device: str, dates: dict[str, date | None], ext: str) -> str:
    """``changes_<device>_<from>_<to>.csv``, with only the characters a file name keeps (a
    device name is the agent's, a header must stay one safe line)."""
    span = "_".join(str(d) for d in (dates["from"], dates["to"]) if d is not None)
    stem = f"{kind}_{device}{'_' + span if span else ''}"
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_"
                   for c in stem) + "." + ext


@router.get("/rooms/{device}/changes.csv", include_in_schema=False)
def room_changes_csv(request: Request, device: str, user: Viewer, db: Db) -> Response:
    """Every journaled input change of the dates (``from``, ``to``: Paris days, by first
    edge), oldest first, a header row: one row per record, a run with its count; in the
    request's language (:mod:`hub.web.csv_export`)."""
    room = room_or_404(db, device)
    errors: dict[str, str] = {}
    dates = form_dates(request, errors)
    if errors:
        return _refused(errors)
    body = csv_export.document(changes.CSV_COLUMNS,
                               changes.csv_rows(db, device, dates["from"], dates["to"], PARIS),
                               language(request), CHANGE_KINDS)
    return _csv(body, _file_name("changes", room.device, dates, "csv"))


@router.get("/rooms/{device}/journal.jsonl", include_in_schema=False)
def room_journal(request: Request, device: str, user: Viewer, db: Db) -> Response:
    """The export of the device's journals (``journal``: one of them; ``from``, ``to``:
    Paris days, as ``voyant-hub journal export``), JSON lines with the hashes, for the
    inspector's script of ``docs/protocol.md``. Streamed from a connection
    of its own: the request's one is closed once the headers are sent, and a box's years
    of readings do not fit in memory."""
    room = room_or_404(db, device)
    errors: dict[str, str] = {}
    dates = form_dates(request, errors)
    journal = request.query_params.get("journal") or None
    if journal is not None and not (len(journal) <= 200 and journal.isprintable()):
        errors["journal"] = translate(request, "Unknown journal.")
    if errors:
        return _refused(errors)
    path = str(request.app.state.store_path)

    def lines() -> Iterator[bytes]:
        conn = connect(path)
        try:
            for line in export_lines(conn, room.device, journal=journal, since=dates["from"],
                                     until=dates["to"]):
                yield (line + "\n").encode()
        finally:
            conn.close()

    name = _file_name("journal", room.device, dates, "jsonl")
    return StreamingResponse(lines(), media_type="application/x-ndjson; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})

