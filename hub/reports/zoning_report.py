"""A quarter's zoning as the report states it: per month and for the quarter.

Adds to each month of :func:`hub.reports.figures.compute` its net dose, its
largest 60-minute window, its zone and the criterion that set it, whether that
zone is a lower bound and why, the zone with the generator off, the highest
1-second dose rate during emissions, and the verdict against the point's
declared zone; returns the quarter's ``zoning`` block (method, background,
calibrations, pulsed emissions, declared zones). The method is
:mod:`hub.reports.zoning`'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from hub.reports import zoning as zn
from hub.reports import zoning_data
from hub.reports.points import ZONE_CODES, Point
from hub.timefmt import iso, parse


def assess(conn: sqlite3.Connection, point: Point, start_s: int, end_s: int,
           months: Mapping[str, dict[str, Any]], values: Mapping[str, float],
           high_coverage: float, scatter: Collection[str]) -> dict[str, Any]:
    """Fill each month's zoning keys (in place) and return the quarter's ``zoning`` block."""
    r = zoning_data.readings(conn, point.device, start_s, end_s)
    powered = zoning_data.powered_spans(conn, point.device, start_s, end_s)
    emitting, emissions, pulsed = zoning_data.emission_spans(conn, point.device, start_s,
                                                             end_s)
    units = zn.units_per_count(r)
    bg = zn.capped(zn.background(r, point.background_cpm, powered, emitting), units)
    net = zn.net_doses(r, bg["cpm"], units)
    windows = zn.sliding_hour(r, net)
    off = ~zn.in_spans(r, powered) if powered is not None else None
    off_windows = zn.sliding_hour(r, net, off) if off is not None else None
    during = zn.in_spans(r, emitting) & ~np.isnan(r.peak)
    indicative = any(c not in scatter for c in r.calibrations)
    ordered = sorted(months.values(), key=lambda m: m["start"])
    bounds = np.array([parse(m["start"]) for m in ordered])
    which = np.searchsorted(bounds, r.start, side="right") - 1
    for k, month in enumerate(ordered):
        mask = which == k
        figures: dict[str, Any] = {
            "net": float(net[mask].sum()), "saturated": bool(r.saturated[mask].any()),
            "window": _best(r.start, windows.dose, windows.end, mask),
            "peak": _best(r.start, r.peak, r.end, mask & during),
            "off": None}
        if off is not None and off_windows is not None:
            here = mask & off
            figures["off"] = (float(net[here].sum()), float(r.seconds[here].sum()),
                              _best(r.start, off_windows.dose, off_windows.end, here))
        _month(month, figures, values, high_coverage, (indicative, bg), point.declared)
    peaks = [(m["peak_emission_usv_h"], m["peak_emission_at"]) for m in ordered
             if m["peak_emission_usv_h"] is not None]
    peak = max(peaks, default=(None, None), key=lambda p: p[0] or 0.0)
    before = zoning_data.previous_end(conn, point.device, start_s)
    after = zoning_data.next_start(conn, point.device, end_s)
    gaps = zn.long_gaps(r, before if before is not None else float(start_s),
                        after if after is not None else float(end_s))
    return {
        "method": zn.METHOD,
        "hourly": "sliding_60_min",
        "background": {**bg, "usv_h": zn.background_usv_h(bg["cpm"], units)},
        "calibrations": [{"name": c, "scatter": c in scatter} for c in r.calibrations],
        "indicative": indicative,
        "generator_state": "journaled" if powered is not None else "unknown",
        "pulsed": {"emissions": emissions, "pulsed_emissions": pulsed,
                   "peak_usv_h": peak[0], "peak_at": peak[1]},
        "declared": dict(point.declared),
        "long_gaps": [{"start": iso(a), "end": iso(b), "hours": round((b - a) / 3600.0, 1)}
                      for a, b in gaps],
    }


def _best(start: zn.Floats, value: zn.Floats, end: zn.Floats, mask: zn.Flags
          ) -> tuple[float, float, float] | None:
    """(value, start, end) of the largest ``value`` where ``mask`` (the first if tied)."""
    if not mask.any():
        return None
    index = np.flatnonzero(mask)
    i = int(index[int(np.argmax(value[index]))])
    return float(value[i]), float(start[i]), float(end[i])


def _month(month: dict[str, Any], figures: dict[str, Any], values: Mapping[str, float],
           high_coverage: float, method: tuple[bool, dict[str, Any]],
           declared: Mapping[str, str]) -> None:
    indicative, bg = method
    window = figures["window"]
    month["net_dose_signed_usv"] = figures["net"]
    month["net_dose_usv"] = max(figures["net"], 0.0)
    month["max_window_dose_usv"] = window[0] if window else None
    month["max_window_start"] = iso(window[1]) if window else None
    month["max_window_end"] = iso(window[2]) if window else None
    peak = figures["peak"]
    month["peak_emission_usv_h"] = peak[0] if peak else None
    month["peak_emission_at"] = iso(peak[1]) if peak else None
    reasons = [name for name, hit in (
        ("saturated", figures["saturated"]),
        ("coverage", month["coverage"] < high_coverage),
        ("hours_without_data", month["hours_without_data"] > 0),
        ("background_capped", bool(bg.get("capped")))) if hit]
    zone, by = zn.zone_of(figures["net"], window[0], values) if window else (None, None)
    month["zone"], month["zone_by"] = zone, by
    month["zone_lower_bound"] = bool(zone and reasons and zone != ZONE_CODES[-1])
    month["lower_bound_reasons"] = reasons if zone else []
    month["off_zone"] = None
    if figures["off"] is not None and figures["off"][1] > 0 and figures["off"][2]:
        off_net, off_s, off_window = figures["off"]
        as_if_month = off_net / off_s * month["expected_s"]
        month["off_zone"] = zn.zone_of(as_if_month, off_window[0], values)[0]
    limit = zn.declared_limit(declared)
    upper = bg["method"] == "none"
    result, why = zn.verdict(zone, limit, month["zone_lower_bound"], indicative, upper)
    if "off" in declared and month["off_zone"] is not None and result != "not_consistent":
        off_result, _ = zn.verdict(month["off_zone"], declared["off"],
                                   month["zone_lower_bound"], indicative, upper)
        if off_result == "not_consistent":
            result, why = off_result, ["off_above_declared"]
    month["declared_zone"] = limit
    month["verdict"], month["verdict_reasons"] = result, why
