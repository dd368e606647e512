"""The verification calendar as iCalendar (RFC 5545), for an ordinary calendar application.

One all-day ``VEVENT`` per room and verification (and point) with a due date, with a
``VALARM`` for each reminder (30 and 7 days before, by default), and one per ESR
follow-up report to hand in (:func:`hub.events.followup.due_followups`). The ``UID``
names the room, the verification and the due date: when one is recorded and
its due date moves, the old event leaves the feed and a new one comes (a
subscribed calendar replaces the whole feed on each refresh). Text is
escaped (``\\``, ``;``, ``,``, new lines), lines are folded at 75 octets
without splitting a UTF-8 character, and every line ends with CRLF. No
library: the subset written here is small and the tests check it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

LINE_OCTETS: Final = 75
PRODID: Final = "-//Voyant//Verification calendar//EN"


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545, 3.3.11)."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Fold a content line into lines of at most 75 octets (RFC 5545, 3.1), CRLF-ended."""
    out: list[str] = []
    current, size, limit = "", 0, LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, LINE_OCTETS
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out) + "\r\n"


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def _span(due: date) -> list[str]:
    """DTSTART and DTEND of an all-day event; on :data:`date.max` (a stored day at the end
    of time) DTEND is left out, which RFC 5545 (3.6.1) reads as that one day."""
    lines = [f"DTSTART;VALUE=DATE:{_day(due)}"]
    if due < date.max:
        lines.append(f"DTEND;VALUE=DATE:{_day(due + timedelta(days=1))}")
    return lines


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def uid(item: Mapping[str, Any], domain: str) -> str:
    digest = hashlib.sha256(f"{item['site']}\0{item['room']}".encode()).hexdigest()[:16]
    return f"control-{item.get('slot', item['control'])}-{digest}-{item['due']}@{domain}"


def _alarms(summary: str, remind_days: Sequence[int]) -> list[str]:
    lines = []
    for days in sorted(set(remind_days), reverse=True):
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"TRIGGER:-P{days}D",
                  f"DESCRIPTION:{escape(summary)}", "END:VALARM"]
    return lines


def _followups(followups: Iterable[Mapping[str, Any]], stamp: str, remind_days: Sequence[int],
               tr: Callable[[str], str], domain: str) -> list[str]:
    lines = []
    for item in followups:
        try:
            due = date.fromisoformat(str(item["due_on"]))
        except ValueError:
            continue
        summary = (f"{tr('ESR follow-up report to hand in')} · {item['site']} /"
                   f" {item['room']}")
        description = f"{tr('Declaration')}: {item['declaration_ref'] or '—'}"
        lines += ["BEGIN:VEVENT", f"UID:esr-followup-{item['event_id']}@{domain}",
                  f"DTSTAMP:{stamp}", *_span(due),
                  f"SUMMARY:{escape(summary)}", f"DESCRIPTION:{escape(description)}",
                  "TRANSP:TRANSPARENT", "CATEGORIES:Voyant",
                  *_alarms(summary, remind_days), "END:VEVENT"]
    return lines


def feed(items: Iterable[Mapping[str, Any]], now: datetime, remind_days: Sequence[int],
         tr: Callable[[str], str], domain: str = "voyant", name: str = "Voyant",
         followups: Iterable[Mapping[str, Any]] = ()) -> str:
    """The whole calendar: ``items`` are :func:`hub.controls.due.due_items` rows,
    ``followups`` :func:`hub.events.followup.due_followups` rows."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}",
             "REFRESH-INTERVAL;VALUE=DURATION:PT1H"]
    stamp = _stamp(now)
    for item in items:
        if not item.get("due"):
            continue
        try:
            due = date.fromisoformat(str(item["due"]))
        except ValueError:
            continue
        summary = f"{tr(str(item['name']))} · {item['site']} / {item['room']}"
        if item.get("status") == "overdue":
            summary = f"{tr('Overdue')}: {summary}"
        if item.get("point_name"):
            summary += f" · {item['point_name']}"
        description = [f"{tr('Verification')}: {tr(str(item['name']))} ({item['control']})",
                       f"{tr('Room')}: {item['site']} / {item['room']}"]
        if item.get("last_done"):
            description.append(f"{tr('Last done')}: {item['last_done']}")
        lines += ["BEGIN:VEVENT", f"UID:{uid(item, domain)}", f"DTSTAMP:{stamp}",
                  *_span(due), f"SUMMARY:{escape(summary)}",
                  f"DESCRIPTION:{escape(chr(10).join(description))}",
                  "TRANSP:TRANSPARENT", "CATEGORIES:Voyant", *_alarms(summary, remind_days),
                  "END:VEVENT"]
    lines += _followups(followups, stamp, remind_days, tr, domain)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines)
