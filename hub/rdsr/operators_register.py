"""The register of operators (issue 17, item 6): who may be named by an RDSR, with the
dates of their last radiation protection trainings, and how the RDSRs name them.

Each entry has a name, a profession (:mod:`hub.rdsr.operators_settings`), the day of the
last workers' and patients' trainings (none: not known, so lapsed), the name forms the
RDSRs write (``MARTIN^Paul``; the entry's own name is one) and other identifiers (the
RDSR's Person Identification). A name form's key (:mod:`hub.rdsr.operators_names`) and an
identifier belong to one person only: a second is refused naming the field. Every change
is audited in its transaction (``operator.create``, ``operator.update``,
``operator.delete``); the register is changed only while the feature is on.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final

from fastapi import Request

from hub.db.connection import write
from hub.messages import N_
from hub.rdsr.operators_names import id_key, name_key
from hub.rdsr.operators_settings import (
    OperatorError,
    clean_text,
    enabled,
    now_stamp,
    parse_id,
)
from hub.web import audit
from hub.web.auth import User

#: Lines a form's list of name forms or identifiers may hold.
MAX_LINES: Final = 20
#: The earliest training day accepted (a typing error before it).
EARLIEST: Final = date(1950, 1, 1)


@dataclass(frozen=True, slots=True)
class Entry:
    """One person of the register, as the page shows it."""

    id: int
    name: str
    profession_id: int
    profession: str
    patients_months: int
    workers_on: date | None
    patients_on: date | None
    updated_at: str
    updated_by: str
    name_forms: tuple[str, ...] = ()
    other_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Form:
    """A form's fields, checked."""

    name: str
    profession_id: int
    workers_on: date | None
    patients_on: date | None
    name_forms: tuple[str, ...] = field(default=())
    other_ids: tuple[str, ...] = field(default=())


def _day(value: object) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def listing(conn: sqlite3.Connection, only: int | None = None) -> list[Entry]:
    """Every person (or person ``only``), by name, with the name forms the RDSRs write
    (the own name aside) and the other identifiers."""
    written: dict[tuple[int, str], list[str]] = {}
    for operator_id, kind, text in conn.execute(
            "SELECT operator_id, kind, written FROM operator_identifiers"
            " WHERE ? IS NULL OR operator_id = ? ORDER BY written", [only, only]):
        written.setdefault((int(operator_id), str(kind)), []).append(str(text))
    return [Entry(int(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]), _day(r[5]),
                  _day(r[6]), str(r[7]), str(r[8]),
                  tuple(w for w in written.get((int(r[0]), "name"), ()) if w != r[1]),
                  tuple(written.get((int(r[0]), "id"), ()))) for r in conn.execute(
        "SELECT o.id, o.name, o.profession_id, p.name, p.patients_training_months,"
        " o.workers_training_on, o.patients_training_on, o.updated_at, o.updated_by"
        " FROM operator_register o JOIN operator_professions p ON p.id = o.profession_id"
        " WHERE ? IS NULL OR o.id = ? ORDER BY o.name COLLATE NOCASE, o.id", [only, only])]


class Lookup:
    """The whole register read once (three queries), to match many names in memory: the
    flags and the room page match every named emission of a run or a page."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.entries = {entry.id: entry for entry in listing(conn)}
        self._keys = {(str(kind), str(key)): int(operator_id) for kind, key, operator_id
                      in conn.execute("SELECT kind, key, operator_id FROM operator_identifiers")}

    def find(self, name: str, person_id: str | None) -> Entry | None:
        """The person an RDSR names: by its identifier first, else by the name's key."""
        found = self._keys.get(("id", id_key(person_id))) if person_id else None
        if found is None and name_key(name):
            found = self._keys.get(("name", name_key(name)))
        return None if found is None else self.entries.get(found)


def find(conn: sqlite3.Connection, name: str, person_id: str | None) -> Entry | None:
    """The person an RDSR names (one name: :class:`Lookup` for many)."""
    return Lookup(conn).find(name, person_id)


def _date(field_name: str, raw: str, today: date) -> date | None:
    text = raw.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise OperatorError(field_name, N_("Expected a day such as 2026-01-31."))
    if not EARLIEST <= day <= today:
        raise OperatorError(field_name, N_("Expected a day from {first} to today."),
                            first=EARLIEST.isoformat())
    return day


def _lines(field_name: str, raw: str, names: bool) -> tuple[str, ...]:
    lines = [line for line in raw.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise OperatorError(field_name, N_("At most {n} lines."), n=MAX_LINES)
    out = [clean_text(field_name, line) for line in lines]
    for line in out:
        if not (name_key(line) if names else id_key(line)):
            raise OperatorError(field_name, N_("{value} names nobody: it has no letter and "
                                               "no digit."), value=line[:80])
    return tuple(dict.fromkeys(out))


def parse_form(conn: sqlite3.Connection, name: str, profession: str, workers_on: str,
               patients_on: str, name_forms: str, other_ids: str,
               today: date | None = None) -> Form:
    """The fields checked, or :class:`OperatorError` naming the first one wrong."""
    day = today or datetime.now(UTC).date()
    clean = clean_text("name", name)
    if not name_key(clean):
        raise OperatorError("name", N_("{value} names nobody: it has no letter and no "
                                       "digit."), value=clean[:80])
    profession_id = parse_id("profession", profession)
    if conn.execute("SELECT 1 FROM operator_professions WHERE id = ?",
                    [profession_id]).fetchone() is None:
        raise OperatorError("profession", N_("No profession number {value}."),
                            value=profession_id)
    return Form(clean, profession_id, _date("workers_on", workers_on, day),
                _date("patients_on", patients_on, day),
                _lines("name_forms", name_forms, True), _lines("other_ids", other_ids, False))


def _identifiers(conn: sqlite3.Connection, operator_id: int, form: Form) -> None:
    """Replace the person's identifiers, refusing one another person has."""
    conn.execute("DELETE FROM operator_identifiers WHERE operator_id = ?", [operator_id])
    # The forms as typed first: the own name is the key's row only when no form has it.
    wanted = [("name", name_key(t), t, "name_forms") for t in form.name_forms]
    wanted += [("name", name_key(form.name), form.name, "name")]
    wanted += [("id", id_key(t), t, "other_ids") for t in form.other_ids]
    for kind, key, text, field_name in wanted:
        other = conn.execute("SELECT o.name FROM operator_identifiers i JOIN operator_register"
                             " o ON o.id = i.operator_id WHERE i.kind = ? AND i.key = ?"
                             " AND i.operator_id != ?", [kind, key, operator_id]).fetchone()
        if other is not None:
            raise OperatorError(field_name, N_("{value} already names {other} in the "
                                               "register."), value=text[:80],
                                other=str(other[0]))
        conn.execute("INSERT OR IGNORE INTO operator_identifiers (kind, key, written,"
                     " operator_id) VALUES (?, ?, ?, ?)", [kind, key, text, operator_id])


def _require_on(conn: sqlite3.Connection) -> None:
    if not enabled(conn):
        raise OperatorError("operator", N_("The operators feature is off: an admin turns "
                                           "it on first."))


def _detail(conn: sqlite3.Connection, form: Form) -> dict[str, object]:
    profession = conn.execute("SELECT name FROM operator_professions WHERE id = ?",
                              [form.profession_id]).fetchone()
    return {"name": form.name, "profession": profession and str(profession[0]),
            "workers_training_on": form.workers_on, "patients_training_on": form.patients_on,
            "name_forms": list(form.name_forms), "other_ids": list(form.other_ids)}


def save(conn: sqlite3.Connection, raw_id: str, form: Form, actor: User,
         request: Request | None = None) -> int:
    """Add a person (``raw_id`` empty) or change one; the person's number."""
    at = now_stamp()
    values = [form.name, form.profession_id, form.workers_on and form.workers_on.isoformat(),
              form.patients_on and form.patients_on.isoformat(), at, actor.username]
    with write(conn):
        _require_on(conn)
        if not raw_id.strip():
            operator_id = int(conn.execute(
                "INSERT INTO operator_register (name, profession_id, workers_training_on,"
                " patients_training_on, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)",
                values).lastrowid or 0)
            action = "operator.create"
        else:
            operator_id = parse_id("operator", raw_id)
            if conn.execute("UPDATE operator_register SET name = ?, profession_id = ?,"
                            " workers_training_on = ?, patients_training_on = ?,"
                            " updated_at = ?, updated_by = ? WHERE id = ?",
                            [*values, operator_id]).rowcount == 0:
                raise OperatorError("operator", N_("No operator number {value}."),
                                    value=operator_id)
            action = "operator.update"
        _identifiers(conn, operator_id, form)
        audit.record(conn, actor, action, f"operator:{operator_id}", _detail(conn, form),
                     request)
    return operator_id


def delete(conn: sqlite3.Connection, raw_id: str, actor: User,
           request: Request | None = None) -> None:
    operator_id = parse_id("operator", raw_id)
    with write(conn):
        _require_on(conn)
        row = conn.execute("SELECT name FROM operator_register WHERE id = ?",
                           [operator_id]).fetchone()
        if row is None:
            raise OperatorError("operator", N_("No operator number {value}."),
                                value=operator_id)
        conn.execute("DELETE FROM operator_identifiers WHERE operator_id = ?", [operator_id])
        conn.execute("DELETE FROM operator_register WHERE id = ?", [operator_id])
        audit.record(conn, actor, "operator.delete", f"operator:{operator_id}",
                     {"name": str(row[0])}, request)
