"""Due dates and reminders: pure functions of a verification type, a room and its records.

Dates are calendar days in Europe/Paris (:func:`hub.workdays.today`).

- **Periods run from the last verification done**, not from calendar quarters or
  years: a quarterly verification is due 3 months after the last one (the order of
  23 October 2020, art. 12, asks for checks *at most* 3 months apart; calendar
  quarters would allow almost 6 months between two verifications). Adding months
  keeps the day of the month, or the month's last day when it has no such day
  (30 November + 3 months = 28 or 29 February; 29 February + 12 months =
  28 February): never later than the period allows.
- **Triggers**: a verification is due on (or ``offset_months`` after) the room's
  receipt, commissioning (first use) or change of use date, and each modification
  or maintenance recorded, until one is recorded on or after that date (for "at
  commissioning": on or after the receipt date). ``also_due`` are such occasions
  given by the caller (a signed report that could not close the verification).
- **A not-OK result** makes a new verification due ``recheck_days`` after it
  (``[controls] recheck_after_not_ok_days``) when that comes before the period.
- **Never recorded**: without any record and no trigger date, a periodic
  verification is due ``grace_days`` after the hub started tracking the room: time
  for the PCR to enter the last verifications done (``first_record_grace_days``).
- **A type an upgrade brought** (``upgraded_on``: the verifications of 2020, in a room
  tracked before migration step 3): the grace runs from the upgrade's day, and what
  an occasion before it made due is due no earlier than the grace's end (the PCR
  enters the verifications already done; the old calendar had no such type).

The next due date is the earliest of these; it is *overdue* from the day
after; reminders come ``remind_days`` (30 and 7 by default) before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from hub.controls.types import OCCASION_KINDS, ControlType, RoomSettings
from hub.workdays import add_days as add_days
from hub.workdays import add_months as add_months
from hub.workdays import parse_day as parse_day

Result = Literal["ok", "not_ok"]
RESULTS: Final[tuple[Result, ...]] = ("ok", "not_ok")
Reason = Literal["periodic", "receipt", "first_use", "change_of_use", "modification",
                 "maintenance", "report", "recheck", "first_record"]
Status = Literal["overdue", "soon", "upcoming", "ok", "unscheduled"]


@dataclass(frozen=True, slots=True)
class Done:
    """One verification recorded (or a signed report closing it): its day and result."""

    done_on: date
    result: Result = "ok"


@dataclass(frozen=True, slots=True)
class Due:
    due: date | None
    reason: Reason | None
    last_done: date | None
    last_result: Result | None


def next_due(ctype: ControlType, room: RoomSettings, records: Sequence[Done],
             tracked_since: date, grace_days: int = 30, recheck_days: int = 30,
             also_due: Sequence[tuple[date, Reason]] = (),
             upgraded_on: date | None = None) -> Due:
    """The next due date of ``ctype`` in ``room`` and why (see the module's rules)."""
    if upgraded_on is not None:
        tracked_since = max(tracked_since, upgraded_on)

    def graced(due: date, occasion: date) -> date:
        if upgraded_on is None or occasion >= upgraded_on:
            return due
        return max(due, add_days(upgraded_on, grace_days))

    last = max(records, key=lambda r: r.done_on) if records else None
    dues: list[tuple[date, Reason]] = []
    received = parse_day(room.received_on)
    dated: dict[str, list[date]] = {e: [] for e in ("receipt", "first_use", "change_of_use",
                                                    *OCCASION_KINDS)}
    for event, text in (("receipt", room.received_on), ("first_use", room.first_use_on),
                        ("change_of_use", room.use_changed_on), *room.occasions):
        day = parse_day(text)
        if day is not None and event in dated:
            dated[event].append(day)
    for trigger in ctype.triggers:
        for occasion in dated[trigger.event]:
            since: date | None = occasion
            if trigger.event == "first_use" and trigger.offset_months == 0:
                since = received if received is not None and received <= occasion else None
            if not any(since is None or r.done_on >= since for r in records):
                dues.append((graced(add_months(occasion, trigger.offset_months), occasion),
                             trigger.event))
    for occasion, reason in also_due:
        if not any(r.done_on >= occasion for r in records):
            dues.append((graced(occasion, occasion), reason))
    period = ctype.period_for(room.device_kind)
    if last is not None:
        if period is not None:
            dues.append((add_months(last.done_on, period), "periodic"))
        if last.result == "not_ok" and recheck_days > 0:
            dues.append((add_days(last.done_on, recheck_days), "recheck"))
    elif period is not None and not dues:
        dues.append((add_days(tracked_since, grace_days), "first_record"))
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
