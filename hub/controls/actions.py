"""The verification calendar's actions: a verification recorded, a room's settings and
occasions (modification, maintenance), a site type, the site's setting of a type.

The action functions check and write; the caller holds the write transaction
(``BEGIN IMMEDIATE``) and adds its audit record in it. A refused value raises
:class:`~hub.controls.types.ControlError` naming the field before anything is
written. Each ends or opens the room's calendar events at once
(:func:`hub.controls.overdue.sync_events`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from hub import timefmt, workdays
from hub.config import Controls as ControlSettings
from hub.controls import schedule
from hub.controls.due import due_items, slot
from hub.controls.overdue import sync_events
from hub.controls.records import find_room, iso, points, types_in_force
from hub.controls.types import (
    DEVICE_KINDS,
    OCCASION_KINDS,
    RESERVED_KEYS,
    WORKPLACE,
    ControlError,
    check_periods,
    check_type,
    defined,
)

PERFORMER_MAX: Final = 120
NOTE_MAX: Final = 2000
DOCUMENT_MAX: Final = 200
EARLIEST: Final = date(1990, 1, 1)
#: How far ahead a room's dates may be set (a planned receipt or first use).
PLANNED_DAYS_MAX: Final = 2 * 366
_HOUR: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


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


def _clock(text: str, day: date, field: str) -> datetime:
    """``HH:MM`` Paris time on ``day``, as a UTC instant; a time the clocks skip (the
    spring change's hour) refused, the autumn's repeated hour taken the first time."""
    found = _HOUR.fullmatch(text)
    if found is None:
        raise ControlError(field, "Enter the time as HH:MM.")
    local = datetime.combine(day, time(int(found[1]), int(found[2])), workdays.PARIS)
    moment = local.astimezone(UTC)
    if moment.astimezone(workdays.PARIS).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ControlError(field, "This time does not exist that day (the clocks change).")
    return moment


#: The longest hours recorded across midnight.
NIGHT: Final = timedelta(hours=12)


def parse_hours(day: date, start: str | None, end: str | None, now: datetime
                ) -> tuple[str | None, str | None]:
    """The optional hours a verification or a maintenance took, "de HH:MM à HH:MM" Paris
    time from ``day``, as stored (UTC): both or neither. An end earlier than the start is
    the next day's ("de 22:00 à 02:00": a night's maintenance) when that spans at most
    :data:`NIGHT`; longer ("de 12:00 à 11:00") is refused as an end before the start: more
    likely a slip than a day and a night whose emissions would all be left out. The
    reconciliation with the RDSRs leaves out the emissions wholly inside them
    (:mod:`hub.rdsr.reconcile`)."""
    first, last = (start or "").strip(), (end or "").strip()
    if not first and not last:
        return None, None
    if not first or not last:
        raise ControlError("from_time" if not first else "to_time",
                           "Give both times, or neither.")
    lo, hi = _clock(first, day, "from_time"), _clock(last, day, "to_time")
    if hi < lo and (night := _clock(last, day + timedelta(days=1), "to_time")) - lo <= NIGHT:
        hi = night
    if hi <= lo:
        raise ControlError("to_time", "The end must be after the start.")
    if hi > now:
        raise ControlError("to_time", "The end cannot be in the future.")
    return timefmt.iso(lo.timestamp()), timefmt.iso(hi.timestamp())


def _point(conn: sqlite3.Connection, site: str, room: str, control: str,
           point_id: int | str | None) -> int | None:
    """The measurement point a workplace verification was done at (required where the
    room has points: each is a workplace of its own); None for any other type."""
    text = str(point_id).strip() if point_id is not None else ""
    listed = points(conn).get((site, room), [])
    if control != WORKPLACE or not listed:
        if text:
            raise ControlError("point", "Only a workplace verification names a point.")
        return None
    if not text:
        raise ControlError("point", "Choose the measurement point verified.")
    if not text.isdigit() or int(text) not in {int(p["id"]) for p in listed}:
        raise ControlError("point", "Not a measurement point of this room.")
    return int(text)


def record_done(conn: sqlite3.Connection, settings: ControlSettings, username: str,
                site: str, room: str, control: str, done_on: str | date, result: str,
                performed_by: str, note: str, document_ref: str, now: datetime,
                point_id: int | str | None = None, from_time: str = "",
                to_time: str = "") -> dict[str, Any]:
    """Record a verification done (with the hours it took, optional); its room's next due
    date moves, an overdue event ends. A type no longer in force (the legal guide's)
    keeps its records, read-only."""
    find_room(conn, site, room)
    if control not in {t.key for t in types_in_force(conn, settings)}:
        if control in RESERVED_KEYS or conn.execute(
                "SELECT 1 FROM control_records WHERE control = ? LIMIT 1",
                [control]).fetchone():
            raise ControlError("control", "This verification type is no longer in force:"
                                          " its records are kept, read-only.")
        raise ControlError("control", "Unknown verification type.")
    point = _point(conn, site, room, control, point_id)
    day = parse_day(done_on, "done_on")
    assert day is not None
    today = workdays.today(now)
    if day > today:
        raise ControlError("done_on", "The date cannot be in the future.")
    if day < EARLIEST:
        raise ControlError("done_on", "The date cannot be before {date}.",
                           date=EARLIEST.isoformat())
    window = parse_hours(day, from_time, to_time, now)
    if result not in schedule.RESULTS:
        raise ControlError("result", "Choose OK or not OK.")
    who = _text(performed_by, "performed_by", PERFORMER_MAX, True)
    text = _text(note, "note", NOTE_MAX, False)
    if result == "not_ok" and not text:
        raise ControlError("note", "Say what was not OK.")
    document = _text(document_ref, "document_ref", DOCUMENT_MAX, False)
    at = iso(now)
    cursor = conn.execute(
        "INSERT INTO control_records (site, room, control, done_on, result, performed_by,"
        " note, document_ref, recorded_at, recorded_by, point_id, window_start, window_end)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [site, room, control, day.isoformat(), result, who, text, document, at, username,
         point, *window])
    sync_events(conn, settings, now, only=(site, room))
    item = next(i for i in due_items(conn, settings, today, (site, room))
                if i["slot"] == slot(control, point))
    return {"id": int(cursor.lastrowid or 0), "site": site, "room": room, "control": control,
            "point_id": point, "done_on": day.isoformat(), "result": result,
            "performed_by": who, "note": text, "document_ref": document,
            "window_start": window[0], "window_end": window[1],
            "next_due": item["due"], "status": item["status"]}


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
    at = iso(now)
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
    """Add a site verification type (it applies to every room from now on)."""
    taken = [t.key for t in types_in_force(conn, settings)] + list(settings.disabled)
    taken += [str(r[0]) for r in conn.execute("SELECT key FROM control_types")]
    ctype = check_type(key, name, period_months, period_months_mobile, triggers, taken)
    conn.execute("INSERT INTO control_types (key, name, period_months, period_months_mobile,"
                 " triggers, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 [ctype.key, ctype.name, ctype.period_months, ctype.period_months_mobile,
                  json.dumps([t.event for t in ctype.triggers]), iso(now), username])
    return ctype.as_dict()


def add_occasion(conn: sqlite3.Connection, settings: ControlSettings, username: str,
                 site: str, room: str, kind: str, on_day: str | date, note: str,
                 now: datetime, from_time: str = "", to_time: str = "") -> dict[str, Any]:
    """Record a modification or a maintenance of a room's equipment (with the hours it
    took, optional): the verifications it calls for fall due that day (kept: never
    changed nor deleted)."""
    find_room(conn, site, room)
    if kind not in OCCASION_KINDS:
        raise ControlError("kind", "Choose modification or maintenance.")
    day = parse_day(on_day, "on_day")
    assert day is not None
    today = workdays.today(now)
    if not EARLIEST <= day <= today:
        raise ControlError("on_day", "The date must be between {start} and today.",
                           start=EARLIEST.isoformat())
    window = parse_hours(day, from_time, to_time, now)
    text = _text(note, "note", NOTE_MAX, True)
    cursor = conn.execute(
        "INSERT INTO control_occasions (site, room, kind, on_day, note, recorded_at,"
        " recorded_by, window_start, window_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [site, room, kind, day.isoformat(), text, iso(now), username, *window])
    sync_events(conn, settings, now, only=(site, room))
    return {"id": int(cursor.lastrowid or 0), "site": site, "room": room, "kind": kind,
            "on_day": day.isoformat(), "note": text, "window_start": window[0],
            "window_end": window[1]}


def set_type(conn: sqlite3.Connection, settings: ControlSettings, username: str, key: str,
             enabled: bool, period_months: int | None, period_months_mobile: int | None,
             now: datetime) -> dict[str, Any]:
    """The site's interval of a built-in type (within the law's longest), or an optional
    (quality control) type enabled or not; returns the old and new values (the audit)."""
    ctype = defined(key)
    if ctype is None or ctype.legacy:
        raise ControlError("key", "Not a built-in or optional verification type.")
    if key in settings.disabled:
        raise ControlError("key", "This type is disabled in the configuration.")
    if ctype.source == "builtin" and not enabled:
        raise ControlError("enabled", "A verification of the order cannot be switched off"
                                      " here (the configuration's disabled list can).")
    check_periods(period_months, period_months_mobile, ctype.max_months)
    if ctype.periodic and period_months is None:
        raise ControlError("period_months", "This verification is periodic: give its"
                                            " interval.")
    if period_months is None and not ctype.triggers:
        raise ControlError("period_months", "Give a period, or at least one occasion.")
    row = conn.execute("SELECT enabled, period_months, period_months_mobile FROM"
                       " control_type_settings WHERE key = ?", [key]).fetchone()
    before = ({"enabled": bool(row[0]), "period_months": row[1],
               "period_months_mobile": row[2]} if row is not None else
              {"enabled": ctype.source == "builtin", "period_months": ctype.period_months,
               "period_months_mobile": ctype.period_months_mobile})
    conn.execute(
        "INSERT INTO control_type_settings (key, enabled, period_months, period_months_mobile,"
        " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " enabled = excluded.enabled, period_months = excluded.period_months,"
        " period_months_mobile = excluded.period_months_mobile,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        [key, int(enabled), period_months, period_months_mobile, iso(now), username])
    sync_events(conn, settings, now)
    return {"key": key, "before": before,
            "after": {"enabled": enabled, "period_months": period_months,
                      "period_months_mobile": period_months_mobile}}
