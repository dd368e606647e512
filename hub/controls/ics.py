"""The control calendar as iCalendar (RFC 5545), for an ordinary calendar application.

One all-day ``VEVENT`` per room and control with a due date, with a
``VALARM`` for each reminder (30 and 7 days before, by default). The ``UID``
names the room, the control and the due date: when a control is recorded and
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
PRODID: Final = "-//Voyant//Control calendar//EN"


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


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def uid(item: Mapping[str, Any], domain: str) -> str:
    digest = hashlib.sha256(f"{item['site']}\0{item['room']}".encode()).hexdigest()[:16]
    return f"control-{item['control']}-{digest}-{item['due']}@{domain}"


def feed(items: Iterable[Mapping[str, Any]], now: datetime, remind_days: Sequence[int],
         tr: Callable[[str], str], domain: str = "voyant", name: str = "Voyant") -> str:
    """The whole calendar: ``items`` are :func:`hub.controls.records.due_items` rows."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}",
             "REFRESH-INTERVAL;VALUE=DURATION:PT1H"]
    stamp = _stamp(now)
    for item in items:
        if not item.get("due"):
            continue
        due = date.fromisoformat(str(item["due"]))
        summary = f"{tr(str(item['name']))} · {item['site']} / {item['room']}"
        if item.get("status") == "overdue":
            summary = f"{tr('Overdue')}: {summary}"
        description = [f"{tr('Control')}: {tr(str(item['name']))} ({item['control']})",
                       f"{tr('Room')}: {item['site']} / {item['room']}"]
        if item.get("last_done"):
            description.append(f"{tr('Last done')}: {item['last_done']}")
        lines += ["BEGIN:VEVENT", f"UID:{uid(item, domain)}", f"DTSTAMP:{stamp}",
                  f"DTSTART;VALUE=DATE:{_day(due)}",
                  f"DTEND;VALUE=DATE:{_day(due + timedelta(days=1))}",
                  f"SUMMARY:{escape(summary)}",
                  f"DESCRIPTION:{escape(chr(10).join(description))}",
                  "TRANSP:TRANSPARENT", "CATEGORIES:Voyant"]
        for days in sorted(set(remind_days), reverse=True):
            lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"TRIGGER:-P{days}D",
                      f"DESCRIPTION:{escape(summary)}", "END:VALARM"]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines)
