"""The patients' identities of the RDSRs received and the retention marks (issue 17,
item 5; migration step 9, :mod:`hub.db.migrate_clinical`), apart from
:mod:`hub.db.schema_app` to keep it under the size limit; its ``SCRIPT`` includes them."""

from __future__ import annotations

from typing import Final

#: ``rdsr_patients``: the identity a file names (:mod:`hub.rdsr.patients`, at store time),
#: one row per file (a study's files may disagree: each says its own), read only by the
#: clinical pages' queries (:mod:`hub.web.pages.clinical`); no other table holds one.
#: ``rdsr_purged``: what the retention job (:mod:`hub.rdsr.retention`) emptied, and when: a
#: file's ``raw`` (``kind`` ``file``, ``key`` its SOP Instance UID) or a refused file's
#: (``refused``, its sha256); the dose figures, the UIDs and the hash stay.
CLINICAL: Final = """
CREATE TABLE IF NOT EXISTS rdsr_patients (
    sop_instance_uid TEXT PRIMARY KEY REFERENCES rdsr_files (sop_instance_uid),
    study_instance_uid TEXT NOT NULL,
    patient_id TEXT,
    patient_name TEXT,
    birth_date TEXT
);
CREATE INDEX IF NOT EXISTS rdsr_patients_by_study ON rdsr_patients (study_instance_uid);
CREATE TABLE IF NOT EXISTS rdsr_purged (
    kind TEXT NOT NULL CHECK (kind IN ('file', 'refused')),
    key TEXT NOT NULL,
    purged_at TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""
