"""The reconciliation's inputs read from the store (:mod:`hub.rdsr.reconcile_store` runs the
matching over them): a device's irradiation events, a room's emissions and where to read
them, the calendar's recorded hours."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final

from hub.rdsr import devices
from hub.rdsr.reconcile import DayRecord, Emission, Irradiation, Source, Window
from hub.timefmt import instant, iso
from hub.workdays import PARIS

#: How far around the range and the spans of its studies an emission is read: one that
#: started before may overlap an event there.
EMISSION_MARGIN_S: Final = 3600.0


def seconds(text: object) -> float | None:
    moment = instant(text)
    return None if moment is None else moment.timestamp()


def irradiations(conn: sqlite3.Connection, device: devices.ImagingDevice, lo: float,
                 hi: float) -> list[Irradiation]:
    return [Irradiation(e.uid, e.study, device.id, e.start, _duration(e.duration_s),
                        e.type == "fluoroscopy")
            for e in devices.events_of(conn, device, iso(lo), iso(hi))]


def _duration(value: object) -> float:
    return float(value) if isinstance(value, int | float) and 0 <= value < 86400 else 0.0


def emissions(conn: sqlite3.Connection, site: str, room: str, lo: float, hi: float,
              ) -> list[Emission]:
    """The room's emissions starting in ``[lo, hi)``; those an implausible clock stamped
    are left out (their time says nothing)."""
    out = []
    for row in conn.execute(
            "SELECT device, journal, run, number, start, \"end\", duration_s, pulses,"
            " COALESCE(clock_implausible, 0) FROM exposures WHERE site = ? AND room = ?"
            " AND start >= ? AND start < ?", [site, room, iso(lo), iso(hi)]):
        start = seconds(row[4])
        if row[8] or start is None:
            continue
        end = seconds(row[5])
        duration = row[6] if isinstance(row[6], int | float) and row[6] >= 0 else None
        end = end if end is not None and end >= start else start + (duration or 0.0)
        out.append(Emission(str(row[0]), str(row[1]), int(row[2]), int(row[3]), start, end,
                            float(duration if duration is not None else end - start),
                            row[7] if isinstance(row[7], int) else None))
    return out


def _window(day_text: object, start: object, end: object) -> tuple[float, float] | None:
    """A record's hours as UTC seconds (stored UTC); None without both."""
    lo, hi = seconds(start), seconds(end)
    return None if lo is None or hi is None or hi < lo or day_text is None else (lo, hi)


def calendar(conn: sqlite3.Connection, site: str, room: str, lo: float, hi: float
             ) -> tuple[list[Window], list[DayRecord]]:
    first = datetime.fromtimestamp(lo, UTC).astimezone(PARIS).date() - timedelta(days=1)
    last = datetime.fromtimestamp(hi, UTC).astimezone(PARIS).date() + timedelta(days=1)
    windows: list[Window] = []
    days: list[DayRecord] = []
    tables: tuple[tuple[Source, str], ...] = (
            ("verification", "SELECT id, control, done_on, window_start, window_end"
                             " FROM control_records WHERE site = ? AND room = ?"
                             " AND done_on >= ? AND done_on <= ? ORDER BY id"),
            ("occasion", "SELECT id, kind, on_day, window_start, window_end"
                         " FROM control_occasions WHERE site = ? AND room = ?"
                         " AND on_day >= ? AND on_day <= ? ORDER BY id"))
    for source, sql in tables:
        for ref, label, day, start, end in conn.execute(
                sql, [site, room, first.isoformat(), last.isoformat()]):
            hours = _window(day, start, end)
            if hours is not None:
                windows.append(Window(hours[0], hours[1], source, int(ref), str(label)))
                continue
            try:
                days.append(DayRecord(date.fromisoformat(str(day)), source, int(ref),
                                      str(label)))
            except ValueError:
                continue  # a day that names none: excludes nothing, says nothing
    return windows, days


def read_span(lo: float, hi: float, irradiations: Sequence[Irradiation],
              estimates: Mapping[int, float], group_max_s: float) -> tuple[float, float]:
    """Where to read emissions: the range, and the whole span of each study with an event
    starting in it by either clock (the estimate's or none: the one used is chosen from the
    emissions read), the group span after, an hour's margin either side."""
    spans: dict[str, tuple[float, float]] = {}
    wanted: set[str] = set()
    for item in irradiations:
        shift = estimates.get(item.imaging, 0.0)
        first, last = item.start - max(shift, 0.0), item.start - min(shift, 0.0)
        old = spans.get(item.study, (first, last + item.duration_s))
        spans[item.study] = (min(old[0], first), max(old[1], last + item.duration_s))
        if first < hi and last >= lo:
            wanted.add(item.study)
    first = min([lo, *(spans[uid][0] for uid in wanted)])
    last = max([hi, *(spans[uid][1] + group_max_s for uid in wanted)])
    return first - EMISSION_MARGIN_S, last + EMISSION_MARGIN_S
