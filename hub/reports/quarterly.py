"""The quarterly ambient reports at rest: listed, read, measured, signed, corrected.

**Its life.** A report is a row of ``reports``: ``draft`` while the PCR
reviews it (its figures may be recomputed, and are rewritten only if they
changed, so its hash holds while the data do; manual measurements are added or
removed), then ``signed`` (name, date, and the hash of the draft the signer
read): its content is frozen with its SHA-256, its HTML and PDF kept, and the
database itself refuses any later change (triggers, REPLACE included). A
correction is a new version (``version`` + 1, ``supersedes`` the old id) in
draft, copying the content and the manual measurements; the old one stays.
Nothing is ever deleted (kept at least 10 years: for ever here).

Their figures are computed by :mod:`hub.reports.figures` and stored by
:mod:`hub.reports.preparation`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from hub.messages import N_
from hub.numbers import parse_decimal
from hub.reports import points as pts
from hub.reports.figures import content_hash
from hub.reports.quarters import ReportError, parse_quarter
from hub.timefmt import iso
from hub.workdays import PARIS

MEASUREMENT_UNITS: Final = {"passive_dosimeter": "µSv", "spot_check": "µSv/h"}
TEXT_MAX: Final = 200


@dataclass(frozen=True, slots=True)
class Filters:
    site: str | None = None
    room: str | None = None
    quarter: str | None = None
    status: str | None = None
    text: str | None = None
    latest_only: bool = False
    limit: int = 200
    offset: int = 0


_LIST_COLUMNS: Final = ("id, point_id, device, site, room, quarter, version, status,"
                        " content_sha256, signed_by, signer_name, signed_at, supersedes,"
                        " created_at, created_by, updated_at")


def _summary(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    newer = conn.execute("SELECT id FROM reports WHERE supersedes = ?", [out["id"]]).fetchone()
    out["superseded_by"] = int(newer[0]) if newer is not None else None
    return out


def list_reports(conn: sqlite3.Connection, filters: Filters) -> list[dict[str, Any]]:
    sql = (f"SELECT {_LIST_COLUMNS}, (SELECT name FROM points p WHERE p.id = r.point_id)"
           " AS point_name FROM reports r WHERE 1 = 1")
    params: list[Any] = []
    for column, value in (("site", filters.site), ("room", filters.room),
                          ("quarter", filters.quarter), ("status", filters.status)):
        if value:
            sql += f" AND {column} = ?"
            params.append(value)
    if filters.text:
        sql += " AND (room LIKE ? ESCAPE '\\' OR site LIKE ? ESCAPE '\\' OR device LIKE ? ESCAPE"
        sql += " '\\' OR quarter LIKE ? ESCAPE '\\' OR signer_name LIKE ? ESCAPE '\\')"
        like = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [like + "%"] * 5
    if filters.latest_only:
        sql += " AND NOT EXISTS (SELECT 1 FROM reports n WHERE n.supersedes = r.id)"
    sql += " ORDER BY quarter DESC, site, room, point_id, version DESC LIMIT ? OFFSET ?"
    params += [filters.limit, filters.offset]
    return [_summary(conn, r) for r in conn.execute(sql, params)]


def get_report(conn: sqlite3.Connection, report_id: int, *, with_files: bool = False
               ) -> dict[str, Any]:
    columns = _LIST_COLUMNS + ", content" + (", html, pdf, pdf_sha256" if with_files else
                                             ", pdf_sha256")
    row = conn.execute(f"SELECT {columns} FROM reports WHERE id = ?", [report_id]).fetchone()
    if row is None:
        raise ReportError("report", N_("No report {id}."), 404, id=report_id)
    out = _summary(conn, row)
    out["content"] = json.loads(out["content"])
    out["verified"] = content_hash(out["content"]) == out["content_sha256"]
    out["versions"] = [dict(r) for r in conn.execute(
        "SELECT id, version, status, signed_at, signer_name FROM reports"
        " WHERE point_id = ? AND quarter = ? ORDER BY version", [out["point_id"],
                                                                out["quarter"]])]
    return out


def _measurements(conn: sqlite3.Connection, report_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        "SELECT m.id, m.point_id, p.name AS point_name, m.kind, m.measured_on, m.period_end,"
        " m.value, m.unit, m.measured_by, m.instrument, m.comment, m.entered_by, m.entered_at"
        " FROM report_measurements m JOIN points p ON p.id = m.point_id"
        " WHERE m.report_id = ? ORDER BY m.measured_on, m.id", [report_id])]


def _store_content(conn: sqlite3.Connection, report_id: int, content: dict[str, Any],
                   now: datetime) -> None:
    content["measurements"] = _measurements(conn, report_id)
    conn.execute("UPDATE reports SET content = ?, content_sha256 = ?, updated_at = ?"
                 " WHERE id = ? AND status = 'draft'",
                 [json.dumps(content, ensure_ascii=False), content_hash(content),
                  iso(now.timestamp()), report_id])


#: What a recomputation always changes, or what is not a figure: left out when comparing.
#: The chain heads move with every record received: they are taken again only with new
#: figures (so they are the heads at ``prepared_at``), else no draft could be signed.
NOT_FIGURES: Final = ("prepared_at", "measurements", "chain_heads", "inputs")


def _figures_hash(content: dict[str, Any]) -> str:
    return content_hash({k: v for k, v in content.items() if k not in NOT_FIGURES})


def store_figures(conn: sqlite3.Connection, report_id: int, content: dict[str, Any],
                   now: datetime, *, force: bool = False) -> bool:
    """Store freshly computed figures in a draft only if they differ from the stored ones.

    Why: the page's sign form sends the hash the PCR read, and the scheduler recomputes
    drafts every hour; rewriting identical figures with a new ``prepared_at`` would
    change the hash and refuse every signature (409). So the hash moves only when the
    figures do (late readings, changed thresholds), and ``prepared_at`` says when they
    last changed. In the caller's write transaction; True if stored.
    """
    row = conn.execute("SELECT content FROM reports WHERE id = ?", [report_id]).fetchone()
    stored = json.loads(row[0]) if row is not None and row[0] else {}
    if "amends" in stored and "amends" not in content:  # an amended report stays one
        content["amends"] = stored["amends"]
    if (not force and stored and _figures_hash(stored) == _figures_hash(content)
            and ("chain_heads" in stored or "chain_heads" not in content)):
        return False
    _store_content(conn, report_id, content, now)
    return True


def draft(conn: sqlite3.Connection, report_id: int) -> dict[str, Any]:
    report = get_report(conn, report_id)
    if report["status"] != "draft":
        raise ReportError("status", N_("This report is signed: it cannot be changed. "
                                       "Make a correction (a new version) instead."), 409)
    return report


def add_measurement(conn: sqlite3.Connection, report_id: int, values: dict[str, Any],
                    username: str, now: datetime, lang: str = "fr") -> dict[str, Any]:
    """A passive dosimeter result or a spot check, in the caller's write transaction."""
    report = draft(conn, report_id)
    kind = str(values.get("kind", ""))
    if kind not in MEASUREMENT_UNITS:
        raise ReportError("kind", N_("Choose a passive dosimeter or a spot check."))
    point_id = values.get("point_id") or report["point_id"]
    try:
        point = pts.get_point(conn, int(point_id))
    except (TypeError, ValueError):
        raise ReportError("point_id", N_("Choose a measurement point of this room.")) from None
    if point.device != report["device"]:
        raise ReportError("point_id", N_("Choose a measurement point of this room."))
    start_s, end_s = parse_quarter(report["quarter"]).bounds()
    first = datetime.fromtimestamp(start_s, PARIS).date()
    last = datetime.fromtimestamp(end_s - 1, PARIS).date()
    measured_on = _date(values.get("measured_on"), "measured_on")
    period_end = None
    if kind == "passive_dosimeter":
        period_end = _date(values.get("period_end"), "period_end")
        if period_end < measured_on:
            raise ReportError("period_end", N_("The period ends before it starts."))
    for name, day in (("measured_on", measured_on), ("period_end", period_end)):
        if day is not None and day > datetime.fromtimestamp(now.timestamp(), PARIS).date():
            raise ReportError(name, N_("This date is in the future."))
    if not (first <= measured_on <= last) and (period_end is None or period_end < first
                                              or measured_on > last):
        raise ReportError("measured_on", N_("The measurement must fall in the quarter "
                                            "({first} to {last})."),
                          first=first.isoformat(), last=last.isoformat())
    raw = values.get("value", "")
    try:  # typed on the page (12,5 in French) or a JSON number
        value = (float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool)
                 else parse_decimal(str(raw), lang))
    except (TypeError, ValueError):
        raise ReportError("value", N_("Enter a number.")) from None
    if not (0 <= value < 1e9) or value != value:
        raise ReportError("value", N_("Enter a number, 0 or more."))
    texts = {}
    for name, required in (("measured_by", True), ("instrument", False), ("comment", False)):
        text = str(values.get(name) or "").strip()
        if required and not text:
            raise ReportError(name, N_("Say who measured."))
        if len(text) > TEXT_MAX:
            raise ReportError(name, N_("At most {n} characters."), n=TEXT_MAX)
        texts[name] = text
    cursor = conn.execute(
        "INSERT INTO report_measurements (report_id, point_id, kind, measured_on, period_end,"
        " value, unit, measured_by, instrument, comment, entered_by, entered_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [report_id, point.id, kind, measured_on.isoformat(),
         period_end.isoformat() if period_end else None, value, MEASUREMENT_UNITS[kind],
         texts["measured_by"], texts["instrument"], texts["comment"], username,
         iso(now.timestamp())])
    _store_content(conn, report_id, report["content"], now)
    return {"measurement": int(cursor.lastrowid or 0), "kind": kind, "value": value,
            "point_id": point.id}


def _date(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise ReportError(field, N_("Enter the date as YYYY-MM-DD.")) from None


def remove_measurement(conn: sqlite3.Connection, report_id: int, measurement_id: int,
                       now: datetime) -> dict[str, Any]:
    """Remove a wrong manual measurement from a draft (it is entered again if needed).

    Only a draft: a signed report keeps its measurements (409 here, and the database's
    ``measurements_signed_delete`` trigger). Returns the removed row, for the audit
    record, which is then the only trace of it. In the caller's write transaction.
    """
    report = draft(conn, report_id)
    row = conn.execute("SELECT * FROM report_measurements WHERE id = ? AND report_id = ?",
                       [measurement_id, report_id]).fetchone()
    if row is None:
        raise ReportError("measurement", N_("No measurement {id} in this report."), 404,
                          id=measurement_id)
    conn.execute("DELETE FROM report_measurements WHERE id = ?", [measurement_id])
    _store_content(conn, report_id, report["content"], now)
    return {"removed": dict(row)}


def sign(conn: sqlite3.Connection, report_id: int, signer_name: str, username: str,
         now: datetime, render: Callable[[dict[str, Any]], tuple[str, bytes]],
         expected_sha256: str) -> dict[str, Any]:
    """Sign a draft: the content gets its signature, then is frozen with its hash, HTML
    and PDF (``render(content) -> (html, pdf)``). In the caller's write transaction.

    ``expected_sha256`` is the hash of the draft the signer read, required: one signs
    only what one saw, and a draft recomputed since (late readings) is refused (409).
    """
    report = draft(conn, report_id)
    name = signer_name.strip()
    if not 1 <= len(name) <= 100:
        raise ReportError("name", N_("Give the signer's name (1 to 100 characters)."))
    if expected_sha256 != report["content_sha256"]:
        raise ReportError("content_sha256", N_("The report changed since you opened it: "
                                               "review it again before signing."), 409)
    content = report["content"]
    stamp = iso(now.timestamp())
    content["signature"] = {"name": name, "username": username, "at": stamp,
                            "date": datetime.fromtimestamp(now.timestamp(),
                                                           PARIS).date().isoformat()}
    content["status"] = "signed"
    content["version"] = report["version"]
    content["supersedes"] = report["supersedes"]
    html, pdf = render(content)
    digest = content_hash(content)
    cursor = conn.execute(
        "UPDATE reports SET status = 'signed', content = ?, content_sha256 = ?, html = ?,"
        " pdf = ?, pdf_sha256 = ?, signed_by = ?, signer_name = ?, signed_at = ?, updated_at = ?"
        " WHERE id = ? AND status = 'draft'",
        [json.dumps(content, ensure_ascii=False), digest, html, pdf,
         hashlib.sha256(pdf).hexdigest(), username, name, stamp, stamp, report_id])
    if cursor.rowcount != 1:
        raise ReportError("status", N_("This report is signed: it cannot be changed. "
                                       "Make a correction (a new version) instead."), 409)
    return {"report": report_id, "content_sha256": digest, "signer_name": name}


def correct(conn: sqlite3.Connection, report_id: int, username: str, now: datetime
            ) -> dict[str, Any]:
    """A new draft version of a signed report (the latest one), copying its content and
    manual measurements; the signed one is kept. In the caller's write transaction."""
    report = get_report(conn, report_id)
    if report["status"] != "signed":
        raise ReportError("status", N_("Only a signed report is corrected; this draft can "
                                       "still be changed."), 409)
    if report["superseded_by"] is not None:
        raise ReportError("status", N_("This version was already corrected: see version "
                                       "{id}."), 409, id=report["superseded_by"])
    content = {k: v for k, v in report["content"].items()
               if k not in ("signature", "status", "version", "supersedes")}
    stamp = iso(now.timestamp())
    cursor = conn.execute(
        "INSERT INTO reports (point_id, device, site, room, quarter, version, content,"
        " content_sha256, supersedes, created_at, created_by, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, '{}', '', ?, ?, ?, ?)",
        [report["point_id"], report["device"], report["site"], report["room"],
         report["quarter"], report["version"] + 1, report_id, stamp, username, stamp])
    new_id = int(cursor.lastrowid or 0)
    conn.execute(
        "INSERT INTO report_measurements (report_id, point_id, kind, measured_on, period_end,"
        " value, unit, measured_by, instrument, comment, entered_by, entered_at)"
        " SELECT ?, point_id, kind, measured_on, period_end, value, unit, measured_by,"
        " instrument, comment, entered_by, entered_at FROM report_measurements"
        " WHERE report_id = ? ORDER BY id", [new_id, report_id])
    _store_content(conn, new_id, content, now)
    return {"report": new_id, "version": report["version"] + 1, "supersedes": report_id}
