"""The reconciliation's store side: a room's inputs read, the matching of
:mod:`hub.rdsr.reconcile` run over them, and its results written.

:func:`compute` only reads (the page); :func:`reconcile_room` computes *outside* any write
transaction (the clock estimates and the matching take a second or more on a busy room:
the ingest must not wait for them), then writes in one short write transaction (the
``reconcile`` job, ``voyant-hub reconcile``, the simulator's scenarios). What arrives
between the two (a late RDSR) is the next round's; that round corrects what this one
wrote, as it would a late file:

- ``rdsr_matches``: one row per (emission, irradiation event) matched, those of the
  emissions that start in the range replaced (another engineer attaches the RDSR's
  operators to the exposures through it);
- the events: ``emission_without_study`` (``ref`` ``emission:<journal>:<run>:<number>``,
  on the emission's box; critical or warning as the matching judged, the severity and
  detail following a later judgement) and ``study_without_emission`` (``ref``
  ``irradiation:<uid>``, on the box the imaging device maps to). Opened once
  (:meth:`hub.db.store.Store.open_event`); one whose emission or event starts in the range
  and is no longer unmatched (a late RDSR, a window recorded since) has its condition
  cleared, never a duplicate.

The inputs: the room's boxes (``devices``), the imaging devices mapped to them and their
clock offsets (:func:`hub.rdsr.devices.clock_offset`, once per device per round), their
irradiation events and studies (:func:`hub.rdsr.study_totals.study_totals`), the room's
emissions over the range and over the whole span of each study that has an event in it
(those of an implausible clock left out and counted), and the calendar's verifications
and occasions of those days (with hours: windows; without: said, never excluding).

The room's dose report feed starts at the earliest of its mapped devices' first file
received and first event (corrected): no emission before is judged (:func:`feed_start`).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from hub.db.connection import write
from hub.db.store import Store
from hub.logs import log
from hub.rdsr import devices, operators_flags, reconcile_inputs
from hub.rdsr.clock import Offset
from hub.rdsr.reconcile import (
    SEVERITY,
    Inputs,
    Result,
    Study,
    best_offset,
    match,
)
from hub.rdsr.reconcile_inputs import seconds
from hub.rdsr.study_totals import study_totals
from hub.timefmt import iso
from hub.workdays import PARIS
from wire.errors import HubError

#: How far before and after the range an irradiation event is read: the whole of a study
#: that straddles the range's edges, whatever the device's clock.
EVENT_MARGIN_S: Final = 12 * 3600.0
#: How far back the job looks each round: an RDSR sent weeks late still clears its events.
JOB_DAYS: Final = 31
KINDS: Final = ("emission_without_study", "study_without_emission")


class RoomUnknown(HubError, LookupError):
    """No box of the hub is in that room."""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """A room's reconciliation over ``[start, end)`` (UTC), with what it was made from."""

    site: str
    room: str
    start: float
    end: float
    now: float
    wait_h: float
    tolerance_s: float
    boxes: tuple[str, ...]
    imaging: dict[int, devices.ImagingDevice]
    #: Each device's estimate (:func:`hub.rdsr.devices.clock_offset`), and the offset the
    #: matching used (:func:`hub.rdsr.reconcile.best_offset`: 0 when the estimate covers
    #: fewer events than none).
    offsets: dict[int, Offset | None]
    used: dict[int, float]
    result: Result
    clock_implausible: int
    #: When the room's dose report feed started (UTC seconds; None: no device has sent
    #: anything): the range's emissions before it are :attr:`Result.before_feed`.
    feed_start: float | None = None


def paris_days(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants that bound Paris days ``first`` to ``last`` included (23 or 25
    hours on the days the clocks change)."""
    start = datetime.combine(first, time(0), PARIS).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), PARIS).astimezone(UTC)
    return start, end


def boxes_of(conn: sqlite3.Connection, site: str, room: str) -> tuple[str, ...]:
    return tuple(str(r[0]) for r in conn.execute(
        "SELECT device FROM devices WHERE site = ? AND room = ? ORDER BY device", [site, room]))


def _studies(conn: sqlite3.Connection, uids: set[str]) -> dict[str, Study]:
    """Each study's fluoroscopy and acquisition times, the larger of its totals file's and
    its distinct events' sum (reports scoped per procedure step add up)."""
    return {uid: Study(uid, t.fluoro_time_s, t.acquisition_time_s)
            for uid, t in study_totals(conn, uids).items()}


def feed_start(conn: sqlite3.Connection, imaging: Mapping[int, devices.ImagingDevice],
               used: Mapping[int, float]) -> float | None:
    """When the room's dose report feed started: the earliest, over its mapped devices, of
    the first file received and the first event's start corrected by the offset used.
    None: no device (no feed, nothing judged).

    The first event rather than the file alone: a report arrives after its study, so its
    own study's emissions precede its reception and must be judged (they match). The file
    too: a device whose events carry no plausible time still started its feed then."""
    found = []
    for key, device in imaging.items():
        if device.first_file is not None and (at := seconds(device.first_file)) is not None:
            found.append(at)
        if (first := devices.first_event(conn, device)) is not None:
            found.append(first - used.get(key, 0.0))
    return min(found, default=None)


def compute(conn: sqlite3.Connection, site: str, room: str, start_utc: datetime,
            end_utc: datetime, now: datetime, wait_h: float, tolerance_s: float = 3.0,
            clock_tolerance_s: float = 120.0, group_max_s: float = 600.0) -> Reconciliation:
    """The room's reconciliation over ``[start_utc, end_utc)``, read only (no write);
    :class:`RoomUnknown` when no box is in that room."""
    boxes = boxes_of(conn, site, room)
    if not boxes:
        raise RoomUnknown(f"{site}/{room}: no box of the hub is in that room")
    lo, hi = start_utc.timestamp(), end_utc.timestamp()
    imaging = {d.id: d for d in devices.listing(conn) if d.device in boxes}
    offsets = {i: devices.clock_offset(conn, d, clock_tolerance_s) for i, d in imaging.items()}
    irradiations = [item for d in imaging.values()
                    for item in reconcile_inputs.irradiations(conn, d, lo - EVENT_MARGIN_S,
                                                              hi + EVENT_MARGIN_S)]
    estimates = {k: o.seconds for k, o in offsets.items() if o is not None}
    emissions = reconcile_inputs.emissions(
        conn, site, room, *reconcile_inputs.read_span(lo, hi, irradiations, estimates, group_max_s))
    implausible = conn.execute(
        "SELECT count(*) FROM exposures WHERE site = ? AND room = ? AND start >= ?"
        " AND start < ? AND COALESCE(clock_implausible, 0) != 0",
        [site, room, iso(lo), iso(hi)]).fetchone()[0]
    windows, days = reconcile_inputs.calendar(conn, site, room, lo, hi)
    used = {key: best_offset(emissions, [i for i in irradiations if i.imaging == key],
                             None if found is None else found.seconds, tolerance_s)
            for key, found in offsets.items()}
    feed = feed_start(conn, imaging, used)
    inputs = Inputs(lo, hi, now.timestamp(), wait_h * 3600.0, tolerance_s, emissions,
                    irradiations, _studies(conn, {i.study for i in irradiations}), used,
                    windows, days, group_max_s, math.inf if feed is None else feed)
    return Reconciliation(site, room, lo, hi, now.timestamp(), wait_h, tolerance_s, boxes,
                          imaging, offsets, used, match(inputs), int(implausible), feed)


def reconcile_room(conn: sqlite3.Connection, site: str, room: str, start_utc: datetime,
                   end_utc: datetime, now: datetime, wait_h: float, tolerance_s: float = 3.0,
                   clock_tolerance_s: float = 120.0, group_max_s: float = 600.0
                   ) -> Reconciliation:
    """:func:`compute` (no lock held), then its matches and events written and the
    operators of the matched emissions judged (nothing when that feature is off), in one
    write transaction."""
    done = compute(conn, site, room, start_utc, end_utc, now, wait_h, tolerance_s,
                   clock_tolerance_s, group_max_s)
    with write(conn):
        _write_matches(conn, done)
        _write_events(conn, done)
        for box in done.boxes:
            operators_flags.flag(conn, now, device=box, since=iso(done.start))
    return done


def _write_matches(conn: sqlite3.Connection, done: Reconciliation) -> None:
    for box in done.boxes:
        conn.execute(
            "DELETE FROM rdsr_matches WHERE device = ? AND EXISTS (SELECT 1 FROM exposures x"
            " WHERE x.device = rdsr_matches.device AND x.journal = rdsr_matches.journal"
            " AND x.run = rdsr_matches.run AND x.number = rdsr_matches.number"
            " AND x.start >= ? AND x.start < ?)", [box, iso(done.start), iso(done.end)])
    conn.executemany("INSERT OR IGNORE INTO rdsr_matches (device, journal, run, number,"
                     " irradiation_event_uid) VALUES (?, ?, ?, ?, ?)",
                     [(*key, uid) for key, uid in done.result.pairs])


def imaging_name(device: devices.ImagingDevice | None) -> str:
    """An imaging device as a person names it: make, model and the name it gives itself."""
    if device is None:
        return ""
    words = " ".join(w for w in (device.manufacturer, device.model) if w)
    name = device.observer_name or device.peer_device or device.serial
    return f"{words} ({name})" if words and name else words or name or f"#{device.id}"


def _open_event(kind: str, store: Store, box: str, done: Reconciliation, ref: str,
                detail: dict[str, Any], severity: str, at: str) -> None:
    """Open the event, or bring an ongoing one's severity and detail to this judgement."""
    event_id = store.open_event(kind, box, done.site, done.room, ref, at, detail, severity)
    text = json.dumps(detail, separators=(",", ":"))
    store.conn.execute("UPDATE events SET severity = ?, detail = ?, updated_at = ?"
                       " WHERE id = ? AND (severity != ? OR detail != ?)",
                       [severity, text, at, event_id, severity, text])


def _write_events(conn: sqlite3.Connection, done: Reconciliation) -> None:
    store, at = Store.over(conn), iso(done.now)
    wanted: set[tuple[str, str, str]] = set()
    for item in done.result.emissions:
        severity = SEVERITY.get(item.verdict)
        if severity is None:
            continue
        e = item.emission
        ref = f"emission:{e.journal}:{e.run}:{e.number}"
        detail = {"emission_start": iso(e.start), "emission_end": iso(e.end),
                  "emission_s": round(e.duration_s, 3), "journal": e.journal, "run": e.run,
                  "exposure": e.number, "covered_by_study": bool(item.studies),
                  "study": item.studies[0] if item.studies else None,
                  "controls_without_hours": [d.label for d in item.days
                                             if d.source == "verification"] or None,
                  "occasions_without_hours": [d.label for d in item.days
                                              if d.source == "occasion"] or None}
        _open_event("emission_without_study", store, e.device, done, ref, detail, severity,
                    at)
        wanted.add((KINDS[0], e.device, ref))
    for event in done.result.events:
        device = done.imaging.get(event.irradiation.imaging)
        if event.verdict != "without_emission" or device is None or not device.device:
            continue
        ref = f"irradiation:{event.irradiation.uid}"
        detail = {"event_start": iso(event.start), "rdsr_start": iso(event.irradiation.start),
                  "event_s": round(event.irradiation.duration_s, 3),
                  "offset_s": round(event.offset_s, 1), "imaging_device": imaging_name(device),
                  "study": event.irradiation.study,
                  "irradiation_event_uid": event.irradiation.uid}
        _open_event("study_without_emission", store, device.device, done, ref, detail,
                    "warning", at)
        wanted.add((KINDS[1], device.device, ref))
    _clear(store, done, wanted, at)


def _clear(store: Store, done: Reconciliation, wanted: set[tuple[str, str, str]],
           at: str) -> None:
    """End the ongoing events of the range that this judgement no longer finds."""
    marks = ",".join("?" * len(done.boxes))
    for event_id, kind, box, ref, detail in store.conn.execute(
            f"SELECT id, kind, device, ref, detail FROM events WHERE kind IN (?, ?)"
            f" AND device IN ({marks}) AND condition_cleared_at IS NULL",
            [*KINDS, *done.boxes]).fetchall():
        if (kind, box, ref) in wanted:
            continue
        try:
            found = json.loads(detail)
        except ValueError:
            continue
        start = seconds(found.get("emission_start" if kind == KINDS[0] else "event_start")
                        if isinstance(found, dict) else None)
        if start is not None and done.start <= start < done.end:
            store.clear_condition(int(event_id), at)


def rooms_to_reconcile(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The rooms with a box an imaging device maps to."""
    return [(str(s), str(r)) for s, r in conn.execute(
        "SELECT DISTINCT d.site, d.room FROM devices d JOIN rdsr_devices i"
        " ON i.device = d.device ORDER BY d.site, d.room")]


def reconcile_all(conn: sqlite3.Connection, now: datetime, wait_h: float,
                  tolerance_s: float, clock_tolerance_s: float,
                  days: int = JOB_DAYS, group_max_s: float = 600.0) -> dict[str, int]:
    """The ``reconcile`` job's round: each mapped room over the last ``days`` Paris days
    (a transaction per room); counts of what it found. A room that fails is logged
    (``reconcile_room_failed``) and counted; the others go on."""
    today = now.astimezone(PARIS).date()
    start, end = paris_days(today - timedelta(days=days - 1), today)
    counts = {"rooms": 0, "matched": 0, "unmatched": 0, "without_emission": 0,
              "before_feed": 0, "failed": 0}
    for site, room in rooms_to_reconcile(conn):
        try:
            done = reconcile_room(conn, site, room, start, end, now, wait_h, tolerance_s,
                                  clock_tolerance_s, group_max_s)
        except RoomUnknown:
            continue  # its box left between the two reads
        except Exception as exc:  # one room's bad data must not stop the others' follow-up
            counts["failed"] += 1
            log("reconcile_room_failed", logging.ERROR, exc_info=True, site=site, room=room,
                error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            continue
        counts["rooms"] += 1
        counts["matched"] += sum(r.verdict == "matched" for r in done.result.emissions)
        counts["unmatched"] += sum(r.verdict in SEVERITY for r in done.result.emissions)
        counts["without_emission"] += sum(e.verdict == "without_emission"
                                          for e in done.result.events)
        counts["before_feed"] += done.result.before_feed
    return counts
