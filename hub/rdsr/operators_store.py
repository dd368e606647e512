"""The names an RDSR gives per irradiation event (TID 1020: the person who administered
the irradiation, the one who authorised it...), kept only while the feature is on.

:func:`keep` is called by :func:`hub.rdsr.store.store_bytes` in the transaction that
stores the file: with the feature off (every new store: :mod:`hub.rdsr.operators_settings`)
it stores nothing at all, the names of employees being personal data that only the
admin's decision, the staff committee consulted, lets the hub keep. An event stored again
by a later report of its study keeps the names it has.

:func:`for_exposures` gives the names of a page of a room's emissions through the
reconciliation's matches (``rdsr_matches``, :mod:`hub.rdsr.reconcile_store`): an
emission's operators are those of the irradiation events matched to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hub.rdsr.model import IrradiationEvent
from hub.rdsr.operators_names import MAX_NAME, id_key, name_key
from hub.rdsr.operators_register import Lookup
from hub.rdsr.operators_settings import enabled
from hub.rdsr.store import event_key

#: (journal, run, number): an emission of one box.
ExposureKey = tuple[str, int, int]


def keep(conn: sqlite3.Connection, study: str, events: Sequence[IrradiationEvent]) -> int:
    """Store each event's named people if the feature is on (the caller's transaction,
    the event rows already written); how many were stored."""
    if not enabled(conn):
        return 0
    rows = []
    for n, event in enumerate(events):
        key, _derived = event_key(study, n, event)
        for rank, person in enumerate(event.operators):
            written = person.name[:MAX_NAME]
            if name_key(written) or (person.person_id and id_key(person.person_id)):
                rows.append((key, rank, written, name_key(written), person.role,
                             person.person_id and person.person_id[:MAX_NAME]))
    if not rows:
        return 0
    return conn.executemany(
        "INSERT INTO rdsr_event_operators (irradiation_event_uid, n, name, name_key, role,"
        " person_id) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (irradiation_event_uid, n) DO NOTHING", rows).rowcount


@dataclass(frozen=True, slots=True)
class Named:
    """A person named by an emission's matched events, as the room's page shows it: the
    register's name when the register knows the person."""

    name: str
    known: bool


def named(conn: sqlite3.Connection, device: str, keys: Iterable[ExposureKey]
          ) -> dict[ExposureKey, list[tuple[str, str, str | None]]]:
    """(name, name key, person id) of each person named by each emission's matched
    events, in the events' order, each once."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    marks = ", ".join("(?, ?, ?)" for _ in wanted)
    out: dict[ExposureKey, list[tuple[str, str, str | None]]] = {}
    for journal, run, number, name, key, person_id in conn.execute(
            "SELECT m.journal, m.run, m.number, o.name, o.name_key, o.person_id"
            " FROM rdsr_matches m JOIN rdsr_event_operators o"
            " ON o.irradiation_event_uid = m.irradiation_event_uid"
            " LEFT JOIN rdsr_irradiation_events e"
            " ON e.irradiation_event_uid = m.irradiation_event_uid"
            f" WHERE m.device = ? AND (m.journal, m.run, m.number) IN (VALUES {marks})"
            " ORDER BY e.start_utc, m.irradiation_event_uid, o.n",
            [device, *(part for k in wanted for part in k)]):
        people = out.setdefault((str(journal), int(run), int(number)), [])
        if all((k, p) != (key, person_id) for _n, k, p in people):
            people.append((str(name), str(key), person_id))
    return out


def for_exposures(conn: sqlite3.Connection, device: str, keys: Iterable[ExposureKey]
                  ) -> dict[ExposureKey, list[Named]] | None:
    """Each emission's operators, the register's name for a known one; none when the
    feature is off (the page then shows no column at all)."""
    if not enabled(conn):
        return None
    out: dict[ExposureKey, list[Named]] = {}
    found = named(conn, device, keys)
    register = Lookup(conn) if found else None
    for exposure, people in found.items():
        shown: list[Named] = []
        for name, _key, person_id in people:
            entry = register.find(name, person_id) if register else None
            person = Named(entry.name, True) if entry is not None else Named(name, False)
            if person not in shown:
                shown.append(person)
        out[exposure] = shown
    return out
