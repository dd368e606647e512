"""The operators feature's switch and settings (issue 17, item 6), kept in the store.

Monitoring named employees needs the staff committee (the CSE, comité social et
économique) consulted first: the feature is off in every new store, and only an admin
turns it on, confirming that the CSE was consulted (audited ``operators.enable`` with that
confirmation). While it is off, no name from an RDSR is stored, none is shown and no flag
is raised; turning it off (``operators.disable``) deletes the names stored from the RDSRs
(the register itself is kept, out of sight, for when it is turned on again; the events
already raised keep their detail, the PCR's follow-up record).

The workers' training (formation à la radioprotection des travailleurs) is renewed at
least every three years (Code du travail, article R. 4451-50, as quoted by
``../shared/seeds/003_a99217adaba39f55.txt``, 4.3.9.4): 36 months unless the admin sets
another figure. The patients' training validity is per profession
(``operator_professions``).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from fastapi import Request

from hub.db.connection import write
from hub.messages import N_
from hub.rdsr.operators_names import MAX_NAME
from hub.web import audit
from hub.web.auth import User
from wire.errors import HubError

ENABLED: Final = "enabled"
WORKERS_MONTHS: Final = "workers_training_months"
REF_KEY: Final = "ref_key"
DEFAULT_WORKERS_MONTHS: Final = 36
#: A validity in months, as the forms accept it (50 years at most).
MONTHS_MAX: Final = 600
_MONTHS: Final = re.compile(r"[0-9]{1,3}")
_ID: Final = re.compile(r"[0-9]{1,18}")


class OperatorError(HubError, ValueError):
    """A form refused; ``field`` is the form field's name (:data:`FIELDS` says it in
    words), ``message`` an English msgid that ``params`` fill."""

    def __init__(self, field_name: str, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.field = field_name
        self.message = message
        self.params = params


#: The forms' fields, as the page names them in its messages.
FIELDS: Final = {
    "cse_consulted": N_("CSE consulted"), "workers_months": N_("Workers' training validity"),
    "profession": N_("Profession"), "profession_name": N_("Profession"),
    "patients_months": N_("Patients' training validity"), "operator": N_("Operator"),
    "name": N_("Name"), "name_forms": N_("Names in the RDSRs"),
    "other_ids": N_("Other identifiers"), "workers_on": N_("Workers' training"),
    "patients_on": N_("Patients' training"),
}


@dataclass(frozen=True, slots=True)
class Profession:
    id: int
    name: str
    patients_months: int
    operators: int = 0


def now_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM operator_settings WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def _set(conn: sqlite3.Connection, key: str, value: str, actor: User) -> None:
    conn.execute("INSERT INTO operator_settings (key, value, updated_at, updated_by)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                 " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                 [key, value, now_stamp(), actor.username])


def enabled(conn: sqlite3.Connection) -> bool:
    """Whether an admin turned the feature on (off when never set)."""
    return _setting(conn, ENABLED) == "1"


def ref_key(conn: sqlite3.Connection) -> bytes:
    """The store's own secret for the flags' references to an unknown name (the events'
    ``ref``, which the API shows): a plain hash of a name is found again by hashing the
    staff's names. Made at its first use, in the caller's write transaction, and kept
    when the feature is turned off, so a reference never changes."""
    value = _setting(conn, REF_KEY)
    if value is None:
        value = secrets.token_hex(32)
        conn.execute("INSERT INTO operator_settings (key, value, updated_at, updated_by)"
                     " VALUES (?, ?, ?, 'hub')", [REF_KEY, value, now_stamp()])
    return bytes.fromhex(value)


def switched(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """(when, by whom) the feature was last turned on or off; none if never."""
    row = conn.execute("SELECT updated_at, updated_by FROM operator_settings WHERE key = ?",
                       [ENABLED]).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def workers_months(conn: sqlite3.Connection) -> int:
    value = _setting(conn, WORKERS_MONTHS)
    return int(value) if value is not None and _MONTHS.fullmatch(value) else (
        DEFAULT_WORKERS_MONTHS)


def enable(conn: sqlite3.Connection, cse_consulted: str, actor: User,
           request: Request | None = None) -> bool:
    """Turn the feature on, the admin having ticked that the CSE was consulted; whether
    it changed. Audited with the confirmation."""
    if cse_consulted != "yes":
        raise OperatorError("cse_consulted", N_("Confirm that the staff committee (CSE) "
                                                "was consulted before turning it on."))
    with write(conn):
        if enabled(conn):
            return False
        _set(conn, ENABLED, "1", actor)
        audit.record(conn, actor, "operators.enable", "",
                     {"cse_consulted": True}, request)
    return True


def disable(conn: sqlite3.Connection, actor: User, request: Request | None = None) -> int | None:
    """Turn the feature off and delete the names stored from the RDSRs; how many were
    deleted (none: it was off already)."""
    with write(conn):
        if not enabled(conn):
            return None
        deleted = conn.execute("DELETE FROM rdsr_event_operators").rowcount
        _set(conn, ENABLED, "0", actor)
        audit.record(conn, actor, "operators.disable", "",
                     {"names_deleted": deleted}, request)
    return deleted


def parse_months(field_name: str, raw: str) -> int:
    """A validity in whole months (1 to :data:`MONTHS_MAX`), or :class:`OperatorError`."""
    text = raw.strip()
    if not _MONTHS.fullmatch(text) or not 1 <= int(text) <= MONTHS_MAX:
        raise OperatorError(field_name, N_("Expected a number of months from 1 to {max}."),
                            max=MONTHS_MAX)
    return int(text)


def set_workers_months(conn: sqlite3.Connection, raw: str, actor: User,
                       request: Request | None = None) -> bool:
    months = parse_months("workers_months", raw)
    with write(conn):
        old = workers_months(conn)
        if old == months and _setting(conn, WORKERS_MONTHS) is not None:
            return False
        _set(conn, WORKERS_MONTHS, str(months), actor)
        audit.record(conn, actor, "operators.settings", "",
                     {"old": old, "new": months}, request)
    return True


def professions(conn: sqlite3.Connection) -> list[Profession]:
    return [Profession(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(
        "SELECT p.id, p.name, p.patients_training_months, count(o.id)"
        " FROM operator_professions p LEFT JOIN operator_register o ON o.profession_id = p.id"
        " GROUP BY p.id ORDER BY p.name COLLATE NOCASE")]


def clean_text(field_name: str, raw: str, limit: int = MAX_NAME) -> str:
    """One line of text from a form: spaces collapsed, no control character, not empty,
    at most ``limit`` characters; or :class:`OperatorError`."""
    text = " ".join(raw.split())
    if not text:
        raise OperatorError(field_name, N_("Required."))
    if len(text) > limit:
        raise OperatorError(field_name, N_("At most {n} characters."), n=limit)
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029" for ch in text):
        raise OperatorError(field_name, N_("Control characters are not accepted."))
    return text


def parse_id(field_name: str, raw: str) -> int:
    if not _ID.fullmatch(raw.strip()):
        raise OperatorError(field_name, N_("Not a number: {value}."), value=raw[:40])
    return int(raw.strip())


def save_profession(conn: sqlite3.Connection, raw_name: str, raw_months: str, actor: User,
                    request: Request | None = None) -> bool:
    """Add a profession, or change the validity of the one of that name (any case)."""
    name = clean_text("profession_name", raw_name, 120)
    months = parse_months("patients_months", raw_months)
    with write(conn):
        row = conn.execute("SELECT id, patients_training_months FROM operator_professions"
                           " WHERE name = ?", [name]).fetchone()
        if row is not None and int(row[1]) == months:
            return False
        if row is None:
            conn.execute("INSERT INTO operator_professions (name, patients_training_months)"
                         " VALUES (?, ?)", [name, months])
        else:
            conn.execute("UPDATE operator_professions SET patients_training_months = ?"
                         " WHERE id = ?", [months, row[0]])
        audit.record(conn, actor, "operators.profession", "",
                     {"name": name, "old": None if row is None else int(row[1]),
                      "new": months}, request)
    return True


def delete_profession(conn: sqlite3.Connection, raw_id: str, actor: User,
                      request: Request | None = None) -> None:
    """Delete a profession no operator has."""
    profession_id = parse_id("profession", raw_id)
    with write(conn):
        row = conn.execute("SELECT name FROM operator_professions WHERE id = ?",
                           [profession_id]).fetchone()
        if row is None:
            raise OperatorError("profession", N_("No profession number {value}."),
                                value=profession_id)
        if conn.execute("SELECT 1 FROM operator_register WHERE profession_id = ?",
                        [profession_id]).fetchone():
            raise OperatorError("profession", N_("Operators of the register have it: change "
                                                 "theirs first."))
        conn.execute("DELETE FROM operator_professions WHERE id = ?", [profession_id])
        audit.record(conn, actor, "operators.profession_delete", "",
                     {"name": str(row[0])}, request)
