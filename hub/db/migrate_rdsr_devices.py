"""Migration step 6: the imaging devices and the room each maps to (issue 17, item 3,
:mod:`hub.rdsr.devices`).

A new table and an index only: the rows of the devices already seen in ``rdsr_files`` are
filled when the admin page or the reconciliation reads them (:func:`hub.rdsr.devices.sync`),
unmapped until an admin maps them. Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.schema_imaging import RDSR_DEVICES


def devices_to_6(conn: sqlite3.Connection) -> None:
    """Make ``rdsr_devices`` and its index on ``rdsr_files`` (caller's transaction)."""
    for statement in schema.split(RDSR_DEVICES):
        conn.execute(statement)
