"""The person an operator event stands for, found when the event's page is shown.

The events ``operator_training_lapsed`` and ``operator_unknown``
(:mod:`hub.rdsr.operators_flags`) keep no name in their detail: the inbox and the API are
open to every role, and an event outlives the names (turning the feature off and the
retention purge delete them). Their detail holds the register's number of a known person
(``operator_entry``), or the irradiation event's UID and the name's rank in
``rdsr_event_operators`` (``operator_rank``) for a name the register does not know.

:func:`resolve` puts the name back for a reader allowed to see it (the PCR and the admin)
while the feature is on and the name still stored; otherwise the detail says the name was
not kept, or not shown to the reader's role, and never how to find it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from hub.rdsr.operators_flags import valid_until
from hub.rdsr.operators_register import listing
from hub.rdsr.operators_settings import enabled, workers_months

#: The detail's keys that stand for a person (never shown as such).
ENTRY: Final = "operator_entry"
RANK: Final = "operator_rank"


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _known(conn: sqlite3.Connection, entry_id: Any) -> dict[str, Any] | None:
    """The register's person as it stands today (name, profession, last trainings and
    their validity: the PCR, who does not see the register, follows up from here), none
    if deleted. Whether a training had lapsed on the emission's day is the event's own."""
    if not isinstance(entry_id, int) or isinstance(entry_id, bool):
        return None
    found = listing(conn, entry_id)
    if not found:
        return None
    entry, months = found[0], workers_months(conn)
    return {"operator": entry.name, "profession": entry.profession,
            "workers_training_on": _day(entry.workers_on),
            "workers_valid_until": _day(valid_until(entry.workers_on, months)),
            "patients_training_on": _day(entry.patients_on),
            "patients_valid_until": _day(valid_until(entry.patients_on,
                                                     entry.patients_months))}


def _named(conn: sqlite3.Connection, uid: Any, rank: Any) -> dict[str, Any] | None:
    """The name (and identifier) an irradiation event gave, none once deleted."""
    if not isinstance(uid, str) or not isinstance(rank, int) or isinstance(rank, bool):
        return None
    row = conn.execute("SELECT name, person_id FROM rdsr_event_operators"
                       " WHERE irradiation_event_uid = ? AND n = ?", [uid, rank]).fetchone()
    return None if row is None else {"operator": str(row[0]), "person_id": row[1]}


def resolve(conn: sqlite3.Connection | None, detail: Any, allowed: bool, not_kept: str,
            not_shown: str) -> Any:
    """``detail`` as the page shows it: with the person (``operator`` first) when
    ``allowed`` and the feature is on and the name is stored; else ``operator`` says
    ``not_shown`` (a reader below the PCR) or ``not_kept``. Any other detail unchanged."""
    if not isinstance(detail, Mapping) or not (ENTRY in detail or RANK in detail):
        return detail
    rest = {k: v for k, v in detail.items() if k not in (ENTRY, RANK)}
    if not allowed:
        return {"operator": not_shown, **rest}
    person = None
    if conn is not None and enabled(conn):
        person = (_known(conn, detail[ENTRY]) if ENTRY in detail
                  else _named(conn, detail.get("irradiation_event_uid"), detail[RANK]))
    return {**(person or {"operator": not_kept}), **rest}
