"""What the rooms pages and ``/api/rooms`` show, read from the store: one place for both.

Rooms come from ``devices`` (presence) joined with ``live`` (the last Live
payload: inputs by name, active alarms, open exposure, dose rate and its
calibration) and its events not closed yet. A device's live state is the last
one received: when the device is offline it is shown as the last known one.

A room's alert level and the events its card shows come from the ``events``
table (:mod:`hub.web.room_alerts`), not from the live state.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from hub.db import rollup_series
from hub.timefmt import stamp
from hub.timefmt import whole_seconds as _iso
from hub.web.room_alerts import Level, RoomEvent, alerts_by_device

Range = Literal["1h", "24h", "7d", "quarter"]
Choice = Literal["any", "yes", "no"]

#: (span, rollup table, step of a chart point) of each chart range.
RANGES: Final[dict[str, tuple[timedelta, str, int]]] = {
    "1h": (timedelta(hours=1), "minute", 60),
    "24h": (timedelta(hours=24), "minute", 300),
    "7d": (timedelta(days=7), "hour", 3600),
    "quarter": (timedelta(days=92), "hour", 3 * 3600),
}
PER_PAGE: Final = 50
#: The chart's earliest and latest end: every instant drawn from it (a quarter back, a step
#: on, the Paris day ticks around it) stays a four-digit year far from Python's limits, and
#: no room held readings before 1970.
END_MIN: Final = datetime(1970, 1, 1, tzinfo=UTC)
END_MAX: Final = datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class DoseRate(BaseModel):
    """A dose rate is never shown without the calibration that produced it."""

    usv_h: float | None = Field(description="ambient dose rate, µSv/h")
    calibration: str | None = Field(description="tube and beam-quality factor used")


class ActiveAlarm(BaseModel):
    kind: str
    subject: str | None = None
    since: str


class Room(BaseModel):
    """A room's presence and live state (the last one known when it is offline)."""

    device: str
    site: str
    room: str
    online: bool
    last_seen: str | None
    status_state: str | None
    agent: str | None
    live_at: str | None = Field(description="time of the last live state, null if none yet")
    generator_powered: bool | None
    emitting: bool | None = Field(description="the generator's X-ray on signal")
    request: bool | None = Field(description="the exposure request (hand or foot switch)")
    exposure_open: bool | None
    light_powered: bool | None = Field(description="the 'generator powered' warning light")
    light_emission: bool | None = Field(description="the 'emission' warning light")
    doors: dict[str, bool] = Field(description="door name: true when open")
    interlock_open: bool | None
    inputs: dict[str, bool] = Field(description="every input by name, as the agent sent it")
    alarms: list[ActiveAlarm]
    dose_rate: DoseRate
    outbox: int | None = Field(description="records waiting for the hub's acknowledgement")
    open_events: int = Field(description="events not closed yet (open or acknowledged)")
    alert: Level | None = Field(None, description="the most urgent level of its events not"
                                " closed: alarm, acknowledged, fault, radiation; null if none")
    alerts: list[RoomEvent] = Field(default_factory=list, description="its events that the"
                                    " card shows, most urgent first, newest first in a level")


class ChartPoint(BaseModel):
    start: str = Field(description="start of the point's step (UTC)")
    n: int = Field(description="readings in the step")
    mean_usv_h: float
    max_usv_h: float
    dose_usv: float
    saturated: bool


class Readings(BaseModel):
    device: str
    range: Range
    start: str
    end: str
    step_s: int
    calibrations: list[str] = Field(description="calibration names of the readings shown")
    points: list[ChartPoint]
    complete: bool = Field(description="false while the rollups are still catching up")
    clock_implausible: int = Field(0, description="readings of this room stamped far from when"
                                   " the hub received them: kept, left out of the chart")
    clock_unsynced: int = Field(0, description="readings of the range stamped while the room's"
                                " clock was not synchronised")


class Exposure(BaseModel):
    device: str
    journal: str
    run: int
    number: int
    state: str
    start: str
    end: str | None
    duration_s: float | None
    requested: bool
    resumed: bool
    interrupted: bool
    procedure: int | None
    pulses: int | None
    doors_open: list[str]
    emission_light_ok: bool | None
    max_dose_rate_usv_h: float | None
    dose_usv: float | None
    saturated: bool | None
    alarms: list[str]
    calibration: str | None
    clock_synced: bool | None = Field(None, description="false: stamped while the room's clock"
                                      " was not synchronised (times may be wrong); null: unknown")
    clock_implausible: bool = Field(False, description="true: stamped far from when the hub "
                                    "received it (kept, left out of charts and reports)")


class ExposureFilters(BaseModel):
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")
    requested: Choice = "any"
    alarm: Choice = "any"

    model_config = {"populate_by_name": True}


class ExposurePage(BaseModel):
    device: str
    filters: ExposureFilters
    total: int
    page: int
    per_page: int
    pages: int
    items: list[Exposure]


# -- rooms ------------------------------------------------------------------------------------

_ROOMS_SQL: Final = """
SELECT d.device, d.site, d.room, d.online, d.last_seen, d.status_state, d.agent,
       l.payload, l.at
FROM devices d LEFT JOIN live l ON l.device = d.device
"""


def _flag(inputs: dict[str, bool], *names: str) -> bool | None:
    for name in names:
        if name in inputs:
            return bool(inputs[name])
    return None


def _room(row: sqlite3.Row, open_events: int, alerts: list[RoomEvent] | None = None) -> Room:
    payload: dict[str, Any] = json.loads(row["payload"]) if row["payload"] else {}
    inputs = {str(k): bool(v) for k, v in (payload.get("inputs") or {}).items()}
    return Room(
        device=row["device"], site=row["site"], room=row["room"], online=bool(row["online"]),
        last_seen=row["last_seen"], status_state=row["status_state"], agent=row["agent"],
        live_at=row["at"],
        generator_powered=_flag(inputs, "generator_powered"),
        emitting=_flag(inputs, "emission"),
        request=_flag(inputs, "request"),
        exposure_open=payload.get("exposure_open") if payload else None,
        light_powered=_flag(inputs, "light.powered", "light_powered"),
        light_emission=_flag(inputs, "light.emission", "light_emission"),
        doors={k.removeprefix("door."): v for k, v in sorted(inputs.items())
               if k.startswith("door.")},
        interlock_open=payload.get("interlock_open"),
        inputs=inputs,
        alarms=[ActiveAlarm.model_validate(a) for a in payload.get("alarms") or []],
        dose_rate=DoseRate(usv_h=payload.get("dose_rate_usv_h"),
                           calibration=payload.get("calibration")),
        outbox=payload.get("outbox"),
        open_events=open_events,
        alert=alerts[0].level if alerts else None,
        alerts=alerts or [],
    )


def _open_events(conn: sqlite3.Connection, device: str | None = None) -> dict[str, int]:
    sql = "SELECT device, count(*) FROM events WHERE state IN ('open', 'acknowledged')"
    if device is None:
        rows = conn.execute(sql + " GROUP BY device").fetchall()
    else:
        rows = conn.execute(sql + " AND device = ? GROUP BY device", [device]).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def list_rooms(conn: sqlite3.Connection) -> list[Room]:
    counts, alerts = _open_events(conn), alerts_by_device(conn)
    rows = conn.execute(_ROOMS_SQL + " ORDER BY d.site, d.room, d.device").fetchall()
    return [_room(r, counts.get(r["device"], 0), alerts.get(r["device"])) for r in rows]


def get_room(conn: sqlite3.Connection, device: str) -> Room | None:
    row = conn.execute(_ROOMS_SQL + " WHERE d.device = ?", [device]).fetchone()
    if row is None:
        return None
    return _room(row, _open_events(conn, device).get(device, 0),
                 alerts_by_device(conn, device).get(device))


# -- readings ---------------------------------------------------------------------------------


def chart_end(value: datetime) -> datetime:
    """A chart's end as an aware UTC time, refused (``ValueError``) when its range would
    reach before year 1 or past 9999 (``?end=0001-01-01``: a malformed value, a 422)."""
    try:
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not END_MIN <= moment <= END_MAX:
        raise ValueError(f"end: expected a time from {END_MIN.date()} to {END_MAX.date()}"
                         f" (UTC), got {value.isoformat()}")
    return moment


def readings(conn: sqlite3.Connection, device: str, range_: Range,
             end: datetime | None = None) -> Readings:
    """The chart's points, from the rollups and the raw readings they do not count yet (a
    GET never writes: the job refreshes them)."""
    span, table, step = RANGES[range_]
    end_dt = chart_end(end or datetime.now(UTC))
    end_s = math.ceil(end_dt.timestamp() / step) * step
    start_s = end_s - int(span.total_seconds())
    result = rollup_series.series(conn, device, table, start_s, end_s, step)
    steps = result.steps
    calibrations: dict[str, None] = {}
    for s in steps:
        calibrations.update(dict.fromkeys(s.calibrations))
    points = [ChartPoint(start=_iso(start_s + s.k * step), n=s.n, mean_usv_h=s.mean_usv_h,
                         max_usv_h=s.max_usv_h, dose_usv=s.dose_usv, saturated=s.saturated)
              for s in steps]
    unsynced = conn.execute(
        "SELECT count(*) FROM readings WHERE device = ? AND clock_synced = 0"
        " AND start >= ? AND start < ?", [device, _iso(start_s), _iso(end_s)]).fetchone()[0]
    return Readings(device=device, range=range_, start=_iso(start_s), end=_iso(end_s),
                    step_s=step, calibrations=list(calibrations), points=points,
                    complete=result.complete, clock_unsynced=int(unsynced),
                    clock_implausible=int(conn.execute(
                        "SELECT count(*) FROM readings WHERE device = ?"
                        " AND clock_implausible = 1", [device]).fetchone()[0]))


# -- exposures --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Where:
    sql: str
    params: list[Any]


def day_start(day: date, zone: tzinfo) -> str | None:
    """When ``day`` starts in ``zone``, as stored times are written (UTC, to the
    millisecond: compared as text); None when that instant is no UTC time of years 1-9999
    (Paris's 1 January of year 1 starts in year 0 UTC: no bound is needed there)."""
    try:
        return stamp(datetime.combine(day, time.min, zone))
    except (OverflowError, ValueError):
        return None


def day_bounds(first: date | None, last: date | None,
               zone: tzinfo) -> tuple[str | None, str | None]:
    """The UTC bounds ``[start, end)`` of the days ``first`` to ``last`` (included) of
    ``zone``: a Paris day lasts 23 or 25 hours when the clocks change. None: unbounded."""
    start = day_start(first, zone) if first is not None else None
    end = None
    if last is not None and last < date.max:  # the last day has no next one
        end = day_start(last + timedelta(days=1), zone)
    return start, end


def _where(device: str, f: ExposureFilters, zone: tzinfo) -> _Where:
    sql: list[str] = ["device = ?"]
    params: list[Any] = [device]
    start, end = day_bounds(f.date_from, f.date_to, zone)
    if start is not None:
        sql.append("start >= ?")
        params.append(start)
    if end is not None:
        sql.append("start < ?")
        params.append(end)
    if f.requested != "any":
        sql.append("requested = ?")
        params.append(1 if f.requested == "yes" else 0)
    if f.alarm != "any":
        sql.append("coalesce(alarms, '[]') " + ("!=" if f.alarm == "yes" else "=") + " '[]'")
    return _Where(" AND ".join(sql), params)


def _exposure(row: sqlite3.Row) -> Exposure:
    def flag(name: str) -> bool | None:
        value = row[name]
        return None if value is None else bool(value)

    return Exposure(
        device=row["device"], journal=row["journal"], run=row["run"], number=row["number"],
        state=row["state"], start=row["start"], end=row["end"], duration_s=row["duration_s"],
        requested=bool(row["requested"]), resumed=bool(row["resumed"]),
        interrupted=bool(row["interrupted"]), procedure=row["procedure"], pulses=row["pulses"],
        doors_open=json.loads(row["doors_open"] or "[]"),
        emission_light_ok=flag("emission_light_ok"),
        max_dose_rate_usv_h=row["max_dose_rate_usv_h"], dose_usv=row["dose_usv"],
        saturated=flag("saturated"), alarms=json.loads(row["alarms"] or "[]"),
        calibration=row["calibration"], clock_synced=flag("clock_synced"),
        clock_implausible=bool(row["clock_implausible"]),
    )


def exposures(conn: sqlite3.Connection, device: str, f: ExposureFilters, page: int = 1,
              per_page: int = PER_PAGE, zone: tzinfo = UTC) -> ExposurePage:
    """A page of the exposures matching ``f``, newest first; ``f``'s days are days of
    ``zone`` (the API's: UTC; the pages': Paris)."""
    where = _where(device, f, zone)
    total = int(conn.execute(f"SELECT count(*) FROM exposures WHERE {where.sql}",
                             where.params).fetchone()[0])
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = conn.execute(
        f"SELECT * FROM exposures WHERE {where.sql}"
        " ORDER BY start DESC, run DESC, number DESC LIMIT ? OFFSET ?",
        [*where.params, per_page, (page - 1) * per_page]).fetchall()
    return ExposurePage(device=device, filters=f, total=total, page=page, per_page=per_page,
                        pages=pages, items=[_exposure(r) for r in rows])


def all_exposures(conn: sqlite3.Connection, device: str, f: ExposureFilters,
                  zone: tzinfo = UTC) -> list[Exposure]:
    """Every exposure matching ``f`` (days of ``zone``), oldest first (the CSV export)."""
    where = _where(device, f, zone)
    rows = conn.execute(f"SELECT * FROM exposures WHERE {where.sql}"
                        " ORDER BY start, run, number", where.params).fetchall()
    return [_exposure(r) for r in rows]
