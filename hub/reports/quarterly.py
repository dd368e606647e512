"""The quarterly ambient report of a measurement point: computed, reviewed, signed, kept.

**What it says** (:func:`compute`), for a point with a probe and a calendar
quarter in Europe/Paris (``2026-Q1``: 1 January 00:00 Paris to 1 April 00:00
Paris, converted to UTC; a quarter holding a change of time has an hour more
or less):

- the dose integrated over the quarter and per month (the sum of the stored
  readings' ``dose_usv``, H*(10), µSv), never extrapolated: a month with
  hours without data says how much of it was covered, and its dose is what was
  measured;
- coverage: seconds covered by readings over the quarter's length, per month
  and per day, and the hours without any reading as intervals;
- the maximum dose rate (the readings' ``max_usv_h``) and when;
- the number of exposures (``exposures.start`` in the quarter);
- each month's zone against the point's thresholds (:func:`hub.reports.points.classify`),
  and the quarter's highest, flagged as a lower bound when a month is incomplete;
- how many readings (and exposures) were stamped by a clock that was not synchronised
  (``clock_synced = 0``), per month and over the quarter: their times may be wrong;
- whether the probe ran continuously (coverage at least ``[reports]
  high_coverage``): then the report says that the point was verified
  continuously, as art. 12 of the order of 23 October 2020 asks where exposure
  can vary unexpectedly.

Everything comes from the hour rollups (:mod:`hub.db.rollups`, brought up to
date first, late readings included): a quarter is about 2,200 hour rows, and
one indexed look-up into ``readings`` finds the instant of the maximum. The UTC
hour buckets are Paris hours too (the offset is a whole number of hours), so
months and days in Paris time are sums of whole buckets. A reading counts in
the hour, day, month and quarter where it starts.

**Its life.** A report is a row of ``reports``: ``draft`` while the PCR
reviews it (its figures may be recomputed, and are rewritten only if they
changed, so its hash holds while the data do; manual measurements are added or
removed), then ``signed`` (name, date, and the hash of the draft the signer
read): its content is frozen with its SHA-256, its HTML and PDF kept, and the
database itself refuses any later change (triggers, REPLACE included). A
correction is a new version (``version`` + 1, ``supersedes`` the old id) in
draft, copying the content and the manual measurements; the old one stays.
Nothing is ever deleted (kept at least 10 years: for ever here).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from hub.config import Zoning
from hub.db import rollups
from hub.db.connection import write
from hub.reports import points as pts
from hub.reports.points import Point, PointError
from hub.timefmt import iso, parse
from hub.web.i18n import N_
from hub.workdays import PARIS

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    point_id INTEGER NOT NULL REFERENCES points (id),
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    quarter TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'signed')),
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    html TEXT,
    pdf BLOB,
    pdf_sha256 TEXT,
    signed_by TEXT,
    signer_name TEXT,
    signed_at TEXT,
    supersedes INTEGER REFERENCES reports (id),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    UNIQUE (point_id, quarter, version)
);
CREATE INDEX IF NOT EXISTS idx_reports_quarter ON reports (quarter, site, room);
CREATE TABLE IF NOT EXISTS report_measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    point_id INTEGER NOT NULL REFERENCES points (id),
    kind TEXT NOT NULL CHECK (kind IN ('passive_dosimeter', 'spot_check')),
    measured_on TEXT NOT NULL,
    period_end TEXT,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    measured_by TEXT NOT NULL,
    instrument TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_report_measurements ON report_measurements (report_id, id);
CREATE TRIGGER IF NOT EXISTS reports_signed_frozen BEFORE UPDATE ON reports
    WHEN OLD.status = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS reports_never_deleted BEFORE DELETE ON reports
    BEGIN SELECT RAISE(ABORT, 'a report is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_insert BEFORE INSERT ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = NEW.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_update BEFORE UPDATE ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = OLD.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_delete BEFORE DELETE ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = OLD.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS reports_never_replaced BEFORE INSERT ON reports
    WHEN EXISTS (SELECT 1 FROM reports WHERE id = NEW.id OR (point_id = NEW.point_id
                 AND quarter = NEW.quarter AND version = NEW.version))
    BEGIN SELECT RAISE(ABORT, 'a report is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS reports_identity_fixed
    BEFORE UPDATE OF id, point_id, quarter, version ON reports
    WHEN NEW.id IS NOT OLD.id OR NEW.point_id IS NOT OLD.point_id
         OR NEW.quarter IS NOT OLD.quarter OR NEW.version IS NOT OLD.version
    BEGIN SELECT RAISE(ABORT, 'a report keeps its id, point, quarter and version'); END;
CREATE TRIGGER IF NOT EXISTS measurements_never_replaced BEFORE INSERT ON report_measurements
    WHEN EXISTS (SELECT 1 FROM report_measurements WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'a measurement is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS measurements_identity_fixed
    BEFORE UPDATE OF id, report_id ON report_measurements
    WHEN NEW.id IS NOT OLD.id OR NEW.report_id IS NOT OLD.report_id
    BEGIN SELECT RAISE(ABORT, 'a measurement keeps its id and report'); END;
"""
# Why the last four: SQLite's REPLACE conflict resolution (INSERT OR REPLACE, REPLACE,
# UPDATE OR REPLACE) deletes the row in the way WITHOUT firing its DELETE triggers (unless
# PRAGMA recursive_triggers, which every connection would have to set). Refusing an insert
# that collides with an existing row, and any change of the columns that identify a row,
# closes that way around ``reports_never_deleted`` and ``measurements_signed_delete``.

CONTENT_SCHEMA: Final = 3  # 2: clock_unsynced_*, highest_zone_lower_bound; 3: excluded
QUARTER_RE: Final = re.compile(r"^(\d{4})-Q([1-4])$")
MEASUREMENT_UNITS: Final = {"passive_dosimeter": "µSv", "spot_check": "µSv/h"}
TEXT_MAX: Final = 200
HOUR: Final = 3600


class ReportError(PointError):
    """A refused value or action (``status``: 404, 409 for a signed report, else 422)."""


def create_schema(conn: sqlite3.Connection) -> None:
    pts.create_schema(conn)
    rollups.create_schema(conn)
    conn.executescript(SCHEMA)


# -- quarters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quarter:
    year: int
    q: int

    @property
    def code(self) -> str:
        return f"{self.year}-Q{self.q}"

    def bounds(self) -> tuple[int, int]:
        """(start, end) in seconds since the epoch: Paris midnights, as UTC instants."""
        return _paris_month_start(self.year, 3 * self.q - 2), self.next().bounds_start()

    def bounds_start(self) -> int:
        return _paris_month_start(self.year, 3 * self.q - 2)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)


def _paris_month_start(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=PARIS).timestamp())


def parse_quarter(text: str) -> Quarter:
    match = QUARTER_RE.match(text.strip())
    if match is None or not 2000 <= int(match.group(1)) <= 2200:
        raise ReportError("quarter", N_("A quarter is written like 2026-Q1."))
    return Quarter(int(match.group(1)), int(match.group(2)))


def quarter_of(moment: datetime) -> Quarter:
    local = moment.astimezone(PARIS)
    return Quarter(local.year, (local.month - 1) // 3 + 1)


def last_ended_quarter(now: datetime) -> Quarter:
    return quarter_of(now).previous()


# -- computing -----------------------------------------------------------------------------


def _hour_epoch(key: str) -> int:
    return int(datetime.fromisoformat(key + ":00").replace(tzinfo=UTC).timestamp())


def _local_label(epoch_s: float, fmt: str) -> str:
    return datetime.fromtimestamp(epoch_s, PARIS).strftime(fmt)


def _days(conn: sqlite3.Connection, device: str, start_s: int, end_s: int
          ) -> list[dict[str, Any]]:
    """Every Paris day of ``[start_s, end_s)`` from the day rollups (a day without a
    row is a day without data: coverage 0, no dose, never a made-up value)."""
    first, last = rollups.paris_day(start_s), rollups.paris_day(end_s - 1)
    rows = {str(r[0]): r for r in conn.execute(
        "SELECT bucket, n, seconds, dose, max_max FROM rollup_day"
        " WHERE device = ? AND bucket >= ? AND bucket <= ?", [device, first, last])}
    out: list[dict[str, Any]] = []
    day_start = start_s
    while day_start < end_s:
        key = rollups.paris_day(day_start)
        expected = rollups.day_bounds(key)[1] - day_start
        row = rows.get(key)
        day: dict[str, Any] = {"date": key, "expected_s": expected, "seconds": 0.0,
                               "dose_usv": 0.0, "max_usv_h": None, "coverage": 0.0}
        if row is not None and row[1]:
            day["seconds"] = min(float(row[2]), float(expected))
            day["dose_usv"], day["max_usv_h"] = float(row[3]), float(row[4])
            day["coverage"] = day["seconds"] / expected
        out.append(day)
        day_start += expected
    return out


def compute(conn: sqlite3.Connection, point: Point, quarter: Quarter, zoning: Zoning,
            high_coverage: float, now: datetime) -> dict[str, Any]:
    """The report's measured content (no manual measurement, no signature); JSON-ready.

    Brings the device's rollups up to date first (so ``conn`` must not be in a
    transaction).
    """
    start_s, end_s = quarter.bounds()
    rollups.refresh(conn, point.device)
    rows = conn.execute(
        "SELECT bucket, n, seconds, max_max, dose, saturated, cal_min, cal_max FROM rollup_hour"
        " WHERE device = ? AND bucket >= ? AND bucket <= ?",
        [point.device, rollups.hour_key(start_s), rollups.hour_key(end_s - 1)]).fetchall()
    by_hour = {_hour_epoch(str(r[0])): r for r in rows}
    limits = pts.thresholds(point, zoning)
    months: dict[str, dict[str, Any]] = {}
    gaps: list[list[int]] = []
    calibrations: dict[str, None] = {}
    total = {"dose": 0.0, "seconds": 0.0, "readings": 0, "saturated": False}
    best: tuple[float, int] | None = None
    for h in range(start_s, end_s, HOUR):
        mkey = _local_label(h, "%Y-%m")
        month = months.setdefault(mkey, {"month": mkey, "start": iso(h), "expected_s": 0,
                                         "seconds": 0.0, "dose_usv": 0.0, "readings": 0,
                                         "max_hour_dose_usv": 0.0, "max_hour_at": None,
                                         "max_usv_h": None, "hours_without_data": 0})
        month["expected_s"] += HOUR
        row = by_hour.get(h)
        if row is None or int(row[1]) == 0:
            month["hours_without_data"] += 1
            if gaps and gaps[-1][1] == h:
                gaps[-1][1] = h + HOUR
            else:
                gaps.append([h, h + HOUR])
            continue
        seconds = min(float(row[2]), float(HOUR))
        dose, peak = float(row[4]), float(row[3])
        month["seconds"] += seconds
        month["dose_usv"] += dose
        month["max_usv_h"] = peak if month["max_usv_h"] is None else max(month["max_usv_h"], peak)
        month["readings"] += int(row[1])
        if dose > month["max_hour_dose_usv"] or month["max_hour_at"] is None:
            month["max_hour_dose_usv"], month["max_hour_at"] = dose, iso(h)
        total["dose"] += dose
        total["seconds"] += seconds
        total["readings"] += int(row[1])
        total["saturated"] = bool(total["saturated"] or row[5])
        calibrations.update(dict.fromkeys(c for c in (row[6], row[7]) if c is not None))
        if best is None or peak > best[0]:
            best = (peak, h)
    _finish_months(conn, point.device, months, limits["values"], high_coverage)
    days = _days(conn, point.device, start_s, end_s)
    expected = end_s - start_s
    coverage = total["seconds"] / expected
    return {
        "schema": CONTENT_SCHEMA,
        "point": point.as_dict(),
        "quarter": quarter.code,
        "start": iso(start_s),
        "end": iso(end_s),
        "timezone": "Europe/Paris",
        "hours": expected // HOUR,
        "thresholds": limits,
        "totals": {
            "dose_usv": total["dose"],
            "seconds_covered": total["seconds"],
            "seconds_expected": expected,
            "coverage": coverage,
            "readings": total["readings"],
            **_month_sums(months, ("exposures", "clock_unsynced_readings",
                                   "clock_unsynced_exposures")),
            "saturated": total["saturated"],
            "hours_without_data": sum(g[1] - g[0] for g in gaps) // HOUR,
            **_maximum(conn, point.device, best),
        },
        "excluded": excluded(conn, point.device, start_s, end_s),
        "continuous": coverage >= high_coverage,
        "high_coverage": high_coverage,
        **_highest_zone(list(months.values())),
        "months": list(months.values()),
        "days": days,
        "gaps": [{"start": iso(a), "end": iso(b), "hours": (b - a) // HOUR} for a, b in gaps],
        "calibrations": list(calibrations),
        "prepared_at": iso(now.timestamp()),
    }


def _finish_months(conn: sqlite3.Connection, device: str, months: dict[str, dict[str, Any]],
                   values: dict[str, float], high_coverage: float) -> None:
    """Each month's coverage, exposures, clock flags and zone, once its hours are summed."""
    for month in months.values():
        start = int(parse(month["start"]))  # every hour of the month was counted in expected_s
        month["coverage"] = month["seconds"] / month["expected_s"]
        month["complete"] = month["coverage"] >= high_coverage
        month.update(_month_events(conn, device, start, start + month["expected_s"]))
        if month["readings"]:
            zone, by = pts.classify(month["dose_usv"], month["max_hour_dose_usv"], values)
            month["zone"], month["zone_by"] = zone, by
        else:
            month["zone"], month["zone_by"] = None, None


def _month_events(conn: sqlite3.Connection, device: str, start_s: int, end_s: int
                  ) -> dict[str, int]:
    """Exposures started in the month, and how many exposures and readings of it were
    stamped by a clock that was not synchronised (``clock_synced = 0``; NULL, from an agent
    that did not say, is not counted): their times, so the month or hour they count in,
    may be wrong, and an inspector must be told. ``clock_synced = 0`` is written as a
    literal so that SQLite uses the partial index ``idx_readings_unsynced``."""
    bounds = [device, iso(start_s), iso(end_s)]
    exposures, unsynced_exposures = conn.execute(
        "SELECT count(*), total(clock_synced = 0) FROM exposures"
        " WHERE device = ? AND start >= ? AND start < ?", bounds).fetchone()
    (unsynced_readings,) = conn.execute(
        "SELECT count(*) FROM readings WHERE device = ? AND clock_synced = 0"
        " AND start >= ? AND start < ?", bounds).fetchone()
    return {"exposures": int(exposures), "clock_unsynced_exposures": int(unsynced_exposures),
            "clock_unsynced_readings": int(unsynced_readings)}


#: Records listed one by one among the excluded (the count is always whole).
EXCLUDED_LISTED: Final = 50


def excluded(conn: sqlite3.Connection, device: str, start_s: int, end_s: int
             ) -> dict[str, Any]:
    """Records received during the quarter but stamped by an implausible clock (the
    ingest's ``clock_implausible``): left out of every figure, so listed here, with their
    own times and when the hub received them, for the inspector to see what was left out."""
    bounds = [device, iso(start_s), iso(end_s)]
    out: dict[str, Any] = {}
    for table in ("readings", "exposures"):
        rows = conn.execute(
            f"SELECT r.start, r.\"end\", v.stored_at FROM {table} r JOIN received v"
            f" ON v.device = r.device AND v.journal = r.journal"
            f" AND v.seq = {'r.seq' if table == 'readings' else 'r.last_seq'}"
            f" WHERE r.device = ? AND r.clock_implausible = 1"
            f" AND v.stored_at >= ? AND v.stored_at < ? ORDER BY v.stored_at", bounds
        ).fetchall()
        out[table] = len(rows)
        out[f"{table}_listed"] = [{"start": str(a), "end": None if b is None else str(b),
                                   "received": str(c)} for a, b, c in rows[:EXCLUDED_LISTED]]
    return out


def _month_sums(months: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> dict[str, int]:
    return {key: sum(int(m[key]) for m in months.values()) for key in keys}


def _highest_zone(months: list[dict[str, Any]]) -> dict[str, Any]:
    """The quarter's highest monthly zone, and whether it is only a lower bound.

    A month with hours without data has a dose that is what was measured, so its zone can
    only go up with the missing hours; a month without any reading has no zone at all.
    Either may hide a higher zone than the highest seen, unless that is already the top.
    """
    zones = [m["zone"] for m in months if m["zone"]]
    highest = max(zones, key=pts.ZONE_CODES.index) if zones else None
    incomplete = any(not m["complete"] for m in months)
    return {"highest_zone": highest,
            "highest_zone_lower_bound": bool(highest and incomplete
                                             and highest != pts.ZONE_CODES[-1])}


def _maximum(conn: sqlite3.Connection, device: str, best: tuple[float, int] | None
             ) -> dict[str, Any]:
    """The quarter's largest ``max_usv_h`` and the start of the reading that saw it."""
    if best is None:
        return {"max_usv_h": None, "max_at": None}
    peak, hour = best
    row = conn.execute(
        "SELECT start FROM readings WHERE device = ? AND start >= ? AND start < ?"
        " ORDER BY max_usv_h DESC, start LIMIT 1",
        [device, iso(hour), iso(hour + HOUR)]).fetchone()
    return {"max_usv_h": peak, "max_at": str(row[0]) if row is not None else iso(hour)}


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the content's canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- storing -------------------------------------------------------------------------------


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
NOT_FIGURES: Final = ("prepared_at", "measurements")


def _figures_hash(content: dict[str, Any]) -> str:
    return content_hash({k: v for k, v in content.items() if k not in NOT_FIGURES})


def _store_figures(conn: sqlite3.Connection, report_id: int, content: dict[str, Any],
                   now: datetime) -> bool:
    """Store freshly computed figures in a draft only if they differ from the stored ones.

    Why: the page's sign form sends the hash the PCR read, and the scheduler recomputes
    drafts every hour; rewriting identical figures with a new ``prepared_at`` would
    change the hash and refuse every signature (409). So the hash moves only when the
    figures do (late readings, changed thresholds), and ``prepared_at`` says when they
    last changed. In the caller's write transaction; True if stored.
    """
    row = conn.execute("SELECT content FROM reports WHERE id = ?", [report_id]).fetchone()
    stored = json.loads(row[0]) if row is not None and row[0] else {}
    if stored and _figures_hash(stored) == _figures_hash(content):
        return False
    _store_content(conn, report_id, content, now)
    return True


def _draft(conn: sqlite3.Connection, report_id: int) -> dict[str, Any]:
    report = get_report(conn, report_id)
    if report["status"] != "draft":
        raise ReportError("status", N_("This report is signed: it cannot be changed. "
                                       "Make a correction (a new version) instead."), 409)
    return report


def prepare(conn: sqlite3.Connection, point: Point, quarter: Quarter, zoning: Zoning,
            high_coverage: float, now: datetime, username: str = "") -> int:
    """The point's draft for ``quarter``: created (version 1) or its figures recomputed.

    A quarter whose latest version is signed is left alone (returns that id). Computes
    outside the write transaction, stores inside it.
    """
    if point.kind != "probe":
        raise ReportError("point", N_("Only a point with a probe has a quarterly report."))
    content = compute(conn, point, quarter, zoning, high_coverage, now)
    with write(conn):
        latest = conn.execute(
            "SELECT id, status FROM reports WHERE point_id = ? AND quarter = ?"
            " ORDER BY version DESC LIMIT 1", [point.id, quarter.code]).fetchone()
        if latest is not None and latest[1] == "signed":
            return int(latest[0])
        if latest is None:
            stamp = iso(now.timestamp())
            cursor = conn.execute(
                "INSERT INTO reports (point_id, device, site, room, quarter, version, content,"
                " content_sha256, created_at, created_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 1, '{}', '', ?, ?, ?)",
                [point.id, point.device, point.site, point.room, quarter.code, stamp,
                 username, stamp])
            report_id = int(cursor.lastrowid or 0)
        else:
            report_id = int(latest[0])
        _store_figures(conn, report_id, content, now)
    return report_id


def recompute(conn: sqlite3.Connection, report_id: int, zoning: Zoning, high_coverage: float,
              now: datetime) -> bool:
    """Recompute a draft's figures (late readings); its manual measurements stay.
    True if the figures changed (and so the hash)."""
    report = _draft(conn, report_id)
    point = pts.get_point(conn, report["point_id"])
    content = compute(conn, point, parse_quarter(report["quarter"]), zoning, high_coverage, now)
    with write(conn):
        _draft(conn, report_id)
        return _store_figures(conn, report_id, content, now)


def prepare_quarter(conn: sqlite3.Connection, quarter: Quarter, now: datetime,
                    zoning: Zoning | None = None, high_coverage: float = 0.99, *,
                    refresh_drafts: bool = True) -> list[int]:
    """Drafts of ``quarter`` for every probe point whose device was seen before its end.

    Creates the probe points of new devices first (pages only read: this, run by the
    scheduler and by the PCR's "Prepare now", is where they appear). Idempotent: an
    existing draft is recomputed (rewritten only if its figures changed) unless
    ``refresh_drafts`` is false; a signed one is left as it is.
    """
    zoning = zoning or Zoning()
    create_schema(conn)
    with write(conn):
        pts.ensure_probe_points(conn)
    _, end_s = quarter.bounds()
    out = []
    for point in pts.list_points(conn, kind="probe"):
        seen = conn.execute("SELECT min(started_at) FROM journals WHERE device = ?",
                            [point.device]).fetchone()[0]
        if seen is None or parse(str(seen)) >= end_s:
            continue
        known = conn.execute("SELECT max(id) FROM reports WHERE point_id = ? AND quarter = ?",
                             [point.id, quarter.code]).fetchone()[0]
        if known is not None and not refresh_drafts:
            out.append(int(known))
            continue
        out.append(prepare(conn, point, quarter, zoning, high_coverage, now))
    return out


def prepare_due_reports(conn: sqlite3.Connection, now: datetime, zoning: Zoning | None = None,
                        high_coverage: float = 0.99, *, refresh_drafts: bool = True
                        ) -> list[int]:
    """The scheduler's pass: :func:`prepare_quarter` for the quarter just ended."""
    return prepare_quarter(conn, last_ended_quarter(now), now, zoning, high_coverage,
                           refresh_drafts=refresh_drafts)


def add_measurement(conn: sqlite3.Connection, report_id: int, values: dict[str, Any],
                    username: str, now: datetime) -> dict[str, Any]:
    """A passive dosimeter result or a spot check, in the caller's write transaction."""
    report = _draft(conn, report_id)
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
    try:
        value = float(values.get("value", ""))
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
    report = _draft(conn, report_id)
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
    report = _draft(conn, report_id)
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
