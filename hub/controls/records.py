"""What the verification calendar holds: rooms, types, records, occasions; reads only.

Tables (defined in :mod:`hub.db.schema_app`):

- ``control_rooms``: what the calendar knows of a room: fixed or mobile device,
  receipt / commissioning (first use) / change of use dates, since when the hub
  tracks it;
- ``control_occasions``: each modification and maintenance the PCR recorded for a
  room (the initial and return-to-service verifications they call for).
  **Append-only**;
- ``control_types``: the types a site added on the page (admin);
- ``control_type_settings``: the site's intervals of the built-in types, the
  optional (quality control) types it enabled;
- ``control_records``: every verification recorded (day done, result, who
  performed it, note, document reference, the measurement point for a workplace
  verification, who recorded it and when). **Append-only**: SQLite triggers
  refuse to update or delete a row; a mistake is corrected by recording the
  verification again, and the history keeps both.

What is due: :mod:`hub.controls.due`; the PCR's and the admin's writes
:mod:`hub.controls.actions`, the periodic check :mod:`hub.controls.overdue`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub import timefmt
from hub.config import Controls as ControlSettings
from hub.controls import schedule
from hub.controls.types import (
    ControlError,
    ControlType,
    RoomSettings,
    TypeSetting,
    catalog,
    from_row,
    legacy_for,
)


def as_dicts(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()
             ) -> list[dict[str, Any]]:
    """The rows of a query as dicts (a connection may or may not return ``sqlite3.Row``)."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def iso(now: datetime) -> str:
    """``now`` as the calendar's tables write instants."""
    return timefmt.iso(now.timestamp())


def rooms(conn: sqlite3.Connection) -> list[RoomSettings]:
    """Every room with a device, or with calendar settings, and its settings (defaults when
    none were saved: a fixed device, no dates)."""
    saved = {(r["site"], r["room"]): r for r in as_dicts(conn, "SELECT * FROM control_rooms")}
    keys = {(str(r[0]), str(r[1])) for r in conn.execute("SELECT DISTINCT site, room FROM devices")}
    dated: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for site, room, kind, day in conn.execute(
            "SELECT site, room, kind, on_day FROM control_occasions ORDER BY on_day, id"):
        dated.setdefault((site, room), []).append((str(kind), str(day)))
    out = []
    for site, room in sorted(keys | set(saved)):
        row = saved.get((site, room))
        occasions = tuple(dated.get((site, room), ()))
        if row is None:
            out.append(RoomSettings(site, room, occasions=occasions))
            continue
        out.append(RoomSettings(site, room, row["device_kind"], row["received_on"],
                                row["first_use_on"], row["use_changed_on"],
                                row["tracked_since"], occasions, row.get("upgraded_on")))
    return out


def find_room(conn: sqlite3.Connection, site: str, room: str) -> RoomSettings:
    for item in rooms(conn):
        if (item.site, item.room) == (site, room):
            return item
    raise ControlError("room", "Unknown room.")


def stored_types(conn: sqlite3.Connection) -> list[ControlType]:
    return [from_row(r) for r in as_dicts(conn, "SELECT * FROM control_types ORDER BY key")]


def _months(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def type_settings(conn: sqlite3.Connection) -> list[TypeSetting]:
    """The site's settings as stored; periods that are not numbers of months are not
    applied (``readable`` False), and :func:`hub.controls.types.catalog` checks the rest."""
    out = []
    for r in as_dicts(conn, "SELECT * FROM control_type_settings ORDER BY key"):
        fixed, mobile = r["period_months"], r["period_months_mobile"]
        readable = _months(fixed) and _months(mobile)
        out.append(TypeSetting(str(r["key"]), r["enabled"] != 0,
                               fixed if readable else None, mobile if readable else None,
                               readable))
    return out



def types_in_force(conn: sqlite3.Connection, settings: ControlSettings) -> list[ControlType]:
    return catalog(settings.types, stored_types(conn), settings.disabled, type_settings(conn))


def legacy_types(conn: sqlite3.Connection, settings: ControlSettings) -> list[ControlType]:
    """The types of records kept whose type is no longer in force (read-only)."""
    recorded = [str(r[0]) for r in conn.execute("SELECT DISTINCT control FROM control_records")]
    return legacy_for(recorded, [t.key for t in types_in_force(conn, settings)])


def points(conn: sqlite3.Connection) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each room's measurement points (the probe's first): the workplaces verified."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in as_dicts(conn, "SELECT id, site, room, name, kind FROM points"
                              " ORDER BY site, room, kind = 'manual', id"):
        out.setdefault((row["site"], row["room"]), []).append(row)
    return out


def occasions(conn: sqlite3.Connection, site: str, room: str) -> list[dict[str, Any]]:
    """A room's modifications and maintenances recorded, the most recent first;
    ``readable``: whether its day is one (an unreadable one triggers nothing)."""
    rows = as_dicts(conn, "SELECT * FROM control_occasions WHERE site = ? AND room = ?"
                          " ORDER BY on_day DESC, id DESC", [site, room])
    for row in rows:
        row["readable"] = schedule.parse_day(row["on_day"]) is not None
    return rows


def history(conn: sqlite3.Connection, site: str | None = None, room: str | None = None,
            control: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Verifications recorded, the most recent day first."""
    where, params = [], []
    for column, value in (("site", site), ("room", room), ("control", control)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM control_records" + (" WHERE " + " AND ".join(where) if where else "")
    return as_dicts(conn, sql + " ORDER BY done_on DESC, id DESC LIMIT ?", [*params, limit])


def done(conn: sqlite3.Connection
         ) -> dict[tuple[str, str, str, int | None], list[schedule.Done]]:
    """Every record, by room, type and point (None: the room as a whole); one whose day
    is unreadable counts for nothing (the history still lists it)."""
    out: dict[tuple[str, str, str, int | None], list[schedule.Done]] = {}
    for site, room, control, point_id, done_on, result in conn.execute(
            "SELECT site, room, control, point_id, done_on, result FROM control_records"):
        day = schedule.parse_day(done_on)
        if day is None or result not in schedule.RESULTS:
            continue
        out.setdefault((site, room, control, point_id), []).append(schedule.Done(day, result))
    return out
