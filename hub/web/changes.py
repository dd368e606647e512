"""A room's input changes, read from the journaled change records (``changes``).

What the room page lists (the latest, newest first, a pulse train's records on one
line: :mod:`hub.events.trains`) and ``changes.csv`` exports (every record in the
dates, oldest first). Each record is: a single change
(``count`` 1, ``first`` = ``last``), a run of changes of one input (``count``
edges from ``first`` to ``last``, ``value`` after the last), or what the agent
found at its start (``origin`` start). An older agent's live states are not
here: they were never journaled.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, tzinfo
from typing import Any, Final

from pydantic import BaseModel, Field

from hub.events.trains import merge_trains
from hub.messages import N_
from hub.web.rooms import day_bounds

#: The inputs' names in words (``door.<name>`` is said "Door <name>" by the templates).
SIGNAL_LABELS: Final = {
    "generator_powered": N_("Generator powered"), "request": N_("Exposure request"),
    "emission": N_("Emission"), "light.powered": N_("Powered light"),
    "light.emission": N_("Emission light"), "interlock_open": N_("Voyant's relay open"),
    "probe.connected": N_("Probe connected"), "patient": N_("Patient present"),
    "reset": N_("Reset"),
}
#: Changes the room page lists at most (the CSV has them all).
SHOWN: Final = 50
CSV_COLUMNS: Final = ("device", "site", "room", "journal", "seq", "run", "signal", "value",
                      "first", "last", "count", "origin", "by", "clock_synced",
                      "clock_implausible", "stored_at")


class Change(BaseModel):
    journal: str
    seq: int | str = Field(description="an integer; as stored if the store holds another value")
    signal: str
    value: bool | None
    first: str
    last: str
    count: int = Field(description="changes the record holds (a run), 0 for a start value")
    origin: str = Field(description="edge, or start: found at the agent's start")
    by: str | None
    clock_synced: bool | None
    clock_implausible: bool
    records: int = Field(1, description="records merged into this line: a pulse train's,"
                         " sequence numbers seq to last_seq (hub.events.trains)")
    last_seq: int | str | None = None


class ChangeList(BaseModel):
    device: str
    total: int
    shown: int = Field(description="records the items hold (a train's records are one item)")
    items: list[Change] = Field(description="the latest, newest first")


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _where(device: str, date_from: date | None, date_to: date | None,
           zone: tzinfo) -> tuple[str, list[Any]]:
    sql, params = "device = ?", [device]
    start, end = day_bounds(date_from, date_to, zone)
    if start is not None:
        sql += " AND first >= ?"
        params.append(start)
    if end is not None:
        sql += " AND first < ?"
        params.append(end)
    return sql, params


def latest(conn: sqlite3.Connection, device: str, limit: int = SHOWN) -> ChangeList:
    """The latest change records of ``device`` (by their first edge), and how many it has."""
    total = int(conn.execute("SELECT count(*) FROM changes WHERE device = ?",
                             [device]).fetchone()[0])
    rows = conn.execute(
        "SELECT journal, seq, signal, value, first, last, count, origin, by, clock_synced,"
        " clock_implausible FROM changes WHERE device = ? ORDER BY first DESC, seq DESC"
        " LIMIT ?", [device, limit]).fetchall()
    records = [{"journal": str(r[0]), "seq": r[1] if isinstance(r[1], int) else str(r[1]),
                "signal": str(r[2]), "value": _flag(r[3]), "first": str(r[4]),
                "last": str(r[5]), "count": r[6] if isinstance(r[6], int) else 0,
                "origin": str(r[7]), "by": None if r[8] is None else str(r[8]),
                "clock_synced": _flag(r[9]), "clock_implausible": bool(r[10])}
               for r in reversed(rows)]  # oldest first, to merge the trains
    items = [Change.model_validate(item) for item in reversed(merge_trains(records))]
    return ChangeList(device=device, total=total, shown=len(rows), items=items)


def csv_rows(conn: sqlite3.Connection, device: str, date_from: date | None,
             date_to: date | None, zone: tzinfo = UTC) -> list[tuple[Any, ...]]:
    """Every change record of the days of ``zone`` (by first edge), oldest first, CSV order."""
    where, params = _where(device, date_from, date_to, zone)
    columns = ", ".join(f'"{c}"' for c in CSV_COLUMNS)
    return [tuple(r) for r in conn.execute(
        f"SELECT {columns} FROM changes WHERE {where} ORDER BY first, journal, seq", params)]
