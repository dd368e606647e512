"""Retention of the RDSRs received: after ``[dicom] retention_days``, a file's patient
identity and its bytes go; what it taught stays.

The hub is not the patient's record (the PACS, the dose archive and the medical file keep
the report for their own legal periods); it keeps the identity only so that the physician
can find the patient for the HAS follow-up, weeks to months after the procedure. So after
the retention period (a year by default; 0, "for ever", is refused by the configuration:
GDPR art. 5(1)(e), storage limitation) the job removes the file's ``rdsr_patients`` row and
the operators' names its events brought (``rdsr_event_operators``) and empties its
``raw``, and a refused file's ``raw`` likewise; the study, its dose figures and
irradiation events, the SOP Instance UID and the sha256 of the bytes stay, with a mark in
``rdsr_purged`` (when, under which period), so a figure still names the file it came from.
Each batch is one write transaction with its audit row (``rdsr.purge``, by ``retention``).
A file re-sent after its purge is "already stored" when identical (the hash says so).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hub.db.connection import write
from hub.timefmt import stamp
from hub.web import audit

#: Files purged per transaction: the ingest and the storage service wait that long at most.
BATCH: Final = 200
ACTOR: Final = "retention"


@dataclass(frozen=True, slots=True)
class Purged:
    files: int
    refused: int
    before: str


def _due(conn: sqlite3.Connection, cutoff: str) -> tuple[list[str], list[str]]:
    files = [str(r[0]) for r in conn.execute(
        "SELECT sop_instance_uid FROM rdsr_files f WHERE received_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM rdsr_purged p WHERE p.kind = 'file' AND p.key = f.sop_instance_uid)"
        " ORDER BY received_at LIMIT ?", [cutoff, BATCH])]
    refused = [str(r[0]) for r in conn.execute(
        "SELECT sha256 FROM rdsr_refused r WHERE last_received_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM rdsr_purged p WHERE p.kind = 'refused' AND p.key = r.sha256)"
        " ORDER BY last_received_at LIMIT ?", [cutoff, BATCH])]
    return files, refused


def purge(conn: sqlite3.Connection, retention_days: int, now: datetime) -> Purged:
    """Purge every file received more than ``retention_days`` before ``now``."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = stamp(now - timedelta(days=retention_days))
    at = stamp(now)
    total_files = total_refused = 0
    while True:
        with write(conn):
            files, refused = _due(conn, cutoff)
            if not files and not refused:
                break
            for sop in files:
                conn.execute("DELETE FROM rdsr_patients WHERE sop_instance_uid = ?", [sop])
                conn.execute(  # the operators' names are personal data too
                    "DELETE FROM rdsr_event_operators WHERE irradiation_event_uid IN (SELECT"
                    " irradiation_event_uid FROM rdsr_irradiation_events"
                    " WHERE sop_instance_uid = ?)", [sop])
                conn.execute("UPDATE rdsr_files SET raw = X'' WHERE sop_instance_uid = ?",
                             [sop])
            for digest in refused:
                conn.execute("UPDATE rdsr_refused SET raw = NULL WHERE sha256 = ?", [digest])
            conn.executemany(
                "INSERT INTO rdsr_purged (kind, key, purged_at, retention_days)"
                " VALUES (?, ?, ?, ?)",
                [*(("file", sop, at, retention_days) for sop in files),
                 *(("refused", digest, at, retention_days) for digest in refused)])
            audit.record(conn, ACTOR, "rdsr.purge", "",
                         {"files": len(files), "refused": len(refused),
                          "received_before": cutoff, "retention_days": retention_days}, None)
        total_files += len(files)
        total_refused += len(refused)
    return Purged(total_files, total_refused, cutoff)
