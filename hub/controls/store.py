"""The calendar's tables, its actions, and the periodic ``control_overdue`` check.

Tables (created by :func:`create_schema`, idempotent):

- ``control_rooms``: what the calendar knows of a room: fixed or mobile device,
  receipt / first use / change of use dates, since when the hub tracks it;
- ``control_types``: the types a site added on the page (admin);
- ``control_records``: every control recorded (day done, result, who performed
  it, note, document reference, who recorded it and when). **Append-only**:
  SQLite triggers refuse to update or delete a row; a mistake is corrected by
  recording the control again, and the history keeps both.

The action functions check and write; the caller holds the write transaction
(``BEGIN IMMEDIATE``) and adds its audit record in it. A refused value raises
:class:`~hub.controls.types.ControlError` naming the field before anything is
written. :func:`check_overdue` opens one ``control_overdue`` event per room and
control whose due date has passed (through :meth:`hub.db.store.Store.open_event`:
at most one ongoing per room and control) and ends the condition of those that
are no longer overdue (a control recorded, a date corrected).

It also raises the **active reminders**: a PCR who never opens the calendar
page must still hear of a control coming due. When a control crosses a
``remind_days`` threshold (30, then 7 days before its due date), one
``control_due_soon`` event (severity ``info``) is opened; its ``ref`` names the
control, the due date and the level, and a reminder whose ``ref`` was ever
raised for the room is never raised again: each level fires once per due date,
whatever the restarts and repeated checks. Its condition ends when the next
level takes over, when the control becomes overdue (``control_overdue`` then
takes over) or when a record moves the due date (a new due date, new refs).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import sqlite_utils

from hub import timefmt, workdays
from hub.config import Controls as ControlSettings
from hub.controls import schedule
from hub.controls.types import (
    DEVICE_KINDS,
    ControlError,
    ControlType,
    RoomSettings,
    catalog,
    check_type,
    from_row,
)
from hub.db.store import Store

KIND: Final = "control_overdue"
#: The active reminder before a due date (informational: nothing is wrong yet).
REMIND_KIND: Final = "control_due_soon"
KINDS: Final = (KIND, REMIND_KIND)
PERFORMER_MAX: Final = 120
NOTE_MAX: Final = 2000
DOCUMENT_MAX: Final = 200
EARLIEST: Final = date(1990, 1, 1)
#: How far ahead a room's dates may be set (a planned receipt or first use).
PLANNED_DAYS_MAX: Final = 2 * 366

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS control_rooms (
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    device_kind TEXT NOT NULL DEFAULT 'fixed' CHECK (device_kind IN ('fixed', 'mobile')),
    received_on TEXT,
    first_use_on TEXT,
    use_changed_on TEXT,
    tracked_since TEXT NOT NULL,
    updated_at TEXT,
    updated_by TEXT,
    PRIMARY KEY (site, room)
);
CREATE TABLE IF NOT EXISTS control_types (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    period_months INTEGER,
    period_months_mobile INTEGER,
    triggers TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    control TEXT NOT NULL,
    done_on TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('ok', 'not_ok')),
    performed_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    document_ref TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_control_records_room
    ON control_records (site, room, control, done_on);
CREATE TRIGGER IF NOT EXISTS control_records_no_update BEFORE UPDATE ON control_records
    BEGIN SELECT RAISE(ABORT, 'control records are kept: record the control again'); END;
CREATE TRIGGER IF NOT EXISTS control_records_no_delete BEFORE DELETE ON control_records
    BEGIN SELECT RAISE(ABORT, 'control records are kept'); END;
-- INSERT OR REPLACE (or REPLACE INTO) with an existing id deletes the row without firing
-- the DELETE trigger unless PRAGMA recursive_triggers is on (sqlite_utils sets it, the
-- sqlite3 shell and a plain connection do not): refuse any insert of an id in use.
CREATE TRIGGER IF NOT EXISTS control_records_no_replace BEFORE INSERT ON control_records
    WHEN EXISTS (SELECT 1 FROM control_records WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'control records are kept as recorded'); END;
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the calendar's tables if missing (outside any transaction)."""
    conn.executescript(SCHEMA)


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _iso(now: datetime) -> str:
    return timefmt.iso(now.timestamp())


# -- reading -----------------------------------------------------------------------------------


def rooms(conn: sqlite3.Connection) -> list[RoomSettings]:
    """Every room with a device, or with calendar settings, and its settings (defaults when
    none were saved: a fixed device, no dates)."""
    saved = {(r["site"], r["room"]): r for r in _rows(conn, "SELECT * FROM control_rooms")}
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
    return [from_row(r) for r in _rows(conn, "SELECT * FROM control_types ORDER BY key")]


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
    return _rows(conn, sql + " ORDER BY done_on DESC, id DESC LIMIT ?", [*params, limit])


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


# -- actions (the caller holds the write transaction) ------------------------------------------


def _text(value: str | None, field: str, limit: int, required: bool,
          message: str = "At most {max} characters.") -> str:
    text = (value or "").strip()
    if required and not text:
        raise ControlError(field, "Required.")
    if len(text) > limit:
        raise ControlError(field, message, max=limit)
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ControlError(field, "Control characters are not allowed.")
    return text


def parse_day(value: str | date | None, field: str, required: bool = True) -> date | None:
    """A YYYY-MM-DD day, or :class:`ControlError` naming ``field``."""
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        if required:
            raise ControlError(field, "Enter the date as YYYY-MM-DD.")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ControlError(field, "Enter the date as YYYY-MM-DD.") from None


def record_done(conn: sqlite3.Connection, settings: ControlSettings, username: str,
                site: str, room: str, control: str, done_on: str | date, result: str,
                performed_by: str, note: str, document_ref: str, now: datetime,
                ) -> dict[str, Any]:
    """Record a control done; its room's next due date moves, an overdue event ends."""
    find_room(conn, site, room)
    if control not in {t.key for t in types_in_force(conn, settings)}:
        raise ControlError("control", "Unknown control type.")
    day = parse_day(done_on, "done_on")
    assert day is not None
    today = workdays.today(now)
    if day > today:
        raise ControlError("done_on", "The date cannot be in the future.")
    if day < EARLIEST:
        raise ControlError("done_on", "The date cannot be before {date}.",
                           date=EARLIEST.isoformat())
    if result not in schedule.RESULTS:
        raise ControlError("result", "Choose OK or not OK.")
    who = _text(performed_by, "performed_by", PERFORMER_MAX, True)
    text = _text(note, "note", NOTE_MAX, False)
    if result == "not_ok" and not text:
        raise ControlError("note", "Say what was not OK.")
    document = _text(document_ref, "document_ref", DOCUMENT_MAX, False)
    at = _iso(now)
    cursor = conn.execute(
        "INSERT INTO control_records (site, room, control, done_on, result, performed_by,"
        " note, document_ref, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [site, room, control, day.isoformat(), result, who, text, document, at, username])
    sync_events(conn, settings, now, only=(site, room))
    item = next(i for i in due_items(conn, settings, today, (site, room))
                if i["control"] == control)
    return {"id": int(cursor.lastrowid or 0), "site": site, "room": room, "control": control,
            "done_on": day.isoformat(), "result": result, "performed_by": who, "note": text,
            "document_ref": document, "next_due": item["due"], "status": item["status"]}


def set_room(conn: sqlite3.Connection, settings: ControlSettings, username: str, site: str,
             room: str, device_kind: str, received_on: str | date | None,
             first_use_on: str | date | None, use_changed_on: str | date | None,
             now: datetime) -> dict[str, Any]:
    """Save a room's device kind and dates; returns the old and new values (for the audit)."""
    before = find_room(conn, site, room)
    if device_kind not in DEVICE_KINDS:
        raise ControlError("device_kind", "Choose fixed or mobile.")
    today = workdays.today(now)
    days: dict[str, date | None] = {}
    for field, value in (("received_on", received_on), ("first_use_on", first_use_on),
                         ("use_changed_on", use_changed_on)):
        day = parse_day(value, field, required=False)
        if day is not None and not EARLIEST <= day <= today + timedelta(days=PLANNED_DAYS_MAX):
            raise ControlError(field, "The date must be between {start} and two years from"
                                      " now.", start=EARLIEST.isoformat())
        days[field] = day
    received = days["received_on"]
    for field in ("first_use_on", "use_changed_on"):
        day = days[field]
        if received is not None and day is not None and day < received:
            raise ControlError(field, "This date cannot be before the receipt.")
    values = {k: (v.isoformat() if v else None) for k, v in days.items()}
    at = _iso(now)
    conn.execute(
        "INSERT INTO control_rooms (site, room, device_kind, received_on, first_use_on,"
        " use_changed_on, tracked_since, updated_at, updated_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, room) DO UPDATE SET"
        " device_kind = excluded.device_kind, received_on = excluded.received_on,"
        " first_use_on = excluded.first_use_on, use_changed_on = excluded.use_changed_on,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        [site, room, device_kind, values["received_on"], values["first_use_on"],
         values["use_changed_on"], before.tracked_since or today.isoformat(), at, username])
    sync_events(conn, settings, now, only=(site, room))
    old = {"device_kind": before.device_kind, "received_on": before.received_on,
           "first_use_on": before.first_use_on, "use_changed_on": before.use_changed_on}
    return {"site": site, "room": room, "before": old,
            "after": {"device_kind": device_kind, **values}}


def add_type(conn: sqlite3.Connection, settings: ControlSettings, username: str, key: str,
             name: str, period_months: int | None, period_months_mobile: int | None,
             triggers: Iterable[str], now: datetime) -> dict[str, Any]:
    """Add a site control type (it applies to every room from now on)."""
    taken = [t.key for t in types_in_force(conn, settings)] + list(settings.disabled)
    ctype = check_type(key, name, period_months, period_months_mobile, triggers, taken)
    conn.execute("INSERT INTO control_types (key, name, period_months, period_months_mobile,"
                 " triggers, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 [ctype.key, ctype.name, ctype.period_months, ctype.period_months_mobile,
                  json.dumps([t.event for t in ctype.triggers]), _iso(now), username])
    return ctype.as_dict()


# -- the calendar's events ---------------------------------------------------------------------


def _device_of(conn: sqlite3.Connection, site: str, room: str) -> str:
    row = conn.execute("SELECT MIN(device) FROM devices WHERE site = ? AND room = ?",
                       [site, room]).fetchone()
    return str(row[0]) if row is not None and row[0] is not None else f"{site}/{room}"


EventKey = tuple[str, str, str, str]  # (kind, site, room, ref)


def _reminder_ref(item: dict[str, Any]) -> str:
    """Names the control, its due date and the level: once per level and due date."""
    return f"control:{item['control']}:{item['due']}:{item['remind_days']}d"


def _wanted(items: Iterable[dict[str, Any]], grace_days: int
            ) -> dict[EventKey, dict[str, Any]]:
    """The calendar events whose condition holds now: overdue, or the reminder reached.

    A never-recorded control is due ``grace_days`` after the room was first
    tracked: that due date is born inside every reminder window at least as
    long as the grace, so those levels are skipped (a new site would otherwise
    open one reminder per control and room on its first day).
    """
    wanted: dict[EventKey, dict[str, Any]] = {}
    for item in items:
        site, room = item["site"], item["room"]
        if item["status"] == "overdue":
            wanted[(KIND, site, room, f"control:{item['control']}")] = item
        elif item["status"] in ("soon", "upcoming") and item["remind_days"] is not None:
            if item["reason"] == "first_record" and item["remind_days"] >= grace_days:
                continue
            wanted[(REMIND_KIND, site, room, _reminder_ref(item))] = item
    return wanted


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the check has to write: events to open, ongoing events (by id) to end."""

    open: dict[EventKey, dict[str, Any]]
    end: list[int]

    def __bool__(self) -> bool:
        return bool(self.open or self.end)


def _plan(conn: sqlite3.Connection, settings: ControlSettings, today: date,
          only: tuple[str, str] | None) -> _Plan:
    """Compare the events wanted with the store's (a read only, so that a check with
    nothing to do takes no write lock)."""
    wanted = _wanted(due_items(conn, settings, today, only), settings.first_record_grace_days)
    sql = ("SELECT id, kind, site, room, ref, condition_cleared_at FROM events"
           f" WHERE kind IN ({', '.join('?' * len(KINDS))})")
    if only is not None:
        sql += " AND site = ? AND room = ?"
    rows = _rows(conn, sql, [*KINDS, *(only or ())])
    ongoing: dict[EventKey, list[int]] = {}
    for r in rows:
        if r["condition_cleared_at"] is None:
            ongoing.setdefault((r["kind"], r["site"], r["room"], r["ref"]), []).append(r["id"])
    # A reminder is raised once: one whose condition ended is not raised again.
    raised = {(r["kind"], r["site"], r["room"], r["ref"]) for r in rows
              if r["kind"] == REMIND_KIND}
    to_open = {k: v for k, v in wanted.items() if k not in ongoing and k not in raised}
    to_end = [int(i) for key, ids in ongoing.items() if key not in wanted for i in ids]
    return _Plan(to_open, sorted(to_end))


def _detail(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    detail = {"control": item["control"], "name": item["name"], "due": item["due"],
              "reason": item["reason"], "last_done": item["last_done"]}
    if kind == REMIND_KIND:
        detail["remind_days"] = item["remind_days"]
    return detail


def sync_events(conn: sqlite3.Connection, settings: ControlSettings, now: datetime,
                only: tuple[str, str] | None = None) -> dict[str, int]:
    """Open the ``control_overdue`` and ``control_due_soon`` events now due, end those that
    no longer hold (caller's transaction). Returns how many were opened and ended."""
    at = _iso(now)
    store = Store(sqlite_utils.Database(conn, execute_plugins=False))
    plan = _plan(conn, settings, workdays.today(now), only)
    for event_id in plan.end:
        store.clear_condition(event_id, at)
    for (kind, site, room, ref), item in plan.open.items():
        store.open_event(kind, _device_of(conn, site, room), site, room, ref, at,
                         _detail(kind, item), "warning" if kind == KIND else "info")
    return {"opened": len(plan.open), "ended": len(plan.end)}


def _check_needed(conn: sqlite3.Connection, settings: ControlSettings, now: datetime) -> bool:
    """Whether :func:`check_overdue` has anything to write (a read only)."""
    untracked = conn.execute("SELECT 1 FROM devices d WHERE NOT EXISTS (SELECT 1 FROM"
                             " control_rooms c WHERE c.site = d.site AND c.room = d.room)"
                             " LIMIT 1").fetchone()
    return untracked is not None or bool(_plan(conn, settings, workdays.today(now), None))


def check_overdue(conn: sqlite3.Connection, now: datetime | None = None,
                  settings: ControlSettings | None = None) -> dict[str, int]:
    """The periodic check (idempotent): start tracking new rooms, then open or end the
    ``control_overdue`` and ``control_due_soon`` events, in one transaction of its own."""
    now = now or datetime.now(UTC)
    settings = settings or ControlSettings()
    create_schema(conn)
    if not _check_needed(conn, settings, now):
        return {"opened": 0, "ended": 0}  # nothing to write: no write transaction at all
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR IGNORE INTO control_rooms (site, room, tracked_since)"
                     " SELECT DISTINCT site, room, ? FROM devices",
                     [workdays.today(now).isoformat()])
        result = sync_events(conn, settings, now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
