"""Migration step 5: the DICOM radiation dose reports received (issue 17, :mod:`hub.rdsr.store`).

New tables only (``rdsr_files``, ``rdsr_studies``, ``rdsr_irradiation_events``,
``rdsr_refused``): a store upgraded has received no report yet. Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.schema_app import RDSR


def rdsr_to_5(conn: sqlite3.Connection) -> None:
    """Make the RDSR tables and their indexes (caller's transaction)."""
    for statement in schema.split(RDSR):
        conn.execute(statement)
