"""The verification calendar's events: the periodic ``control_overdue`` check and the
reminders (the kind codes kept from the control calendar; named "Vérification en retard"
and "Vérification bientôt à faire" in the inbox).

:func:`check_overdue` opens one ``control_overdue`` event per room and verification
(and measurement point, for the workplace verification) whose due date has passed
(through :meth:`hub.db.store.Store.open_event`: at most one ongoing per room and
``ref``) and ends the condition of those that are no longer overdue (a verification
recorded, a signed report that stands as it, a date corrected, a type no longer in
force).

It also raises the **active reminders**: a PCR who never opens the calendar page must
still hear of a verification coming due. When one crosses a ``remind_days`` threshold
(30, then 7 days before its due date), one ``control_due_soon`` event (severity
``info``) is opened; its ``ref`` names the verification, the due date and the level,
and a reminder whose ``ref`` was ever raised for the room is never raised again: each
level fires once per due date, whatever the restarts and repeated checks. Its condition
ends when the next level takes over, when the verification becomes overdue
(``control_overdue`` then takes over) or when a record moves the due date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from hub import workdays
from hub.config import Controls as ControlSettings
from hub.controls.due import due_items
from hub.controls.records import as_dicts, iso
from hub.db.store import Store
from wire.kinds import severity

KIND: Final = "control_overdue"
#: The active reminder before a due date (informational: nothing is wrong yet).
REMIND_KIND: Final = "control_due_soon"
KINDS: Final = (KIND, REMIND_KIND)


def _device_of(conn: sqlite3.Connection, site: str, room: str) -> str:
    row = conn.execute("SELECT MIN(device) FROM devices WHERE site = ? AND room = ?",
                       [site, room]).fetchone()
    return str(row[0]) if row is not None and row[0] is not None else f"{site}/{room}"


EventKey = tuple[str, str, str, str]  # (kind, site, room, ref)


def _reminder_ref(item: dict[str, Any]) -> str:
    """Names the verification (and its point), its due date and the level: once per
    level and due date."""
    return f"control:{item['slot']}:{item['due']}:{item['remind_days']}d"


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
            wanted[(KIND, site, room, f"control:{item['slot']}")] = item
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
    rows = as_dicts(conn, sql, [*KINDS, *(only or ())])
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
    if item["point_id"] is not None:
        detail["point"] = {"id": item["point_id"], "name": item["point_name"]}
    if kind == REMIND_KIND:
        detail["remind_days"] = item["remind_days"]
    return detail


def sync_events(conn: sqlite3.Connection, settings: ControlSettings, now: datetime,
                only: tuple[str, str] | None = None) -> dict[str, int]:
    """Open the ``control_overdue`` and ``control_due_soon`` events now due, end those that
    no longer hold (caller's transaction). Returns how many were opened and ended."""
    at = iso(now)
    store = Store.over(conn)
    plan = _plan(conn, settings, workdays.today(now), only)
    for event_id in plan.end:
        store.clear_condition(event_id, at)
    for (kind, site, room, ref), item in plan.open.items():
        store.open_event(kind, _device_of(conn, site, room), site, room, ref, at,
                         _detail(kind, item), severity(kind))
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
