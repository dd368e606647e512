"""Storing the RDSRs received (the storage service's and ``rdsr import``'s one way in).

A file is stored once by SOP Instance UID, whole, with the peer that sent it (the
association's calling AE title and address, never the file's own word); its irradiation
events once by Irradiation Event UID, since several reports of one study are normal (a
cumulative report per series, a re-send): the events are their union, the study's totals
are the most complete file's (most events, then the latest last event), never a sum. A
re-sent file changes nothing and is a success; the same report encoded otherwise (another
transfer syntax) too. A *different* file under a stored SOP Instance UID is refused and
kept in ``rdsr_refused`` (kind ``conflict``): the first stays the evidence the figures
come from, the second is there for whoever investigates the sender. What is not an RDSR
is refused there as well (kind ``not_rdsr``). One write transaction per file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from hub.db.connection import write
from hub.errors import RdsrError
from hub.logs import log
from hub.rdsr import patients, thresholds
from hub.rdsr.config import PatientThresholds
from hub.rdsr.model import PLANE_FIGURES, IrradiationEvent, Rdsr
from hub.timefmt import stamp

Status = Literal["stored", "already_stored", "refused"]
RefusedKind = Literal["not_rdsr", "conflict"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one file; ``reason`` is one line (why refused, or what was stored)."""

    status: Status
    reason: str
    sop_instance_uid: str | None = None
    study_instance_uid: str | None = None
    events: int = 0
    new_events: int = 0
    kind: RefusedKind | None = None

    @property
    def line(self) -> str:
        """``stored (...)``, ``already stored`` or ``refused: reason``."""
        if self.status == "refused":
            return f"refused: {self.reason}"
        return f"{self.status.replace('_', ' ')} ({self.reason})"


def one_line(text: str, limit: int = 300) -> str:
    """Text from outside on one line, bounded (a log line, a CLI line)."""
    return " ".join(text.split())[:limit]


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    try:
        return stamp(moment)
    except (OverflowError, ValueError):  # a local time at the edge of year 1 or 9999
        return None


def read_bytes(raw: bytes) -> Rdsr:
    """:func:`hub.rdsr.reader.read_bytes`, imported when a report is read: every page
    imports this module (through the operators' pages), and pydicom would add about 0.1 s
    of CPU to the start of every hub and CLI command."""
    from hub.rdsr.reader import read_bytes as read

    return read(raw)


def _valid_uid(value: str | None) -> bool:
    from pydicom.uid import UID  # see read_bytes

    return value is not None and UID(value).is_valid


def _identified(report: Rdsr) -> tuple[str, str]:
    """The file's SOP Instance and Study Instance UIDs, or :class:`RdsrError`."""
    sop, study = report.sop_instance_uid, report.study_instance_uid
    if not _valid_uid(sop):
        raise RdsrError(f"no valid SOP Instance UID ({one_line(sop or 'none', 80)}): "
                        "it could not be stored once")
    if not _valid_uid(study):
        raise RdsrError(f"no valid Study Instance UID ({one_line(study or 'none', 80)}): "
                        "it could not be joined to its study")
    assert sop is not None and study is not None
    return sop, study


def event_key(study: str, n: int, event: IrradiationEvent) -> tuple[str, bool]:
    """The event's UID, or (none valid given) a key derived from what it says, so that the
    same event in a later cumulative report of the study is still counted once."""
    if _valid_uid(event.uid):
        assert event.uid is not None
        return event.uid, False
    said = [study, _utc(event.start), event.plane, event.type, event.dap_gym2, event.kar_gy,
            event.duration_s, event.xray_on_s, event.pulses]
    if event.start is None:  # nothing places it in time: its rank in the file does
        said.append(n)
    digest = hashlib.sha256(json.dumps(said, default=str).encode()).hexdigest()[:40]
    return f"derived:{digest}", True


def store_bytes(conn: sqlite3.Connection, raw: bytes, peer: str, *,
                peer_device: str | None = None, keep_refused: bool = True,
                now: datetime | None = None,
                limits: PatientThresholds | None = None) -> Outcome:
    """Store one file as received (a DICOM Part 10 file), in one write transaction.

    ``keep_refused``: keep a refused file in ``rdsr_refused`` (the storage service: the
    sender's copy may be gone); ``rdsr import`` does not (the file is still on disk).
    A stored file's patient identity goes to ``rdsr_patients`` and, given ``limits`` (the
    site's ``[dicom.patient_thresholds]``), its study is checked against the HAS thresholds,
    in the same transaction (:mod:`hub.rdsr.patients`, :mod:`hub.rdsr.thresholds`); without
    them the ``patients`` job checks it within a quarter of an hour (never against limits
    that are not the site's).
    """
    moment = now or datetime.now(UTC)
    received = stamp(moment)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        report = read_bytes(raw)
        sop, study = _identified(report)
    except RdsrError as exc:
        reason = one_line(str(exc))
        if keep_refused:
            with write(conn):
                _refuse(conn, digest, "not_rdsr", None, reason, peer, received, raw)
        log("rdsr_refused", logging.WARNING, peer=peer, sha256=digest, size=len(raw), reason=reason,
            kept=keep_refused)
        return Outcome("refused", reason, kind="not_rdsr")
    with write(conn):
        row = conn.execute("SELECT sha256, received_at, peer, raw FROM rdsr_files"
                           " WHERE sop_instance_uid = ?", [sop]).fetchone()
        if row is not None:
            kept = (str(row[0]), str(row[1]), str(row[2]), bytes(row[3]))
            outcome = _again(conn, kept, report, sop, study, digest, peer, received, raw,
                             keep_refused)
        else:
            outcome = _insert(conn, report, sop, study, digest, peer, peer_device, received,
                              raw)
            patients.keep(conn, sop, study, patients.read_identity(raw))
            if limits is not None:
                thresholds.check_study(conn, study, limits, moment)
    if outcome.status == "refused":
        log("rdsr_conflict", logging.WARNING, peer=peer, sop_instance_uid=sop, sha256=digest,
            reason=outcome.reason, kept=keep_refused)
    elif outcome.status == "stored":
        log("rdsr_stored", peer=peer, sop_instance_uid=sop, study_instance_uid=study,
            events=outcome.events, new_events=outcome.new_events)
    return outcome


def _again(conn: sqlite3.Connection, kept: tuple[str, str, str, bytes], report: Rdsr,
           sop: str, study: str, digest: str, peer: str, received: str, raw: bytes,
           keep: bool) -> Outcome:
    """A file whose SOP Instance UID is stored (``kept``: its hash, time, peer and bytes):
    the same (nothing changes) or a conflict."""
    kept_sha, kept_at, kept_peer, kept_raw = kept
    if kept_sha == digest:
        return Outcome("already_stored", f"SOP Instance UID {sop}, identical", sop, study)
    try:
        same = read_bytes(kept_raw) == report
    except RdsrError:
        same = False
    if same:
        return Outcome("already_stored", f"SOP Instance UID {sop}, the same report "
                       "encoded differently", sop, study)
    reason = (f"a different file with SOP Instance UID {sop} was stored at {kept_at} "
              f"from {kept_peer}; the first is kept"
              + (", this one set aside for inspection" if keep else ""))
    if keep:
        _refuse(conn, digest, "conflict", sop, reason, peer, received, raw)
    return Outcome("refused", reason, sop, study, kind="conflict")


def _refuse(conn: sqlite3.Connection, digest: str, kind: RefusedKind, sop: str | None,
            reason: str, peer: str, received: str, raw: bytes) -> None:
    """Keep a refused file once by its hash; a re-send only counts (a device retrying a
    refused file for days must not fill the store). A file larger than any RDSR the
    reader reads is kept as its hash and size only."""
    from hub.rdsr.reader import MAX_BYTES

    kept = raw if len(raw) <= MAX_BYTES else None
    conn.execute(
        "INSERT INTO rdsr_refused (sha256, kind, sop_instance_uid, reason, peer,"
        " first_received_at, last_received_at, size, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (sha256) DO UPDATE SET last_received_at = excluded.last_received_at,"
        " times = times + 1",
        [digest, kind, sop, reason, peer, received, received, len(raw), kept])


def _insert(conn: sqlite3.Connection, report: Rdsr, sop: str, study: str, digest: str,
            peer: str, peer_device: str | None, received: str, raw: bytes) -> Outcome:
    d = report.device
    starts = [s for s in (_utc(e.start) for e in report.events) if s is not None]
    last_event = max(starts, default=None)
    conn.execute(
        "INSERT INTO rdsr_files (sop_instance_uid, sop_class, study_instance_uid,"
        " received_at, peer, peer_device, size, sha256, manufacturer, model, serial,"
        " observer_name, events, last_event_utc, raw)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [sop, report.sop_class, study, received, peer, peer_device, len(raw), digest,
         d.manufacturer, d.model, d.serial, d.observer_name, len(report.events),
         last_event, raw])
    new = 0
    for n, event in enumerate(report.events):
        key, derived = event_key(study, n, event)
        cursor = conn.execute(
            "INSERT INTO rdsr_irradiation_events (irradiation_event_uid, uid_derived,"
            " study_instance_uid, sop_instance_uid, start_utc, duration_s, xray_on_s, type,"
            " plane, pulses, pulse_rate_hz, dap_gym2, kar_gy, protocol)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (irradiation_event_uid) DO NOTHING",
            [key, int(derived), study, sop, _utc(event.start), event.duration_s,
             event.xray_on_s, event.type, event.plane, event.pulses, event.pulse_rate_hz,
             event.dap_gym2, event.kar_gy, event.protocol])
        new += cursor.rowcount
        if cursor.rowcount == 0:
            other = conn.execute("SELECT study_instance_uid FROM rdsr_irradiation_events"
                                 " WHERE irradiation_event_uid = ?", [key]).fetchone()
            if other is not None and other[0] != study:
                log("rdsr_event_in_two_studies", logging.WARNING, irradiation_event_uid=key,
                    kept_study=other[0], sop_instance_uid=sop, study_instance_uid=study)
    from hub.rdsr import operators_store  # imports this module; stores nothing when off

    operators_store.keep(conn, study, report.events)
    _study(conn, report, sop, study, received, (len(report.events), last_event or ""))
    return Outcome("stored", f"study {study}, {len(report.events)} irradiation events, "
                   f"{new} new", sop, study, len(report.events), new)


def _study(conn: sqlite3.Connection, report: Rdsr, sop: str, study: str, received: str,
           rank: tuple[int, str]) -> None:
    """The study's row: seen times always; device, start and totals from this file when
    it is more complete than the one they come from (so the order of arrival does not
    matter, and a total is never added to another)."""
    current = conn.execute(
        "SELECT f.events, COALESCE(f.last_event_utc, '') FROM rdsr_studies s"
        " JOIN rdsr_files f ON f.sop_instance_uid = s.totals_sop_instance_uid"
        " WHERE s.study_instance_uid = ?", [study]).fetchone()
    if current is not None and rank <= (int(current[0]), str(current[1])):
        conn.execute("UPDATE rdsr_studies SET last_seen_at = max(last_seen_at, ?)"
                     " WHERE study_instance_uid = ?", [received, study])
        return
    t, d = report.totals, report.device
    view = {
        "totals_sop_instance_uid": sop, "manufacturer": d.manufacturer, "model": d.model,
        "serial": d.serial, "observer_name": d.observer_name, "start_utc": _utc(report.start),
        "scope": report.scope, **{name: getattr(t, name) for name in PLANE_FIGURES},
        "peak_skin_dose_gy": t.peak_skin_dose_gy,
        "per_plane": json.dumps({p: asdict(f) for p, f in t.per_plane.items()},
                                sort_keys=True),
    }
    columns = ", ".join(view)
    marks = ", ".join("?" for _ in view)
    updates = ", ".join(f"{name} = excluded.{name}" for name in view)
    conn.execute(
        f"INSERT INTO rdsr_studies (study_instance_uid, first_seen_at, last_seen_at, {columns})"
        f" VALUES (?, ?, ?, {marks}) ON CONFLICT (study_instance_uid) DO UPDATE SET"
        f" last_seen_at = max(last_seen_at, excluded.last_seen_at), {updates}",
        [study, received, received, *view.values()])
