"""Migration step 4: the site's display names (``display_names``, :mod:`hub.web.names`).

A new table only: no record changes, a store upgraded has no label yet (every page
shows the keys, as before, until an admin names them). Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.schema_app import NAMES


def names_to_4(conn: sqlite3.Connection) -> None:
    """Make ``display_names`` (caller's transaction)."""
    for statement in schema.split(NAMES):
        conn.execute(statement)
