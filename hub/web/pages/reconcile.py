"""Page: a room's emissions reconciled with its imaging devices' dose reports (viewer and up).

``GET /rooms/{site}/{room}/reconciliation?from=&to=`` (Paris days, included; the last
seven by default, a quarter at most) shows each study (the imaging device by its name,
its start in Paris time, Voyant's emission time beside the RDSR's fluoroscopy plus
acquisition time, the difference), the emissions no event covers with their verdict, the
events no emission covers, the clock offsets used, and how many emissions came before
the room's dose report feed started (not judged: a sentence says why). It only reads
(:func:`hub.rdsr.reconcile_store.compute`): the ``reconcile`` job writes the matches and
opens the events. No patient identifier: a study is its UID, shortened (the whole in a
title). A room with no box: 404; a bad day: the page again, 422, the field named.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from hub import workdays
from hub.messages import N_
from hub.rdsr.clock import split_offset
from hub.rdsr.reconcile_store import (
    Reconciliation,
    RoomUnknown,
    compute,
    imaging_name,
    paris_days,
)
from hub.timefmt import iso
from hub.web import names, numfmt
from hub.web.deps import Db, Viewer, config_of, now_of
from hub.web.i18n import language
from hub.web.templating import render, translate

router = APIRouter()

#: The longest range the page reconciles at once.
MAX_DAYS: Final = 93
DEFAULT_DAYS: Final = 7
VERDICTS: Final = {
    "matched": N_("Matched"),
    "pending": N_("Pending: the dose report may still arrive"),
    "excluded": N_("Left out: during a recorded verification or maintenance"),
    "no_study": N_("No study of the room covers that time"),
    "study_lacks_event": N_("A study covers that time, but not this emission"),
    "without_emission": N_("No emission of the room covers it"),
}


def short_uid(uid: str) -> str:
    """A UID short enough for a table cell (its end tells studies apart)."""
    return uid if len(uid) <= 16 else f"…{uid[-12:]}"


def _day(request: Request, name: str, errors: dict[str, str]) -> date | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) != 10 or not raw.isascii():
            raise ValueError(raw)
        day = date.fromisoformat(raw)
        if not 2000 <= day.year <= 8999:
            raise ValueError(raw)
        return day
    except ValueError:
        errors[name] = translate(request, "Expected a date: YYYY-MM-DD.")
        return None


def _range(request: Request, errors: dict[str, str]) -> tuple[date, date]:
    today = workdays.today(now_of(request))
    first, last = _day(request, "from", errors), _day(request, "to", errors)
    last = last or (first + timedelta(days=DEFAULT_DAYS - 1) if first else today)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        errors["to"] = translate(request, "The end date is before the start date.")
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    elif (last - first).days >= MAX_DAYS:
        errors["to"] = translate(request, "At most {n} days at once.").format(n=MAX_DAYS)
        first = last - timedelta(days=MAX_DAYS - 1)
    return first, last


def _helpers(request: Request, done: Reconciliation) -> dict[str, Any]:
    lang = language(request)

    def seconds(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "—"
        text = numfmt.fixed(abs(value) if signed else value, lang, 1)
        sign = ("+" if value > 0.05 else "−" if value < -0.05 else "") if signed else ""
        return f"{sign}{text}\u00a0s"

    def shown(value: float) -> str:
        sign, minutes, rest = split_offset(value)
        return f"{sign}{minutes}\u00a0min {rest}\u00a0s" if minutes else f"{sign}{rest}\u00a0s"

    def offset(key: int) -> str:
        found, used = done.offsets.get(key), done.used.get(key, 0.0)
        if found is None:
            return translate(request, "none estimated: the device's times are taken as they"
                                      " are")
        said = translate(request, "{offset} (from {n} pairs)").format(
            offset=shown(found.seconds), n=found.pairs)
        if used != found.seconds:
            said = translate(request, "none: the estimate, {offset}, covers fewer events"
                                      " than none").format(offset=said)
        return said + (" · " + translate(request, "drift beyond the tolerance")
                       if found.drift else "")

    return {"seconds": seconds, "offset": offset, "short_uid": short_uid,
            "at": lambda value: iso(value),
            "verdict": lambda code: translate(request, VERDICTS.get(code) or code),
            "imaging_label": lambda key: imaging_name(done.imaging.get(key)) or f"#{key}"}


@router.get("/rooms/{site}/{room}/reconciliation", response_class=HTMLResponse,
            include_in_schema=False)
def reconciliation_page(request: Request, site: str, room: str, user: Viewer,
                        db: Db) -> Response:
    errors: dict[str, str] = {}
    first, last = _range(request, errors)
    start, end = paris_days(first, last)
    dicom = config_of(request).dicom
    now: datetime = now_of(request)
    try:
        done = compute(db, site, room, start, end, now, dicom.reconcile_wait_h,
                       dicom.reconcile_tolerance_s, dicom.clock_tolerance_s,
                       dicom.reconcile_group_max_s)
    except RoomUnknown:
        raise HTTPException(status_code=404, detail="no such room") from None
    labels = names.load(db)
    box = done.boxes[0]
    result = done.result
    return render(request, "room_reconcile.html", {
        **_helpers(request, done), "done": done, "box": box,
        "room_label": labels.device(box) if labels.device(box) != box else f"{site} · {room}",
        "first": first.isoformat(), "last": last.isoformat(), "errors": errors,
        "form": {k: request.query_params.get(k, "")[:40] for k in ("from", "to")},
        "studies": result.studies,
        "unmatched": [r for r in result.emissions if r.verdict != "matched"],
        "counts": {key: sum(r.verdict == key for r in result.emissions) for key in
                   ("matched", "pending", "excluded", "no_study", "study_lacks_event")},
        "orphans": [e for e in result.events if e.verdict != "matched"],
        "wait_h": numfmt.number(done.wait_h, language(request)),
        "before_feed": result.before_feed,
        "feed_start": None if done.feed_start is None else iso(done.feed_start),
    }, 422 if errors else 200)
