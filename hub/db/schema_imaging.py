"""The imaging devices' table (issue 17, item 3), apart from :mod:`hub.db.schema_app` to
keep that module under the size limit; :data:`hub.db.schema_app.SCRIPT` includes it."""

from __future__ import annotations

from typing import Final

# The operators' tables, for SCRIPT beside these (their own module: hub.db.schema_operators).
from hub.db.schema_operators import OPERATORS as OPERATORS

#: The imaging devices that sent RDSRs and the box (room) each maps to
#: (:mod:`hub.rdsr.devices`): one row per (observer name, serial, peer's label) together,
#: '' for an absent one (a serial can be useless: a shared file says "1"); ``device`` NULL
#: until an admin maps it. The expression index finds a device's files by that triple. A
#: device gets its row in the transaction that stores its first file (the trigger): no
#: page ever writes to list one.
RDSR_DEVICES: Final = """
CREATE TABLE IF NOT EXISTS rdsr_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    observer_name TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT '',
    peer_device TEXT NOT NULL DEFAULT '',
    device TEXT,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT,
    updated_by TEXT,
    UNIQUE (observer_name, serial, peer_device)
);
CREATE INDEX IF NOT EXISTS rdsr_files_by_device ON rdsr_files
    (COALESCE(observer_name, ''), COALESCE(serial, ''), COALESCE(peer_device, ''));
"""

#: Made by migration 7 (step 6 made the table without it): a device's row in the
#: transaction that stores its first file.
RDSR_DEVICES_TRIGGER: Final = """
CREATE TRIGGER IF NOT EXISTS rdsr_devices_for_new_file AFTER INSERT ON rdsr_files
BEGIN
    INSERT OR IGNORE INTO rdsr_devices (observer_name, serial, peer_device, first_seen_at)
    VALUES (COALESCE(NEW.observer_name, ''), COALESCE(NEW.serial, ''),
            COALESCE(NEW.peer_device, ''), NEW.received_at);
END;
"""

#: The reconciliation's matches (:mod:`hub.rdsr.reconcile_store`; migration step 8): each
#: emission with each irradiation event that covers it, replaced by every reconciliation
#: of its range. The operators named by an RDSR reach the exposures through it.
RDSR_MATCHES: Final = """
CREATE TABLE IF NOT EXISTS rdsr_matches (
    device TEXT NOT NULL,
    journal TEXT NOT NULL,
    run INTEGER NOT NULL,
    number INTEGER NOT NULL,
    irradiation_event_uid TEXT NOT NULL,
    PRIMARY KEY (device, journal, run, number, irradiation_event_uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rdsr_matches_by_event ON rdsr_matches (irradiation_event_uid);
"""
