"""Pages: the patients' doses, for the physician and the medical physicist (role
``clinical`` only; issue 17, item 5).

``GET /clinical/studies`` lists the studies received, those that passed a HAS threshold
(the ``patient_dose_threshold`` events) by default, ``?show=all`` every one, newest
first, each with its patient's identity, room, figures and thresholds passed.
``GET /clinical/studies/{uid}`` shows one study: the patient's identity as each file
gives it, its figures (:func:`hub.rdsr.study_totals.study_totals`: the totals file's or
its distinct events' sum, whichever is larger; a biplane Ka,r per plane), the thresholds
passed, the event and its follow-up, the files received (those emptied by the retention
said so). ``POST /clinical/studies/{uid}/acknowledge|close`` record that follow-up (a
comment each) through the PCR's own actions (:mod:`hub.events.workflow`, audited as
``event.acknowledge``/``event.close`` as the events page's are): the follow-up belongs to
the physician and the medical physicist, so a PCR does not have to close these events for
them. Only this study's ``patient_dose_threshold`` event can be reached so.

These pages are the only place a patient's identity is shown: only their queries read
``rdsr_patients`` (:func:`hub.rdsr.patients.identities`), and only the ``clinical`` role
reaches them (:data:`hub.web.deps.Clinical`: an admin is refused too). Each page that
shows identities adds one ``clinical.view`` audit row (who saw whose: the study, or the
list's studies, by UID), so that the GDPR's "who accessed this patient's data" has an
answer.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.db.connection import write
from hub.events import workflow as ev
from hub.messages import N_
from hub.rdsr import thresholds
from hub.rdsr.patients import Identity, identities
from hub.rdsr.study_totals import StudyTotals, study_totals
from hub.web import audit, names
from hub.web.annex import duration
from hub.web.api.events import act
from hub.web.auth import User
from hub.web.deps import Clinical, Db, now_of
from hub.web.i18n import gettext_for, language
from hub.web.numfmt import number
from hub.web.templating import render, translate
from hub.web.timeshow import short_day

router = APIRouter()

#: The rows a list shows (the newest); a hospital's week of studies and more.
PAGE_ROWS: Final = 200
#: A DICOM UID: digits and dots, at most 64 characters.
_UID: Final = re.compile(r"[0-9.]{1,64}")
_STUDY_COLUMNS: Final = (
    "s.study_instance_uid, s.start_utc, s.first_seen_at, s.manufacturer, s.model,"
    " s.totals_sop_instance_uid, e.id, e.opened_at, e.detail, e.state")
#: The follow-up's states and notes, as the events page says them.
STATE_LABELS: Final = {"open": N_("Open"), "acknowledged": N_("Acknowledged"),
                       "closed": N_("Closed")}
NOTE_LABELS: Final = {"acknowledge": N_("Acknowledged"), "close": N_("Closed")}


def _birth(value: str | None, lang: str) -> str:
    """A DICOM date (``19540312``) as a day; as given when it names none."""
    if value and len(value) == 8 and value.isdigit():
        day = f"{value[:4]}-{value[4:6]}-{value[6:]}"
        shown = short_day(day, lang)
        return value if shown == day else shown  # a day that is none: as the file says
    return value or "—"


def _person(identity: Identity, lang: str) -> dict[str, str]:
    """A PN's components (``DOE^JOHN``) as words; each field or a dash."""
    name = " ".join((identity.patient_name or "").replace("^", " ").split())
    return {"name": name or "—", "id": identity.patient_id or "—",
            "birth": _birth(identity.birth_date, lang)}


def _room(conn: sqlite3.Connection, study: str, labels: names.Names) -> dict[str, Any]:
    room = thresholds.room_of(conn, study)
    if room is None or not room.mapped:
        number_ = room.device.removeprefix("imaging:") if room is not None else "?"
        return {"mapped": False, "imaging": number_}
    return {"mapped": True, "label": labels.device(room.device), "site": room.site,
            "room": room.room}


def _figures(totals: StudyTotals | None, lang: str, gettext: Any) -> dict[str, Any]:
    """The study's figures in words; ``planes``: a biplane study's Ka,r, plane by plane
    (each at its own reference point: never summed for the patient)."""
    def shown(value: float | None, factor: float = 1.0) -> str:
        return number(None if value is None else float(value) * factor, lang, 4)

    if totals is None:
        totals = StudyTotals("", None, 0, None, None, None, None, None)
    named = {p: v for p, v in totals.kar_per_plane.items() if p in thresholds.NAMED_PLANES}
    planes = [(thresholds.NAMED_PLANES[p], shown(named[p])) for p in sorted(named)]
    return {"dap": shown(totals.dap_gym2, 1e4), "kar": shown(totals.kar_gy),
            "planes": planes if len(planes) > 1 else [],
            "psd": shown(totals.peak_skin_dose_gy),
            "fluoro": "—" if totals.fluoro_time_s is None
            else duration(float(totals.fluoro_time_s), gettext, lang)}


def _study_row(conn: sqlite3.Connection, row: Any, totals: StudyTotals | None,
               labels: names.Names, lang: str, gettext: Any) -> dict[str, Any]:
    try:  # a store edited by hand, or a newer hub's detail, never takes the page down
        detail = json.loads(row["detail"] or "{}")
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    return {
        "uid": row["study_instance_uid"], "start": row["start_utc"] or row["first_seen_at"],
        "device": " ".join(p for p in (row["manufacturer"], row["model"]) if p) or "—",
        "room": _room(conn, row["study_instance_uid"], labels),
        "figures": _figures(totals, lang, gettext), "event": row["id"],
        "event_at": row["opened_at"],
        "event_state": row["state"], "revised_at": detail.get("revised_at"),
        "passed": thresholds.word("passed", detail.get("passed", []), gettext,
                                  lambda v: number(v, lang, 4)) if row["id"] else "",
        "totals_file": row["totals_sop_instance_uid"],
    }


def _join() -> str:
    return (" FROM rdsr_studies s LEFT JOIN events e ON e.kind = 'patient_dose_threshold'"
            " AND e.ref = 'study:' || s.study_instance_uid")


@router.get("/clinical/studies", response_class=HTMLResponse, include_in_schema=False)
def studies_page(request: Request, user: Clinical, db: Db,
                 show: Annotated[Literal["passed", "all"], Query()] = "passed"
                 ) -> HTMLResponse:
    lang = language(request)
    gettext = _gettext(request)
    where = " WHERE e.id IS NOT NULL" if show == "passed" else ""
    rows = db.execute(
        f"SELECT {_STUDY_COLUMNS}{_join()}{where}"
        " ORDER BY COALESCE(s.start_utc, s.first_seen_at) DESC LIMIT ?",
        [PAGE_ROWS + 1]).fetchall()
    more = len(rows) > PAGE_ROWS
    labels = names.load(db)
    rows = rows[:PAGE_ROWS]
    figures = study_totals(db, [r["study_instance_uid"] for r in rows])
    shown = [_study_row(db, r, figures.get(r["study_instance_uid"]), labels, lang, gettext)
             for r in rows]
    people = identities(db, [s["uid"] for s in shown])
    for s in shown:
        s["people"] = [_person(i, lang) for i in people.get(s["uid"], [])]
    _viewed(request, db, user, "", [s["uid"] for s in shown if s["people"]])
    return render(request, "clinical_studies.html", {
        "studies": shown, "show": show, "more": more, "page_rows": PAGE_ROWS})


@router.get("/clinical/studies/{uid}", response_class=HTMLResponse, include_in_schema=False)
def study_page(request: Request, uid: str, user: Clinical, db: Db) -> Response:
    return _study_page(request, db, user, uid)


def _study_page(request: Request, db: sqlite3.Connection, user: User, uid: str,
                errors: dict[str, dict[str, str]] | None = None,
                values: dict[str, dict[str, str]] | None = None,
                status_code: int = 200) -> Response:
    row = _study_of(db, uid)
    lang = language(request)
    study = _study_row(db, row, study_totals(db, [uid]).get(uid), names.load(db), lang,
                       _gettext(request))
    study["people"] = [_person(i, lang) for i in identities(db, [uid]).get(uid, [])]
    files = [dict(r) for r in db.execute(
        "SELECT f.sop_instance_uid, f.received_at, f.peer, f.events, f.sha256,"
        " p.purged_at, p.retention_days FROM rdsr_files f LEFT JOIN rdsr_purged p"
        " ON p.kind = 'file' AND p.key = f.sop_instance_uid"
        " WHERE f.study_instance_uid = ? ORDER BY f.received_at", [uid])]
    events = int(db.execute("SELECT count(*) FROM rdsr_irradiation_events"
                            " WHERE study_instance_uid = ?", [uid]).fetchone()[0])
    follow = ev.current(db, int(row["id"])) if row["id"] is not None else None
    if study["people"]:
        _viewed(request, db, user, f"study:{uid}", [])
    gettext = _gettext(request)
    return render(request, "clinical_study.html", {
        "study": study, "files": files, "irradiation_events": events,
        "follow_up": thresholds.word("follow_up", thresholds.FOLLOW_UP, gettext, str),
        "event": follow, "notes": ev.notes(db, int(row["id"])) if follow else [],
        "state_label": lambda key: gettext(STATE_LABELS.get(key, key)),
        "note_label": lambda key: gettext(NOTE_LABELS.get(key, key)),
        "errors": errors or {}, "values": values or {}}, status_code)


def _study_of(db: sqlite3.Connection, uid: str) -> Any:
    """The study's row with its event's, or 404 (a UID is digits and dots)."""
    if not _UID.fullmatch(uid):
        raise HTTPException(404, "No such study.")
    row = db.execute(f"SELECT {_STUDY_COLUMNS}{_join()} WHERE s.study_instance_uid = ?",
                     [uid]).fetchone()
    if row is None:
        raise HTTPException(404, "No such study.")
    return row


def _viewed(request: Request, db: sqlite3.Connection, user: User, target: str,
            studies: list[str]) -> None:
    """One audit row for a page showing identities: the study it shows (``target``), or
    the list's studies that named a patient (none named, no row)."""
    if not target and not studies:
        return
    with write(db):
        audit.record(db, user, "clinical.view", target,
                     {"studies": studies} if studies else {}, request)


def _follow_up(request: Request, db: sqlite3.Connection, user: User, uid: str,
               action: str, comment: str) -> Response:
    """Acknowledge or close the study's threshold event, as the PCR would (one
    transaction: the event, its note, the audit row); refused, the page again (422)."""
    row = _study_of(db, uid)
    if row["id"] is None:
        raise HTTPException(404, "This study passed no threshold.")
    event_id, who, now = int(row["id"]), user.username, now_of(request)
    run = {"acknowledge": lambda: ev.acknowledge(db, event_id, who, comment, now),
           "close": lambda: ev.close(db, event_id, who, comment, now)}[action]
    try:
        act(request, db, user, event_id, action, run)
    except ev.EventError as exc:
        message = translate(request, exc.message).format(**exc.params)
        return _study_page(request, db, user, uid, {action: {exc.field: message}},
                           {action: {"comment": comment}}, 422)
    return RedirectResponse(f"/clinical/studies/{uid}#follow-up", status_code=303)


@router.post("/clinical/studies/{uid}/acknowledge", include_in_schema=False)
def acknowledge_form(request: Request, uid: str, user: Clinical, db: Db,
                     comment: Annotated[str, Form()] = "") -> Response:
    return _follow_up(request, db, user, uid, "acknowledge", comment)


@router.post("/clinical/studies/{uid}/close", include_in_schema=False)
def close_form(request: Request, uid: str, user: Clinical, db: Db,
               comment: Annotated[str, Form()] = "") -> Response:
    return _follow_up(request, db, user, uid, "close", comment)


def _gettext(request: Request) -> Any:
    return gettext_for(request).gettext
