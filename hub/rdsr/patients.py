"""The patient a received RDSR names: its ID, name and birth date, kept apart.

Read from the file's own attributes (Patient ID, Patient's Name, Patient's Birth Date) at
store time into ``rdsr_patients`` (:mod:`hub.db.schema_clinical`), the one table holding
them; only the clinical pages' queries (:func:`identities`, role ``clinical``) read it, so
that no other page, the API, the CSV, the metrics nor MQTT can show one. The file's bytes
are hostile: a value is cut to :data:`LONGEST` characters of printable text, one that
cannot be read is left out (never an error: the dose figures are what the store is for).
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final

#: Longer than any real value (PN is 64 characters a component group, LO 64).
LONGEST: Final = 200
_TAGS: Final = {"patient_id": 0x00100020, "patient_name": 0x00100010,
                "birth_date": 0x00100030}


@dataclass(frozen=True, slots=True)
class Identity:
    patient_id: str | None = None
    patient_name: str | None = None
    birth_date: str | None = None

    def __bool__(self) -> bool:
        return any((self.patient_id, self.patient_name, self.birth_date))


def _clean(value: Any) -> str | None:
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    text = " ".join(text.split())[:LONGEST]
    return text or None


def read_identity(raw: bytes) -> Identity:
    """The identity ``raw`` (a DICOM file) names; an empty one when it names none or
    cannot be read."""
    import pydicom  # loaded with the store's reader already; not by the web's pages

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(BytesIO(raw), stop_before_pixels=True,
                                 specific_tags=list(_TAGS.values()))
            found = {name: _clean(ds[tag].value) if tag in ds else None
                     for name, tag in _TAGS.items()}
    except Exception:  # hostile bytes: any pydicom error leaves the identity out
        return Identity()
    return Identity(**found)


def keep(conn: sqlite3.Connection, sop: str, study: str, identity: Identity) -> None:
    """Store a file's identity (caller's transaction); none named, no row."""
    if identity:
        conn.execute(
            "INSERT INTO rdsr_patients (sop_instance_uid, study_instance_uid, patient_id,"
            " patient_name, birth_date) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (sop_instance_uid) DO NOTHING",
            [sop, study, identity.patient_id, identity.patient_name, identity.birth_date])


def fill(conn: sqlite3.Connection) -> int:
    """The identities of the files stored before this table (migration step 9), from their
    ``raw``; the rows added (caller's transaction)."""
    added = 0
    files = conn.execute(
        "SELECT f.sop_instance_uid, f.study_instance_uid FROM rdsr_files f"
        " WHERE NOT EXISTS (SELECT 1 FROM rdsr_patients p"
        " WHERE p.sop_instance_uid = f.sop_instance_uid) AND length(f.raw) > 0").fetchall()
    for sop, study in files:
        raw = conn.execute("SELECT raw FROM rdsr_files WHERE sop_instance_uid = ?",
                           [sop]).fetchone()[0]
        identity = read_identity(bytes(raw))
        keep(conn, str(sop), str(study), identity)
        added += int(bool(identity))
    return added


def identities(conn: sqlite3.Connection, studies: Iterable[str]) -> dict[str, list[Identity]]:
    """Each study's distinct identities (its files'), for the clinical pages only."""
    wanted = list(dict.fromkeys(studies))
    out: dict[str, list[Identity]] = {s: [] for s in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for study, pid, name, birth in conn.execute(
                "SELECT DISTINCT study_instance_uid, patient_id, patient_name, birth_date"
                f" FROM rdsr_patients WHERE study_instance_uid IN ({marks})"
                " ORDER BY study_instance_uid, patient_name, patient_id", chunk):
            out[str(study)].append(Identity(pid, name, birth))
    return out
