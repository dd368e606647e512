"""The quarterly ambient report's figures: what it says, computed from the store.

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
- each month's zone from its net dose (background subtracted) and its largest dose in any
  60-minute window, the criterion that set it, whether it is a lower bound, the zone with
  the generator off, the peak dose rate during emissions and the verdict against the
  declared zone (:mod:`hub.reports.zoning_report`, method 2), and the quarter's highest;
- how many readings (and exposures) were stamped by a clock that was not synchronised
  (``clock_synced = 0``), per month and over the quarter: their times may be wrong;
- the head of every journal of the device (:mod:`hub.chain.heads`), as stored when the
  figures were computed: a signed report freezes them;
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
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Final

from hub.chain.heads import report_heads
from hub.config import Zoning
from hub.db import rollups
from hub.reports import points as pts
from hub.reports.points import Point
from hub.reports.quarters import Quarter
from hub.reports.zoning_report import assess
from hub.timefmt import iso, parse
from hub.workdays import PARIS

CONTENT_SCHEMA: Final = 5  # 2: clock_unsynced_*, highest_zone_lower_bound; 3: excluded;
#                             4: chain_heads; 5: zoning (method 2: net, sliding hour, verdict)
HOUR: Final = 3600


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
            high_coverage: float, now: datetime, scatter: Collection[str] = (), *,
            refresh: bool = True) -> dict[str, Any]:
    """The report's measured content (no manual measurement, no signature); JSON-ready.

    Brings the device's rollups up to date first (so ``conn`` must not be in a
    transaction), unless the caller just did (``refresh`` false). ``scatter``: the
    calibrations meant for X-ray scatter (any other makes the zones indicative).
    """
    start_s, end_s = quarter.bounds()
    if refresh:
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
        total["dose"] += dose
        total["seconds"] += seconds
        total["readings"] += int(row[1])
        total["saturated"] = bool(total["saturated"] or row[5])
        calibrations.update(dict.fromkeys(c for c in (row[6], row[7]) if c is not None))
        if best is None or peak > best[0]:
            best = (peak, h)
    _finish_months(conn, point.device, months, high_coverage)
    zoning_block = assess(conn, point, start_s, end_s, months, limits["values"], high_coverage,
                          scatter)
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
        "method": zoning_block["method"],
        "indicative": zoning_block["indicative"],
        "zoning": zoning_block,
        **_highest_zone(list(months.values())),
        "months": list(months.values()),
        "days": days,
        "gaps": [{"start": iso(a), "end": iso(b), "hours": (b - a) // HOUR} for a, b in gaps],
        "calibrations": list(calibrations),
        "prepared_at": iso(now.timestamp()),
        "chain_heads": report_heads(conn, point.device, iso(start_s), iso(now.timestamp())),
    }


def _finish_months(conn: sqlite3.Connection, device: str, months: dict[str, dict[str, Any]],
                   high_coverage: float) -> None:
    """Each month's coverage, exposures and clock flags, once its hours are summed."""
    for month in months.values():
        start = int(parse(month["start"]))  # every hour of the month was counted in expected_s
        month["coverage"] = month["seconds"] / month["expected_s"]
        month["complete"] = month["coverage"] >= high_coverage
        month.update(_month_events(conn, device, start, start + month["expected_s"]))


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
    """The quarter's highest monthly zone, the month and criterion that set it, and whether
    it is only a lower bound.

    A month with hours without data, incomplete or saturated has a dose that is what was
    measured, so its zone can only go up; a month without any reading has no zone at all.
    Either may hide a higher zone than the highest seen, unless that is already the top.
    """
    zoned = [m for m in months if m["zone"]]
    top = max(zoned, key=lambda m: pts.ZONE_CODES.index(m["zone"])) if zoned else None
    highest = top["zone"] if top else None
    unsure = any(not m["complete"] or m.get("lower_bound_reasons") or not m["zone"]
                 for m in months)
    verdicts = [m.get("verdict") for m in months if m.get("verdict")]
    worst = next((v for v in ("not_consistent", "undetermined", "consistent")
                  if v in verdicts), None)
    return {"highest_zone": highest,
            "highest_zone_month": top["month"] if top else None,
            "highest_zone_by": top["zone_by"] if top else None,
            "highest_zone_lower_bound": bool(highest and unsure
                                             and highest != pts.ZONE_CODES[-1]),
            "verdict": worst}


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


def inputs_key(conn: sqlite3.Connection, point: Point, quarter: Quarter, zoning: Zoning,
               high_coverage: float, scatter: Collection[str]) -> str:
    """A digest of everything :func:`compute` reads, cheap to take (the quarter's hour
    rollups summed, its exposures and the generator's changes counted, the settings): the
    scheduler's hourly pass recomputes a draft only when it changed, since the zoning reads
    every reading of the quarter. The rollups must be up to date (``rollups.refresh``)."""
    start_s, end_s = quarter.bounds()
    hours = conn.execute(
        "SELECT count(*), total(n), total(seconds), total(dose), max(saturated),"
        " max(max_max), min(cal_min), max(cal_max) FROM rollup_hour"
        " WHERE device = ? AND bucket >= ? AND bucket <= ?",
        [point.device, rollups.hour_key(start_s), rollups.hour_key(end_s - 1)]).fetchone()
    exposures = conn.execute(
        "SELECT count(*), max(updated), total(last_seq) FROM exposures WHERE device = ?"
        " AND start >= ? AND start < ?", [point.device, iso(start_s - 86_400), iso(end_s)]
    ).fetchone()
    changes = conn.execute("SELECT count(*), max(seq), max(stored_at) FROM changes"
                           " WHERE device = ? AND signal = 'generator_powered'",
                           [point.device]).fetchone()
    return content_hash({"schema": CONTENT_SCHEMA, "point": point.as_dict(),
                         "thresholds": pts.thresholds(point, zoning),
                         "high_coverage": high_coverage, "scatter": sorted(scatter),
                         "hours": list(hours), "exposures": list(exposures),
                         "changes": list(changes)})


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the content's canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
