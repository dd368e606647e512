"""Flags on the emissions by an operator the register does not know, or whose training
had lapsed on the emission's day (issue 17, item 6), for the PCR to follow up.

The reconciliation job calls :func:`flag` after matching. For each emission matched to
irradiation events that name a person (``rdsr_event_operators``, filled only while the
feature is on):

- a person the register knows (:func:`hub.rdsr.operators_register.find`) whose workers'
  training (valid ``workers_training_months``, 36 by default) or patients' training
  (valid as long as the profession says) had lapsed on the emission's Paris day, or was
  never recorded: ``operator_training_lapsed``;
- a name (or identifier) the register does not know: ``operator_unknown``. An event that
  names nobody raises nothing: most RDSRs name nobody.

Both are warnings, one per (emission, person) for ever: a later run, or the PCR closing
it, never makes a second. With the feature off nothing is raised. The event's detail
never holds a name nor a training date (the inbox and the API are open to every role and
outlive the names): the register's number of a known person, the irradiation event's UID
and the name's rank for an unknown one; its ``ref`` holds a keyed hash of the name
(:func:`hub.rdsr.operators_settings.ref_key`), not a plain one.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import sqlite3
from datetime import date, datetime
from typing import Any

from hub.db.connection import write
from hub.db.store import Store
from hub.rdsr.operators_names import id_key
from hub.rdsr.operators_register import Entry, Lookup
from hub.rdsr.operators_settings import enabled, ref_key, workers_months
from hub.timefmt import iso, parse
from hub.workdays import PARIS
from wire.kinds import severity

LAPSED = "operator_training_lapsed"
UNKNOWN = "operator_unknown"
#: Each kind's severity, from the vocabulary (both warnings).
SEVERITY = {LAPSED: severity("operator_training_lapsed"),
            UNKNOWN: severity("operator_unknown")}


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, the 29 February of a year without one
    being its 28th."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def valid_until(trained_on: date | None, months: int) -> date | None:
    """The last day a training done on ``trained_on`` is valid (none: never done)."""
    return None if trained_on is None else add_months(trained_on, months)


def lapsed(trained_on: date | None, months: int, on: date) -> bool:
    """Whether a training done on ``trained_on`` had lapsed on ``on`` (never done: yes)."""
    until = valid_until(trained_on, months)
    return until is None or on > until


def _training(entry: Entry, worker_months: int, on: date) -> dict[str, Any] | None:
    """Which training had lapsed on ``on`` (none: both were valid), and who, by the
    register's number only: the event page names the person to the PCR
    (:mod:`hub.rdsr.operators_events`)."""
    workers = lapsed(entry.workers_on, worker_months, on)
    patients = lapsed(entry.patients_on, entry.patients_months, on)
    if not (workers or patients):
        return None
    return {"operator_entry": entry.id, "workers_lapsed": workers,
            "patients_lapsed": patients}


def _named_emissions(conn: sqlite3.Connection, device: str | None, since: str | None
                     ) -> list[sqlite3.Row | tuple[Any, ...]]:
    """Each matched emission's named people, per irradiation event and rank. The WHERE
    holds only the bounds given (no ``? IS NULL OR``), so a box's run searches
    ``idx_exposures_device_start`` instead of scanning the hub's exposures."""
    where, args = ["x.start IS NOT NULL"], []
    if device is not None:
        where.append("x.device = ?")
        args.append(device)
    if since is not None:
        where.append("x.start >= ?")
        args.append(since)
    return conn.execute(
        "SELECT x.device, x.site, x.room, x.journal, x.run, x.number, x.start,"
        " o.name, o.name_key, o.person_id, m.irradiation_event_uid, o.n FROM rdsr_matches m"
        " JOIN exposures x ON x.device = m.device AND x.journal = m.journal"
        " AND x.run = m.run AND x.number = m.number"
        " JOIN rdsr_event_operators o ON o.irradiation_event_uid = m.irradiation_event_uid"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY x.device, x.start, x.journal, x.run, x.number,"
        " m.irradiation_event_uid, o.n",
        args).fetchall()


def _flag(conn: sqlite3.Connection, now: datetime, device: str | None,
          since: str | None) -> int:
    if not enabled(conn):
        return 0
    rows = _named_emissions(conn, device, since)
    if not rows:
        return 0
    store, opened, at = Store.over(conn), 0, iso(now.timestamp())
    worker_months, register, secret = workers_months(conn), Lookup(conn), ref_key(conn)
    for row in rows:
        box, site, room, journal, run, number, start, name, key, person_id, uid, rank = row
        entry = register.find(str(name), person_id)
        where = {"journal": journal, "run": run, "exposure": number, "at": start}
        if entry is not None:
            on = datetime.fromtimestamp(parse(str(start)), PARIS).date()
            detail = _training(entry, worker_months, on)
            if detail is None:
                continue
            kind, ref = LAPSED, f"operator:{journal}:{run}:{number}:{entry.id}"
        else:
            # The name is not in the detail (the inbox and the API are open to every
            # role): the event page finds it by the event's UID and the name's rank.
            who = str(key) or "id:" + id_key(str(person_id or ""))
            kind = UNKNOWN
            ref = (f"operator:{journal}:{run}:{number}:"
                   + hmac.new(secret, who.encode(), hashlib.sha256).hexdigest()[:16])
            detail = {"irradiation_event_uid": uid, "operator_rank": rank}
        if conn.execute("SELECT 1 FROM events WHERE kind = ? AND device = ? AND ref = ?",
                        [kind, box, ref]).fetchone():
            continue
        store.open_event(kind, str(box), str(site), str(room), ref, at, {**detail, **where},
                         SEVERITY[kind])
        opened += 1
    return opened


def flag(conn: sqlite3.Connection, now: datetime, *, device: str | None = None,
         since: str | None = None) -> int:
    """Raise the flags of the matched emissions (of box ``device``, starting at or after
    ``since``, a stored UTC time, when given); how many events were opened. In the
    caller's write transaction if one is open, else in one of its own."""
    if conn.in_transaction:
        return _flag(conn, now, device, since)
    with write(conn):
        return _flag(conn, now, device, since)
