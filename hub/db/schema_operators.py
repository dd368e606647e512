"""The operators' tables (issue 17, item 6): the feature's switch, the register of
operators with their radiation protection trainings, and the names the RDSRs give per
irradiation event. Apart from :mod:`hub.db.schema_app` to keep it under the size limit;
:data:`hub.db.schema_app.SCRIPT` includes it; migration step 10 makes them in older stores
(:mod:`hub.db.migrate_operators`).

Names of employees are personal data: ``rdsr_event_operators`` holds rows only while an
admin has the feature on (:mod:`hub.rdsr.operators_settings`); turning it off empties it.
"""

from __future__ import annotations

from typing import Final

#: ``operator_settings``: the feature's settings (``enabled``, ``workers_training_months``),
#: absent meaning the default (off; 36 months), each with who set it last.
#: ``operator_professions``: the site's list, each with how long a patients' radiation protection
#: training stays valid (no AUTOINCREMENT: listing the defaults adds no ``sqlite_sequence`` row to
#: a store upgraded). ``operator_register``: one row per person; a date is a day (``YYYY-MM-DD``),
#: NULL when none is known. ``operator_identifiers``: how RDSRs name the person (``name``: a name
#: form's normalised key, :mod:`hub.rdsr.operators_names`; ``id``: another identifier, as the
#: RDSR's Person Identification gives it), each key to one person only. ``rdsr_event_operators``:
#: each person an irradiation event names, in the file's order, with the role it gives
#: (``irradiation_administering``...).
OPERATORS: Final = """
CREATE TABLE IF NOT EXISTS operator_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS operator_professions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    patients_training_months INTEGER NOT NULL
        CHECK (patients_training_months BETWEEN 1 AND 600)
);
CREATE TABLE IF NOT EXISTS operator_register (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    profession_id INTEGER NOT NULL REFERENCES operator_professions (id),
    workers_training_on TEXT,
    patients_training_on TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_identifiers (
    kind TEXT NOT NULL CHECK (kind IN ('name', 'id')),
    key TEXT NOT NULL,
    written TEXT NOT NULL,
    operator_id INTEGER NOT NULL REFERENCES operator_register (id),
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS operator_identifiers_by_operator
    ON operator_identifiers (operator_id);
CREATE TABLE IF NOT EXISTS rdsr_event_operators (
    irradiation_event_uid TEXT NOT NULL
        REFERENCES rdsr_irradiation_events (irradiation_event_uid),
    n INTEGER NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    role TEXT,
    person_id TEXT,
    PRIMARY KEY (irradiation_event_uid, n)
) WITHOUT ROWID;
"""

#: The professions a new store lists (an admin changes them on ``/admin/operators``), with
#: the patients' training validity: ten years, as the legal guide of
#: ``../shared/seeds/003_a99217adaba39f55.txt`` (4.4.2) says ("au minimum tous les dix
#: ans"); a practice the ASN decision 2017-DC-0585 as amended gives another validity is
#: set per profession by the admin.
PROFESSIONS: Final = (
    ("Médecin", 120),
    ("Chirurgien", 120),
    ("Manipulateur en électroradiologie médicale (MERM)", 120),
    ("Infirmier anesthésiste (IADE)", 120),
    ("Infirmier de bloc opératoire (IBODE)", 120),
)
