"""Preparing the quarterly reports: each probe point's draft made or recomputed.

Run by the ``reports`` job (:mod:`hub.jobs`) and by the PCR's POST actions ("Prepare
now", "Recompute", "Amend"), never by a GET: :func:`~hub.reports.figures.compute` brings
the device's rollups up to date first, a write.

A month whose zone is not consistent with the point's declared zone opens a
``zone_not_consistent`` event (once per point and month, whatever the recomputations):
art. 12 of the order of 23 October 2020 asks the periodic verification to check that
the zones stay consistent with the delimitation. A signed report is never recomputed:
an earlier quarter gets an amended report (:func:`amend`), a new version that says which
signed one it amends and is computed with the method in force.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from hub.config import Zoning
from hub.db import rollups
from hub.db.connection import write
from hub.db.store import Store
from hub.messages import N_
from hub.reports import points as pts
from hub.reports.figures import compute, inputs_key
from hub.reports.points import Point
from hub.reports.quarterly import correct, draft, get_report, store_figures
from hub.reports.quarters import Quarter, ReportError, last_ended_quarter, parse_quarter
from hub.timefmt import iso, parse
from wire.kinds import severity


def prepare(conn: sqlite3.Connection, point: Point, quarter: Quarter, zoning: Zoning,
            high_coverage: float, now: datetime, username: str = "",
            scatter: Collection[str] = ()) -> int:
    """The point's draft for ``quarter``: created (version 1) or its figures recomputed.

    A quarter whose latest version is signed is left alone (returns that id). Computes
    outside the write transaction, stores inside it.
    """
    if point.kind != "probe":
        raise ReportError("point", N_("Only a point with a probe has a quarterly report."))
    rollups.refresh(conn, point.device)  # once: for the digest and the figures
    key = inputs_key(conn, point, quarter, zoning, high_coverage, scatter)
    known = _latest(conn, point, quarter)
    if known is not None and (known[1] == "signed" or known[2] == key):
        return known[0]  # signed, or a draft whose inputs have not changed
    content = compute(conn, point, quarter, zoning, high_coverage, now, scatter, refresh=False)
    content["inputs"] = key
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
        raise_inconsistent(conn, point, quarter.code, report_id, content, now)
    return report_id


def _latest(conn: sqlite3.Connection, point: Point, quarter: Quarter
            ) -> tuple[int, str, str | None] | None:
    """(id, status, inputs key) of the point's latest version for ``quarter``."""
    row = conn.execute("SELECT id, status, json_extract(content, '$.inputs') FROM reports"
                       " WHERE point_id = ? AND quarter = ? ORDER BY version DESC LIMIT 1",
                       [point.id, quarter.code]).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def raise_inconsistent(conn: sqlite3.Connection, point: Point, quarter: str, report_id: int,
                       content: dict[str, Any], now: datetime) -> int:
    """Open a ``zone_not_consistent`` event for each month found not consistent (at most
    one per point and month: a later recomputation finds it). Caller's transaction."""
    store, opened = Store.over(conn), 0
    for month in content.get("months", []):
        if month.get("verdict") != "not_consistent":
            continue
        ref = f"zone:{point.id}:{month['month']}"
        if conn.execute("SELECT 1 FROM events WHERE kind = 'zone_not_consistent'"
                        " AND device = ? AND ref = ?", [point.device, ref]).fetchone():
            continue
        detail = {"point": point.id, "point_name": point.name, "quarter": quarter,
                  "month": month["month"], "report": report_id, "zone": month["zone"],
                  "zone_by": month["zone_by"], "declared": month["declared_zone"],
                  "off_zone": month.get("off_zone"), "reasons": month["verdict_reasons"],
                  "window_start": month.get("max_window_start"),
                  "window_dose_usv": month.get("max_window_dose_usv"),
                  "net_dose_usv": month.get("net_dose_usv")}
        store.open_event("zone_not_consistent", point.device, point.site, point.room, ref,
                         iso(now.timestamp()), detail, severity("zone_not_consistent"))
        opened += 1
    return opened


def recompute(conn: sqlite3.Connection, report_id: int, zoning: Zoning, high_coverage: float,
              now: datetime, scatter: Collection[str] = ()) -> bool:
    """Recompute a draft's figures (late readings) with the method in force; its manual
    measurements and what it amends stay. True if the figures changed (and so the hash)."""
    report = draft(conn, report_id)
    point = pts.get_point(conn, report["point_id"])
    quarter = parse_quarter(report["quarter"])
    rollups.refresh(conn, point.device)
    key = inputs_key(conn, point, quarter, zoning, high_coverage, scatter)
    content = compute(conn, point, quarter, zoning, high_coverage, now, scatter, refresh=False)
    content["inputs"] = key
    with write(conn):
        draft(conn, report_id)
        changed = store_figures(conn, report_id, content, now)
        raise_inconsistent(conn, point, report["quarter"], report_id, content, now)
        return changed


def amend(conn: sqlite3.Connection, report_id: int, zoning: Zoning, high_coverage: float,
          username: str, now: datetime, scatter: Collection[str] = (),
          on_made: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """An amended report: a new draft version of a signed one (its manual measurements
    copied), recomputed at once with the method in force, naming the signed version it
    amends (id, version, content hash, method). The signed one is kept as it is.
    ``on_made`` runs in the transaction that makes the new version (its audit record)."""
    signed = get_report(conn, report_id)
    with write(conn):
        made = correct(conn, report_id, username, now)
        if on_made is not None:
            on_made(made)
        new = get_report(conn, made["report"])
        new["content"]["amends"] = {
            "report": signed["id"], "version": signed["version"],
            "content_sha256": signed["content_sha256"],
            "method": int(signed["content"].get("method", 1)),
            "signed_at": signed["signed_at"], "signer_name": signed["signer_name"]}
        store_figures(conn, made["report"], new["content"], now)
    recompute(conn, made["report"], zoning, high_coverage, now, scatter)
    return made


def prepare_quarter(conn: sqlite3.Connection, quarter: Quarter, now: datetime,
                    zoning: Zoning | None = None, high_coverage: float = 0.99, *,
                    refresh_drafts: bool = True, scatter: Collection[str] = ()) -> list[int]:
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
    out: list[int] = []
    failed: list[str] = []
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
        try:
            out.append(prepare(conn, point, quarter, zoning, high_coverage, now,
                               scatter=scatter))
        except (sqlite3.DataError, ValueError, ArithmeticError, TypeError) as exc:
            # One point's unreadable rows must not leave the others without their draft.
            failed.append(f"point {point.id} ({point.device}): {type(exc).__name__}: {exc}")
    if failed:
        raise ReportError("points", N_("Some drafts could not be prepared: {failed}."),
                          409, failed="; ".join(failed))
    return out


def prepare_due_reports(conn: sqlite3.Connection, now: datetime, zoning: Zoning | None = None,
                        high_coverage: float = 0.99, *, refresh_drafts: bool = True,
                        scatter: Collection[str] = ()) -> list[int]:
    """The scheduler's pass: :func:`prepare_quarter` for the quarter just ended."""
    return prepare_quarter(conn, last_ended_quarter(now), now, zoning, high_coverage,
                           refresh_drafts=refresh_drafts, scatter=scatter)
