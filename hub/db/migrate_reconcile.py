"""Migration step 8: the reconciliation of emissions with RDSRs (issue 17, item 4,
:mod:`hub.rdsr.reconcile_store`).

The verifications and occasions of the calendar gain their optional hours
(``window_start``, ``window_end``: UTC, both or neither; records made before keep none, a
day only, which excludes no emission); ``rdsr_matches`` is made. Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.migrations import add_column
from hub.db.schema_imaging import RDSR_MATCHES


def reconcile_to_8(conn: sqlite3.Connection) -> None:
    """The calendar's hours and ``rdsr_matches`` (caller's transaction)."""
    for table in ("control_records", "control_occasions"):
        add_column(conn, table, "window_start", "TEXT")
        add_column(conn, table, "window_end", "TEXT")
    for statement in schema.split(RDSR_MATCHES):
        conn.execute(statement)
