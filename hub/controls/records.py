"""What the control calendar holds: rooms, control types, records, and what is due.

Tables (defined in :mod:`hub.db.schema_app`):

- ``control_rooms``: what the calendar knows of a room: fixed or mobile device,
  receipt / first use / change of use dates, since when the hub tracks it;
- ``control_types``: the types a site added on the page (admin);
- ``control_records``: every control recorded (day done, result, who performed
  it, note, document reference, who recorded it and when). **Append-only**:
  SQLite triggers refuse to update or delete a row; a mistake is corrected by
  recording the control again, and the history keeps both.

Reads only; the PCR's and the admin's writes are :mod:`hub.controls.actions`, the
periodic check :mod:`hub.controls.overdue`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from hub import timefmt
from hub.config import Controls as ControlSettings
from hub.controls import schedule
from hub.controls.types import ControlError, ControlType, RoomSettings, catalog, from_row


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
    out = []
    for site, room in sorted(keys | set(saved)):
        row = saved.get((site, room))
        if row is None:
            out.append(RoomSettings(site, room))
            continue
        out.append(RoomSettings(site, room, row["device_kind"], row["received_on"],
                                row["first_use_on"], row["use_changed_on"],
                                row["tracked_since"]))
    return out


def find_room(conn: sqlite3.Connection, site: str, room: str) -> RoomSettings:
    for item in rooms(conn):
        if (item.site, item.room) == (site, room):
            return item
    raise ControlError("room", "Unknown room.")


def stored_types(conn: sqlite3.Connection) -> list[ControlType]:
    return [from_row(r) for r in as_dicts(conn, "SELECT * FROM control_types ORDER BY key")]


def types_in_force(conn: sqlite3.Connection, settings: ControlSettings) -> list[ControlType]:
    return catalog(settings.types, stored_types(conn), settings.disabled)


def history(conn: sqlite3.Connection, site: str | None = None, room: str | None = None,
            control: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Controls recorded, the most recent day first."""
    where, params = [], []
    for column, value in (("site", site), ("room", room), ("control", control)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM control_records" + (" WHERE " + " AND ".join(where) if where else "")
    return as_dicts(conn, sql + " ORDER BY done_on DESC, id DESC LIMIT ?", [*params, limit])


def _done(conn: sqlite3.Connection) -> dict[tuple[str, str, str], list[schedule.Done]]:
    out: dict[tuple[str, str, str], list[schedule.Done]] = {}
    for site, room, control, done_on, result in conn.execute(
            "SELECT site, room, control, done_on, result FROM control_records"):
        out.setdefault((site, room, control), []).append(
            schedule.Done(date.fromisoformat(done_on), result))
    return out


def due_items(conn: sqlite3.Connection, settings: ControlSettings, today: date,
              only: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """One item per room and control type in force: its next due date, why, and its status."""
    types = types_in_force(conn, settings)
    done = _done(conn)
    items = []
    for room in rooms(conn):
        if only is not None and (room.site, room.room) != only:
            continue
        since = date.fromisoformat(room.tracked_since) if room.tracked_since else today
        for ctype in types:
            records = done.get((room.site, room.room, ctype.key), [])
            due = schedule.next_due(ctype, room, records, since,
                                    settings.first_record_grace_days,
                                    settings.recheck_after_not_ok_days)
            state, remind = schedule.status(due.due, today, settings.remind_days)
            items.append({
                "site": room.site, "room": room.room, "device_kind": room.device_kind,
                "control": ctype.key, "name": ctype.name, "source": ctype.source,
                "period_months": ctype.period_for(room.device_kind),
                "due": due.due.isoformat() if due.due else None, "reason": due.reason,
                "status": state, "remind_days": remind,
                "days_left": (due.due - today).days if due.due else None,
                "last_done": due.last_done.isoformat() if due.last_done else None,
                "last_result": due.last_result, "records": len(records),
            })
    return items
