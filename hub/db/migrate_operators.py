"""Migration step 10: the operators' register and the names the RDSRs give (issue 17,
item 6, :mod:`hub.rdsr.operators_settings`). The feature stays off (no setting row): an
admin turns it on. The site's professions are listed once, with their defaults.
Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.schema_operators import OPERATORS, PROFESSIONS


def operators_to_10(conn: sqlite3.Connection) -> None:
    """Make the tables and list the default professions (caller's transaction)."""
    for statement in schema.split(OPERATORS):
        conn.execute(statement)
    if conn.execute("SELECT 1 FROM operator_professions LIMIT 1").fetchone() is None:
        conn.executemany("INSERT INTO operator_professions (name, patients_training_months)"
                         " VALUES (?, ?)", PROFESSIONS)
