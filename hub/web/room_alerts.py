"""What a room's events not closed mean for its card, and the header's count.

A room's card must not go back to green while a critical radiation event of it
waits for someone: an alarm's live condition may last a second (the live state
then says nothing is emitting), its event stays until a person acknowledges it,
then closes it. So the card's level is read from the ``events`` table: its stored
``severity`` and ``state``, and whether its kind is about radiation or the system
(:data:`wire.kinds.KINDS`): a system fault (a data gap, a device offline) is never
shown as a radiation event.
"""

from __future__ import annotations

import sqlite3
from typing import Final, Literal

from pydantic import BaseModel, Field

from wire import kinds

#: What an event not closed means for its room's card, most urgent first: ``alarm``, a
#: critical radiation event nobody has acknowledged; ``acknowledged``, one acknowledged
#: but not closed; ``fault``, a system fault not acknowledged (never shown as radiation);
#: ``radiation``, a radiation event below critical, not acknowledged.
Level = Literal["alarm", "acknowledged", "fault", "radiation"]
LEVELS: Final[tuple[Level, ...]] = ("alarm", "acknowledged", "fault", "radiation")


class RoomEvent(BaseModel):
    """An event not closed that its room's card shows (see :data:`Level`)."""

    id: int
    kind: str
    severity: str
    about: str = Field(description="radiation or system (wire/kinds.py)")
    state: str = Field(description="open or acknowledged")
    level: Level
    opened_at: str
    subject: str | None = None


def level(kind: str, severity: str, state: str) -> Level | None:
    """What an event not closed means for its room's card (none: only counted).

    The severity is the stored one; whether it is about radiation is the vocabulary's
    (an unknown kind, from an agent newer than the hub, is taken as radiation: it may be)."""
    known = kinds.KINDS.get(kind)
    if known is not None and known.about == "system":
        return "fault" if state == "open" and severity != "info" else None
    if severity == "critical":
        return "alarm" if state == "open" else "acknowledged"
    return "radiation" if state == "open" else None


_SQL: Final = """
SELECT id, device, kind, severity, state, opened_at,
       CASE WHEN json_valid(detail) THEN json_extract(detail, '$.subject') END AS subject
FROM events WHERE state IN ('open', 'acknowledged')
"""


def alerts_by_device(conn: sqlite3.Connection,
                     device: str | None = None) -> dict[str, list[RoomEvent]]:
    """Each device's events that its card shows, most urgent first, newest first."""
    sql, params = _SQL, []
    if device is not None:
        sql, params = sql + " AND device = ?", [device]
    found: dict[str, list[RoomEvent]] = {}
    for r in conn.execute(sql + " ORDER BY id DESC", params):
        kind, severity, state = str(r["kind"]), str(r["severity"]), str(r["state"])
        lvl = level(kind, severity, state)
        if lvl is None:
            continue
        known = kinds.KINDS.get(kind)
        subject = r["subject"]
        found.setdefault(str(r["device"]), []).append(RoomEvent(
            id=r["id"], kind=kind, severity=severity, state=state, level=lvl,
            about=known.about if known is not None else "radiation",
            opened_at=str(r["opened_at"]), subject=None if subject is None else str(subject)))
    for events in found.values():
        events.sort(key=lambda e: LEVELS.index(e.level))  # stable: newest first in a level
    return found


def open_critical(conn: sqlite3.Connection) -> tuple[int, int]:
    """How many critical events nobody has acknowledged, and the newest one's id (0: none):
    every page's header, and the page's cue that a new one came (``idx_events_state``)."""
    row = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM events"
                       " WHERE state = 'open' AND severity = 'critical'").fetchone()
    return int(row[0]), int(row[1])
