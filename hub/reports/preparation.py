"""Preparing the quarterly reports: each probe point's draft made or recomputed.

Run by the ``reports`` job (:mod:`hub.jobs`) and by the PCR's POST actions ("Prepare
now", "Recompute"), never by a GET: :func:`~hub.reports.figures.compute` brings the
device's rollups up to date first, a write.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from hub.config import Zoning
from hub.db.connection import write
from hub.messages import N_
from hub.reports import points as pts
from hub.reports.figures import compute
from hub.reports.points import Point
from hub.reports.quarterly import draft, store_figures
from hub.reports.quarters import Quarter, ReportError, last_ended_quarter, parse_quarter
from hub.timefmt import iso, parse


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
        store_figures(conn, report_id, content, now)
    return report_id


def recompute(conn: sqlite3.Connection, report_id: int, zoning: Zoning, high_coverage: float,
              now: datetime) -> bool:
    """Recompute a draft's figures (late readings); its manual measurements stay.
    True if the figures changed (and so the hash)."""
    report = draft(conn, report_id)
    point = pts.get_point(conn, report["point_id"])
    content = compute(conn, point, parse_quarter(report["quarter"]), zoning, high_coverage, now)
    with write(conn):
        draft(conn, report_id)
        return store_figures(conn, report_id, content, now)


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
