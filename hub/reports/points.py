"""Measurement points: where the ambient dose of a room is measured, and their zoning.

Each room (a device) has one ``probe`` point, its Voyant probe, created
automatically when the ingest first registers the device (a trigger on
``devices``; :func:`ensure_probe_points` for the devices of an older store),
and any number of ``manual`` points that the PCR adds for passive dosimeters or
survey-meter spot checks (the console, the corridor door...).

Zoning thresholds (whole-body effective dose, mSv; the upper bound of each
zone, ``hub.config.Zoning``): the site's (``[zoning]`` and its ``sites``
overrides), unless the point overrides some of them (``points.thresholds``,
JSON, only the overridden keys). Per DOMAIN.md (Code du travail R.4451-22/23,
zoning order revised 28 January 2020), the three lowest bounds are doses over
one month and the two highest doses in one hour: :func:`classify` compares a
month's integrated dose with the first and the largest one-hour dose of that
month with the second, and keeps the higher zone.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from hub.config import ZONE_FIELDS, Zoning, check_zoning_order
from hub.messages import N_
from hub.timefmt import iso
from wire.errors import HubError

PROBE_NAME: Final = "probe"
NAME_RE: Final = re.compile(r"^[\w .,'()/:-]{1,64}$")

#: Zones, lowest first: (code, label).
ZONES: Final = (
    ("non_regulated", N_("Outside delimited areas")),
    ("supervised", N_("Supervised (blue)")),
    ("controlled_green", N_("Controlled green")),
    ("controlled_yellow", N_("Controlled yellow")),
    ("controlled_orange", N_("Controlled orange")),
    ("controlled_red", N_("Controlled red")),
)
ZONE_CODES: Final = tuple(code for code, _label in ZONES)

#: How each threshold reads in a document (``{value}`` in mSv): the keys are config
#: names, which an inspector reading the signed report should not have to decode.
THRESHOLD_LABELS: Final = {
    "non_regulated_msv_month": N_("outside delimited areas below {value} mSv per month"),
    "supervised_msv_month": N_("supervised (blue) below {value} mSv per month"),
    "controlled_green_msv_month": N_("controlled green below {value} mSv per month"),
    "controlled_yellow_msv_h": N_("controlled yellow below {value} mSv in one hour"),
    "controlled_orange_msv_h": N_("controlled orange below {value} mSv in one hour, "
                                  "red above"),
}


class PointError(HubError):
    """A refused value: ``field`` names it, ``message`` (English, translatable) says why."""

    def __init__(self, field: str, message: str, status: int = 422, **params: Any) -> None:
        super().__init__(message.format(**params))
        self.field, self.message, self.status, self.params = field, message, status, params


@dataclass(frozen=True, slots=True)
class Point:
    id: int
    device: str
    site: str
    room: str
    name: str
    kind: str
    override: dict[str, float]
    #: The zone declared at the delimitation and the initial verification: ``permanent``,
    #: or per generator state (``off``, ``powered``, ``emitting``) for an intermittent zone.
    declared: dict[str, str] = field(default_factory=dict)
    #: The natural background to subtract, counts per minute (None: measured).
    background_cpm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "device": self.device, "site": self.site, "room": self.room,
                "name": self.name, "kind": self.kind, "override": dict(self.override),
                "declared": dict(self.declared), "background_cpm": self.background_cpm}


def _now() -> str:
    return iso(datetime.now(UTC).timestamp())


def ensure_probe_points(conn: sqlite3.Connection) -> int:
    """A probe point for every device that has none yet (in the caller's transaction or
    its own statement); returns how many were created."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO points (device, site, room, name, kind, created_at)"
        " SELECT d.device, d.site, d.room, ?, 'probe', ? FROM devices d"
        " WHERE NOT EXISTS (SELECT 1 FROM points p WHERE p.device = d.device"
        " AND p.kind = 'probe')", [PROBE_NAME, _now()])
    return int(cursor.rowcount or 0)


def _point(row: sqlite3.Row | tuple[Any, ...]) -> Point:
    declared = _json_object(row[7])
    return Point(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]),
                 {k: v for k, v in ((k, _number(v)) for k, v in _json_object(row[6]).items())
                  if v is not None},
                 {k: str(v) for k, v in declared.items()
                  if k in DECLARED_STATES and v in ZONE_CODES},
                 _number(row[8]))


def _number(value: Any) -> float | None:
    """A stored number, or None (a text or a non-finite value written by hand)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _json_object(text: Any) -> dict[str, Any]:
    """A stored JSON object, or {} (a row written by hand must not break a page)."""
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


_COLUMNS: Final = "id, device, site, room, name, kind, thresholds, declared_zones, background_cpm"
#: Declared zones: one for the whole time, or one per generator state (intermittent zone).
DECLARED_STATES: Final = ("permanent", "off", "powered", "emitting")
#: A background above this (counts per minute) is no natural background for a GM tube.
BACKGROUND_MAX_CPM: Final = 10_000.0


def get_point(conn: sqlite3.Connection, point_id: int) -> Point:
    row = conn.execute(f"SELECT {_COLUMNS} FROM points WHERE id = ?", [point_id]).fetchone()
    if row is None:
        raise PointError("point", N_("No measurement point {id}."), 404, id=point_id)
    return _point(row)


def list_points(conn: sqlite3.Connection, device: str | None = None,
                kind: str | None = None) -> list[Point]:
    sql = f"SELECT {_COLUMNS} FROM points WHERE 1 = 1"
    params: list[Any] = []
    if device:
        sql += " AND device = ?"
        params.append(device)
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    sql += " ORDER BY site, room, kind DESC, name"
    return [_point(r) for r in conn.execute(sql, params)]


def add_manual_point(conn: sqlite3.Connection, device: str, name: str, username: str) -> Point:
    """A manual point in the room of ``device`` (in the caller's write transaction)."""
    name = name.strip()
    if not NAME_RE.match(name):
        raise PointError("name", N_("A point's name is 1 to 64 letters, digits, spaces or "
                                    ". , ' ( ) / : - characters."))
    room = conn.execute("SELECT site, room FROM devices WHERE device = ?", [device]).fetchone()
    if room is None:
        raise PointError("device", N_("No room with the device {device}."), device=device)
    if conn.execute("SELECT 1 FROM points WHERE device = ? AND name = ?",
                    [device, name]).fetchone() is not None:
        raise PointError("name", N_("This room already has a point named {name}."), 409,
                         name=name)
    cursor = conn.execute(
        "INSERT INTO points (device, site, room, name, kind, created_at, created_by)"
        " VALUES (?, ?, ?, ?, 'manual', ?, ?)", [device, room[0], room[1], name, _now(),
                                                 username])
    return get_point(conn, int(cursor.lastrowid or 0))


def set_override(conn: sqlite3.Connection, point: Point, zoning: Zoning,
                 values: dict[str, float | None]) -> Point:
    """Replace the point's overrides (None or missing: the site's value); checked in order."""
    unknown = set(values) - set(ZONE_FIELDS)
    if unknown:
        raise PointError(sorted(unknown)[0], N_("Unknown threshold."))
    override: dict[str, float] = {}
    for key, value in values.items():
        if value is None:
            continue
        if not 0 < float(value) <= 100_000:
            raise PointError(key, N_("A threshold is a dose in mSv above 0 and at most "
                                     "100,000."))
        override[key] = float(value)
    merged = {**zoning.for_site(point.site), **override}
    try:
        check_zoning_order(merged)
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise PointError(field, N_("Each zone's threshold must be below the next one's: "
                                   "{detail}."), detail=str(exc)) from None
    conn.execute("UPDATE points SET thresholds = ? WHERE id = ?",
                 [json.dumps(override, sort_keys=True), point.id])
    return get_point(conn, point.id)


def set_zoning(conn: sqlite3.Connection, point: Point, declared: dict[str, str | None],
               background_cpm: float | None) -> Point:
    """Replace the point's declared zones and configured background (in the caller's write
    transaction). A zone declared for the whole time excludes zones per state; per state,
    a zone never lower than the state before it (off, powered, emitting)."""
    unknown = set(declared) - set(DECLARED_STATES)
    if unknown:
        raise PointError(sorted(unknown)[0], N_("Unknown generator state."))
    given = {k: v for k, v in declared.items() if v}
    for key, value in given.items():
        if value not in ZONE_CODES:
            raise PointError(key, N_("Unknown zone."))
    if "permanent" in given and len(given) > 1:
        raise PointError("permanent", N_("Declare one zone for the whole time, or one per "
                                         "generator state, not both."))
    states = [given[s] for s in DECLARED_STATES[1:] if s in given]
    if any(ZONE_CODES.index(a) > ZONE_CODES.index(b) for a, b in itertools.pairwise(states)):
        raise PointError("emitting", N_("A zone per state cannot be lower when the generator "
                                        "is powered or emitting than before."))
    if background_cpm is not None and not 0 <= float(background_cpm) <= BACKGROUND_MAX_CPM:
        raise PointError("background_cpm", N_("A background is a count rate from 0 to {max} "
                                              "counts per minute."), max=int(BACKGROUND_MAX_CPM))
    conn.execute("UPDATE points SET declared_zones = ?, background_cpm = ? WHERE id = ?",
                 [json.dumps(given, sort_keys=True), background_cpm, point.id])
    return get_point(conn, point.id)


def thresholds(point: Point, zoning: Zoning) -> dict[str, Any]:
    """The point's thresholds (mSv) and, for each, where it comes from (site or point)."""
    site = zoning.for_site(point.site)
    values = {k: point.override.get(k, site[k]) for k in ZONE_FIELDS}
    source = {k: "point" if k in point.override else "site" for k in ZONE_FIELDS}
    return {"values": values, "source": source}


def classify(month_dose_usv: float, max_hour_dose_usv: float,
             values: dict[str, float]) -> tuple[str, str]:
    """(zone code, which quantity decided it: ``month`` or ``hour``) for one month.

    The month's dose (µSv) against the monthly bounds, the month's largest one-hour
    dose against the hourly ones (controlled yellow and orange); the higher zone wins.
    """
    month_msv, hour_msv = month_dose_usv / 1000.0, max_hour_dose_usv / 1000.0
    if hour_msv >= values["controlled_orange_msv_h"]:
        return "controlled_red", "hour"
    if hour_msv >= values["controlled_yellow_msv_h"]:
        return "controlled_orange", "hour"
    if month_msv >= values["controlled_green_msv_month"]:
        return "controlled_yellow", "month"
    if month_msv >= values["supervised_msv_month"]:
        return "controlled_green", "month"
    if month_msv >= values["non_regulated_msv_month"]:
        return "supervised", "month"
    return "non_regulated", "month"
