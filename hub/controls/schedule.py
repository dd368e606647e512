"""Due dates and reminders: pure functions of a control type, a room and its records.

Dates are calendar days in Europe/Paris (:func:`hub.workdays.today`).

- **Periods run from the last control done**, not from calendar quarters or
  years: a quarterly control is due 3 months after the last one (the order of
  23 October 2020, art. 12, asks for checks *at most* 3 months apart; calendar
  quarters would allow almost 6 months between two controls). Adding months
  keeps the day of the month, or the month's last day when it has no such day
  (30 November + 3 months = 28 or 29 February; 29 February + 12 months =
  28 February): never later than the period allows.
- **Triggers**: a control is due on (or ``offset_months`` after) the room's
  receipt, first use or change of use date, until a control is recorded on or
  after that date (for "before first use": on or after the receipt date).
- **A not-OK result** makes a new control due ``recheck_days`` after it
  (``[controls] recheck_after_not_ok_days``) when that comes before the period.
- **Never recorded**: without any record and no trigger date, a periodic
  control is due ``grace_days`` after the hub started tracking the room: time
  for the PCR to enter the last controls done (``first_record_grace_days``).

The next due date is the earliest of these; it is *overdue* from the day
after; reminders come ``remind_days`` (30 and 7 by default) before.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from hub.controls.types import ControlType, RoomSettings

Result = Literal["ok", "not_ok"]
RESULTS: Final[tuple[Result, ...]] = ("ok", "not_ok")
Reason = Literal["periodic", "receipt", "first_use", "change_of_use", "recheck",
                 "first_record"]
Status = Literal["overdue", "soon", "upcoming", "ok", "unscheduled"]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Done:
    """One control recorded: the day it was done and its result."""

    done_on: date
    result: Result = "ok"


@dataclass(frozen=True, slots=True)
class Due:
    due: date | None
    reason: Reason | None
    last_done: date | None
    last_result: Result | None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def next_due(ctype: ControlType, room: RoomSettings, records: Sequence[Done],
             tracked_since: date, grace_days: int = 30, recheck_days: int = 30) -> Due:
    """The next due date of ``ctype`` in ``room`` and why (see the module's rules)."""
    last = max(records, key=lambda r: r.done_on) if records else None
    dues: list[tuple[date, Reason]] = []
    received = _day(room.received_on)
    dated = {"receipt": received, "first_use": _day(room.first_use_on),
             "change_of_use": _day(room.use_changed_on)}
    for trigger in ctype.triggers:
        occasion = dated[trigger.event]
        if occasion is None:
            continue
        since: date | None = occasion
        if trigger.event == "first_use" and trigger.offset_months == 0:
            since = received if received is not None and received <= occasion else None
        if not any(since is None or r.done_on >= since for r in records):
            dues.append((add_months(occasion, trigger.offset_months), trigger.event))
    period = ctype.period_for(room.device_kind)
    if last is not None:
        if period is not None:
            dues.append((add_months(last.done_on, period), "periodic"))
        if last.result == "not_ok" and recheck_days > 0:
            dues.append((last.done_on + timedelta(days=recheck_days), "recheck"))
    elif period is not None and not dues:
        dues.append((tracked_since + timedelta(days=grace_days), "first_record"))
    if not dues:
        return Due(None, None, None, None)
    due, reason = min(dues)
    return Due(due, reason, last.done_on if last else None, last.result if last else None)


def status(due: date | None, today: date, remind_days: Sequence[int] = (30, 7)
           ) -> tuple[Status, int | None]:
    """``overdue`` (from the day after the due date), ``soon`` (within the smallest
    reminder), ``upcoming`` (within a larger one), ``ok`` or ``unscheduled``; with the
    reminder reached (7, 30) or None."""
    if due is None:
        return "unscheduled", None
    days = (due - today).days
    if days < 0:
        return "overdue", None
    reached = [d for d in sorted(remind_days) if days <= d]
    if not reached:
        return "ok", None
    return ("soon" if reached[0] == min(remind_days) else "upcoming"), reached[0]
