"""What is due: one item per room and verification type in force (per measurement point
for the periodic workplace verification), with its next due date, why, and its status.

The workplace verification of a probe point counts, beside the verifications
recorded for that point, each signed quarterly report that proves it
(:func:`hub.controls.workplace.check_report`): done on the report's signature day.
A signed report that does not prove it makes the verification due on its
signature day (reason ``report``), and the item carries the conditions that
failed. A room's manual points are verified and recorded on their own. Legacy
types are never due: their records are only kept.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import Any

from hub.config import Controls as ControlSettings
from hub.controls import schedule
from hub.controls.records import done, points, rooms, types_in_force
from hub.controls.types import BUILTIN_KEYS, INSTRUMENT, WORKPLACE, ControlType, RoomSettings
from hub.controls.workplace import SignedReport, check_report, signed_reports


def slot(control: str, point_id: int | None) -> str:
    """What an item is due for: the type, and the point for a workplace verification
    (the events' ``ref`` and the feed's ``UID`` name it)."""
    return control if point_id is None else f"{control}:point:{point_id}"


class _Room:
    """One room's inputs to the schedule, read once."""

    def __init__(self, room: RoomSettings, today: date, settings: ControlSettings,
                 records: dict[tuple[str, str, str, int | None], list[schedule.Done]],
                 instrument: ControlType | None) -> None:
        self.room, self.settings, self.records = room, settings, records
        self.since = schedule.parse_day(room.tracked_since) or today
        # The types step 3 brought (all the built-in ones) were not in force before it:
        # in a room tracked before the upgrade their grace runs from the upgrade's day.
        upgraded_on = schedule.parse_day(room.upgraded_on)
        self.upgraded_on = upgraded_on if upgraded_on and self.since < upgraded_on else None
        self.instrument = instrument

    def recorded(self, control: str, point_id: int | None = None) -> list[schedule.Done]:
        return self.records.get((self.room.site, self.room.room, control, point_id), [])

    def due(self, ctype: ControlType, records: list[schedule.Done],
            also_due: list[tuple[date, schedule.Reason]] | None = None) -> schedule.Due:
        return schedule.next_due(ctype, self.room, records, self.since,
                                 self.settings.first_record_grace_days,
                                 self.settings.recheck_after_not_ok_days, also_due or (),
                                 self.upgraded_on if ctype.key in BUILTIN_KEYS else None)

    def probe_due_on(self, day: date) -> date | None:
        """The probe's calibration check's due date as it stood on ``day``."""
        if self.instrument is None:
            return None
        before = [r for r in self.recorded(INSTRUMENT) if r.done_on <= day]
        return self.due(self.instrument, before).due


def _item(ctype: ControlType, room: RoomSettings, due: schedule.Due, records: int,
          today: date, settings: ControlSettings) -> dict[str, Any]:
    state, remind = schedule.status(due.due, today, settings.remind_days)
    return {
        "site": room.site, "room": room.room, "device_kind": room.device_kind,
        "control": ctype.key, "slot": ctype.key, "name": ctype.name, "source": ctype.source,
        "basis": ctype.basis, "performer": ctype.performer,
        "period_months": ctype.period_for(room.device_kind),
        "due": due.due.isoformat() if due.due else None, "reason": due.reason,
        "status": state, "remind_days": remind,
        "days_left": (due.due - today).days if due.due else None,
        "last_done": due.last_done.isoformat() if due.last_done else None,
        "last_result": due.last_result, "records": records,
        "point_id": None, "point_name": None, "point_kind": None,
        "last_by_report": False, "report": None,
    }


def _report_summary(report: SignedReport, failures: list[Any]) -> dict[str, Any]:
    day = report.signed_on
    return {"report_id": report.report_id, "quarter": report.quarter,
            "version": report.version, "signed_on": day.isoformat() if day else None,
            "closes": not failures, "failures": [f.as_dict() for f in failures]}


def _workplace(ctype: ControlType, ctx: _Room, point: dict[str, Any],
               reports: list[SignedReport], today: date) -> dict[str, Any]:
    manual = ctx.recorded(ctype.key, int(point["id"]))
    auto: list[schedule.Done] = []
    failed: list[tuple[date, schedule.Reason]] = []
    summary = None
    for report in reports if point["kind"] == "probe" else []:
        day = report.signed_on
        failures = check_report(report.content, ctx.probe_due_on(day) if day else None)
        summary = _report_summary(report, failures)
        if day is None:
            continue
        if failures:
            failed.append((day, "report"))
        else:
            auto.append(schedule.Done(day, "ok"))
    due = ctx.due(ctype, [*manual, *auto], failed)
    item = _item(ctype, ctx.room, due, len(manual), today, ctx.settings)
    by_hand = {r.done_on for r in manual}
    item.update({"slot": slot(ctype.key, int(point["id"])), "point_id": int(point["id"]),
                 "point_name": point["name"], "point_kind": point["kind"], "report": summary,
                 "last_by_report": due.last_done is not None and due.last_done not in by_hand
                 and any(a.done_on == due.last_done for a in auto)})
    return item


def due_items(conn: sqlite3.Connection, settings: ControlSettings, today: date,
              only: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """One item per room and type in force (per point for the workplace verification)."""
    types = types_in_force(conn, settings)
    records = done(conn)
    room_points = points(conn)
    probes = [int(p["id"]) for ps in room_points.values() for p in ps if p["kind"] == "probe"]
    reports = signed_reports(conn, probes) if any(t.key == WORKPLACE for t in types) else {}
    instrument = next((t for t in types if t.key == INSTRUMENT), None)
    items: list[dict[str, Any]] = []
    for room in rooms(conn):
        if only is not None and (room.site, room.room) != only:
            continue
        ctx = _Room(room, today, settings, records, instrument)
        for ctype in types:
            listed = room_points.get((room.site, room.room), [])
            if ctype.key == WORKPLACE and listed:
                items.extend(_workplace(ctype, ctx, p, reports.get(int(p["id"]), []), today)
                             for p in listed)
                continue
            recorded = ctx.recorded(ctype.key)
            items.append(_item(ctype, room, ctx.due(ctype, recorded), len(recorded), today,
                               settings))
    return items
