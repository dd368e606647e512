"""The imaging devices that send RDSRs, and the box (room) each one maps to.

A device is known by what its files say and who sent them together: the device observer
name, the serial and the peer's label (``[[dicom.peers]] device``). No one of them is
enough (a shared file's serial is "1"; a peer may front two systems), so each distinct
triple is one row of ``rdsr_devices`` ('' for what a file leaves out), added by a trigger
in the transaction that stores the device's first file (:mod:`hub.db.schema_imaging`;
:func:`sync` fills the files stored before migration step 6). An admin maps a device to
a box on ``/admin/imaging``
(:func:`set_mapping`, audited ``imaging.map`` in the same transaction); the clock offset
(:mod:`hub.rdsr.clock`) is estimated for a mapped device from its events and its room's
emissions (:func:`clock_offset`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from fastapi import Request

from hub.db.connection import write
from hub.messages import N_
from hub.rdsr.clock import WINDOW_S, Offset, estimate, pair
from hub.timefmt import instant, iso
from hub.web import audit
from hub.web.auth import User
from wire.errors import HubError

#: The form's fields, as the page names them in its messages.
FIELDS: Final = {"imaging": N_("Imaging device"), "device": N_("Room")}
#: The latest events a device's offset is estimated from: the clock as it is now, not as
#: it was before someone set it.
RECENT_EVENTS: Final = 1000
#: The triple as ``rdsr_files`` holds it (NULL for absent), matching the files' index.
_TRIPLE: Final = ("COALESCE(observer_name, ''), COALESCE(serial, ''),"
                  " COALESCE(peer_device, '')")
_ID: Final = re.compile(r"[0-9]{1,18}")


class MappingError(HubError, ValueError):
    """A mapping refused; ``field`` is a key of :data:`FIELDS`, ``message`` an English
    msgid that ``params`` fill."""

    def __init__(self, field_name: str, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.field = field_name
        self.message = message
        self.params = params


@dataclass(slots=True)
class ImagingDevice:
    """One row of the page: the identity, what its files say, and its mapping."""

    id: int
    observer_name: str
    serial: str
    peer_device: str
    device: str | None
    updated_at: str | None
    updated_by: str | None
    manufacturer: str = ""
    model: str = ""
    peers: list[str] = field(default_factory=list)
    first_file: str | None = None
    last_file: str | None = None
    files: int = 0
    studies: int = 0


def sync(conn: sqlite3.Connection) -> int:
    """Add a row for each device seen in ``rdsr_files`` and not yet listed, in the
    caller's transaction; the number added. Migration step 6 fills the devices of the
    files stored before it; since, each file's trigger adds its device."""
    missing = (
        "SELECT o, s, p, min(received_at) FROM (SELECT"
        " COALESCE(observer_name, '') AS o, COALESCE(serial, '') AS s,"
        " COALESCE(peer_device, '') AS p, received_at FROM rdsr_files) AS f"
        " WHERE NOT EXISTS (SELECT 1 FROM rdsr_devices d WHERE d.observer_name = f.o"
        " AND d.serial = f.s AND d.peer_device = f.p) GROUP BY o, s, p")
    if not conn.execute(missing).fetchall():
        return 0  # no INSERT at all: even one of no row would add a sqlite_sequence row
    cursor = conn.execute(
        "INSERT INTO rdsr_devices (observer_name, serial, peer_device, first_seen_at)"
        f" {missing} ON CONFLICT (observer_name, serial, peer_device) DO NOTHING")
    return cursor.rowcount


def listing(conn: sqlite3.Connection) -> list[ImagingDevice]:
    """Every device, with what its files say, in identity order (a GET: no write)."""
    rows = {(str(r[1]), str(r[2]), str(r[3])): ImagingDevice(
        int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], r[5], r[6]) for r in conn.execute(
        "SELECT id, observer_name, serial, peer_device, device, updated_at, updated_by"
        " FROM rdsr_devices ORDER BY observer_name, serial, peer_device, id")}
    for o, s, p, first, last, files, studies in conn.execute(
            f"SELECT {_TRIPLE}, min(received_at), max(received_at), count(*),"
            " count(DISTINCT study_instance_uid) FROM rdsr_files GROUP BY 1, 2, 3"):
        if (row := rows.get((o, s, p))) is not None:
            row.first_file, row.last_file, row.files, row.studies = first, last, files, studies
    # The newest file's words for the make and model (a bare column beside max()).
    for o, s, p, _last, manufacturer, model in conn.execute(
            f"SELECT {_TRIPLE}, max(received_at), manufacturer, model FROM rdsr_files"
            " GROUP BY 1, 2, 3"):
        if (row := rows.get((o, s, p))) is not None:
            row.manufacturer, row.model = manufacturer or "", model or ""
    for o, s, p, peer in conn.execute(f"SELECT DISTINCT {_TRIPLE}, peer FROM rdsr_files"
                                      " ORDER BY peer"):
        if (row := rows.get((o, s, p))) is not None:
            row.peers.append(str(peer))
    return list(rows.values())


def boxes(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """The hub's boxes (device, site, room), in the rooms' order: what a device maps to."""
    return [(str(d), str(s), str(r)) for d, s, r in conn.execute(
        "SELECT device, site, room FROM devices ORDER BY site, room, device")]


def parse_id(raw: str) -> int:
    """A device's number as the form sends it, or :class:`MappingError`."""
    if not _ID.fullmatch(raw):
        raise MappingError("imaging", N_("Not a device number: {value}."), value=raw[:40])
    return int(raw)


def set_mapping(conn: sqlite3.Connection, raw_id: str, box: str, actor: User,
                request: Request | None = None) -> bool:
    """Map device ``raw_id`` to ``box`` (empty: to none), audited in the same transaction;
    whether it changed (the same mapping again writes nothing)."""
    imaging_id = parse_id(raw_id)
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with write(conn):
        row = conn.execute("SELECT device, observer_name, serial, peer_device"
                           " FROM rdsr_devices WHERE id = ?", [imaging_id]).fetchone()
        if row is None:
            raise MappingError("imaging", N_("No imaging device number {value}."),
                               value=imaging_id)
        if box and conn.execute("SELECT 1 FROM devices WHERE device = ?",
                                [box]).fetchone() is None:
            raise MappingError("device", N_("No box of the hub is called {value}."),
                               value=box[:80])
        new = box or None
        if row[0] == new:
            return False
        conn.execute("UPDATE rdsr_devices SET device = ?, updated_at = ?, updated_by = ?"
                     " WHERE id = ?", [new, at, actor.username, imaging_id])
        audit.record(conn, actor, "imaging.map", f"imaging:{imaging_id}",
                     {"old": row[0] or "", "new": box, "name": " · ".join(
                         part for part in row[1:] if part)}, request)
    return True


#: The events whose start can pair with an emission: a report dated in year 1 or 9999 (a
#: reset clock, a hostile file) says nothing of the device's clock, and a window around
#: it would leave the calendar.
PLAUSIBLE: Final = ("2000-01-01", "9000-01-01")


#: An imaging device's irradiation events: those of the files its triple names.
_EVENTS_OF: Final = (
    " FROM rdsr_irradiation_events e JOIN rdsr_files f"
    " ON f.sop_instance_uid = e.sop_instance_uid"
    " WHERE COALESCE(f.observer_name, '') = ? AND COALESCE(f.serial, '') = ?"
    " AND COALESCE(f.peer_device, '') = ? AND e.start_utc >= ? AND e.start_utc < ?")


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored irradiation event of a device (its own clock, UTC seconds)."""

    uid: str
    study: str
    start: float
    duration_s: float | None
    type: str | None


def events_of(conn: sqlite3.Connection, device: ImagingDevice, first: str = PLAUSIBLE[0],
              last: str = PLAUSIBLE[1], latest: int | None = None) -> list[EventRow]:
    """The device's events starting in ``[first, last)`` (stored UTC text), the latest
    ``latest`` only when given (newest first then); one whose start names no instant is
    left out. The one query of a device's events (the clock's, the reconciliation's)."""
    rows = conn.execute(
        "SELECT e.irradiation_event_uid, e.study_instance_uid, e.start_utc, e.duration_s,"
        f" e.type{_EVENTS_OF} ORDER BY e.start_utc DESC LIMIT ?",
        [device.observer_name, device.serial, device.peer_device, first, last,
         -1 if latest is None else latest])
    out = []
    for uid, study, start, duration, kind in rows:
        moment = instant(start)
        if moment is not None:
            out.append(EventRow(str(uid), str(study), moment.timestamp(),
                                duration if isinstance(duration, int | float) else None,
                                None if kind is None else str(kind)))
    return out


def first_event(conn: sqlite3.Connection, device: ImagingDevice) -> float | None:
    """The start (UTC seconds, the device's clock) of its earliest event of a plausible
    year; None without one."""
    row = conn.execute(f"SELECT min(e.start_utc){_EVENTS_OF}",
                       [device.observer_name, device.serial, device.peer_device,
                        *PLAUSIBLE]).fetchone()
    moment = instant(row[0]) if row is not None else None
    return None if moment is None else moment.timestamp()


def event_starts(conn: sqlite3.Connection, device: ImagingDevice) -> list[float]:
    """The start (UTC seconds) of the device's latest :data:`RECENT_EVENTS` events of a
    plausible year (:data:`PLAUSIBLE`)."""
    return [e.start for e in events_of(conn, device, latest=RECENT_EVENTS)]


def emission_starts(conn: sqlite3.Connection, box: str, first: float,
                    last: float) -> list[float]:
    """The starts (UTC seconds) of ``box``'s emissions from ``first`` to ``last``, those
    of a clock the hub found implausible left out (their time says nothing)."""
    rows = conn.execute(
        "SELECT start FROM exposures WHERE device = ? AND start >= ? AND start <= ?"
        " AND COALESCE(clock_implausible, 0) = 0", [box, iso(first), iso(last)])
    return _seconds(r[0] for r in rows)


def _seconds(texts: Iterable[object]) -> list[float]:
    """UTC seconds of stored times; one that names no instant is left out."""
    out = []
    for text in texts:
        moment = instant(text)
        if moment is not None:
            out.append(moment.timestamp())
    return out


def clock_offset(conn: sqlite3.Connection, device: ImagingDevice,
                 tolerance_s: float) -> Offset | None:
    """The mapped device's estimated clock offset, None when unmapped or nothing pairs."""
    if not device.device:
        return None
    events = event_starts(conn, device)
    if not events:
        return None
    emissions = emission_starts(conn, device.device, min(events) - WINDOW_S,
                                max(events) + WINDOW_S)
    return estimate(pair(emissions, events), tolerance_s)
