"""Migration step 6: the imaging devices and the room each maps to (issue 17, item 3,
:mod:`hub.rdsr.devices`).

Step 6 makes the table and its index; step 7 the trigger that gives each new file's device
its row, and the rows of the devices of the files stored before
(:func:`hub.rdsr.devices.sync`), unmapped until an admin maps them. Idempotent.
"""

from __future__ import annotations

import sqlite3

from hub.db import schema
from hub.db.schema_imaging import RDSR_DEVICES, RDSR_DEVICES_TRIGGER


def devices_to_6(conn: sqlite3.Connection) -> None:
    """Make ``rdsr_devices`` and its index on ``rdsr_files`` (caller's transaction)."""
    for statement in schema.split(RDSR_DEVICES):
        conn.execute(statement)


def devices_to_7(conn: sqlite3.Connection) -> None:
    """The trigger on ``rdsr_files``, then a row for each device of the files stored
    before it (caller's transaction)."""
    from hub.rdsr.devices import sync  # the hub's code, loaded only by this step

    for statement in schema.split(RDSR_DEVICES_TRIGGER):
        conn.execute(statement)
    sync(conn)
