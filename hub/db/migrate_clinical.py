"""Migration step 9: the ``clinical`` role, the patients' identities kept apart and the
retention marks (issue 17, item 5: :mod:`hub.rdsr.patients`, :mod:`hub.rdsr.retention`).

``users.role``'s CHECK gains ``clinical``. SQLite cannot alter a CHECK, and rebuilding
``users`` is not possible in the step's transaction with foreign keys enforced (dropping it
counts every session and token as a broken reference); so the table's SQL is rewritten in
``sqlite_schema`` the way SQLite documents for a constraint made looser ("Making Other
Kinds Of Table Schema Changes": ``writable_schema``, then ``schema_version`` + 1), every
row still satisfying it. A store whose ``users`` has no such CHECK (an early vintage)
needs nothing. Then ``rdsr_patients`` and ``rdsr_purged`` (:mod:`hub.db.schema_clinical`),
filled with the identities of the files stored before. Idempotent.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Final

from hub.db import schema
from hub.db.schema_clinical import CLINICAL
from hub.errors import StoreError

_ROLE_CHECK: Final = re.compile(r"CHECK\s*\(\s*role\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)


def _role_check(conn: sqlite3.Connection) -> None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"
                       " AND name = 'users'").fetchone()
    if row is None:
        return
    sql = str(row[0])
    found = _ROLE_CHECK.search(sql)
    if found is None or "'clinical'" in found.group(1):
        return
    if found.group(1).count("'") != 6 or not all(
            f"'{r}'" in found.group(1) for r in ("viewer", "pcr", "admin")):
        raise StoreError(f"users.role: an unexpected CHECK ({found.group(0)}): not changed")
    looser = sql[:found.start(1)] + found.group(1) + ", 'clinical'" + sql[found.end(1):]
    version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'",
                     [looser])
        conn.execute(f"PRAGMA schema_version = {version + 1:d}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


def clinical_to_9(conn: sqlite3.Connection) -> None:
    """The role, the tables and the identities of the files stored before (caller's
    transaction)."""
    from hub.rdsr.patients import fill  # the hub's code (pydicom), loaded only by this step

    _role_check(conn)
    for statement in schema.split(CLINICAL):
        conn.execute(statement)
    fill(conn)
