"""The HAS patient thresholds (issue 17, item 5): a study passing one raises
``patient_dose_threshold``, for the follow-up the HAS recommends, which belongs to the
physician and the medical physicist, not to the radiation protection adviser.

A study's figures are :func:`hub.rdsr.study_totals.study_totals`'s: each the larger of its
totals file's (one file's, never a sum: a cumulative re-issue repeats the same events) and
the sum over its distinct stored irradiation events (a study sent as one report per
performed procedure step, as GE and Philips scope theirs, has no file holding its whole
dose). A threshold is *passed* when the figure is strictly above it (the HAS says "plus
de"): 0.05 Gy·m² is 500 Gy·cm² and passes nothing. The DAP is compared in Gy·cm² rounded
to a millionth, so that the same dose written in another unit gives the same answer. The
peak skin dose counts only where the report gives one.

Biplane systems: each plane's Ka,r is the air kerma at *its own* reference point, 15 cm
from its own isocentre towards its own tube; the two are different points of the patient's
skin, so their sum is a dose nobody received. Ka,r is compared plane by plane (the larger
of the totals file's ``per_plane`` and that plane's events' sum), and the detail says which
plane passed. The DAP is the sum over both planes: the HAS threshold of 500 Gy·cm² is for
the whole procedure (the patient's total, as the fluoroscopy time's 60 minutes is), and a
DAP does not depend on where it is measured.

One event per study (``ref`` ``study:UID``, whatever its room or state): a later file of
the study that raises a figure or passes another threshold updates that event's detail
(``revised_at``), never opens a second; a re-sent file changes nothing. Its room is the
box the study's imaging device maps to (``rdsr_devices``); a device not mapped yet gives
``imaging:N`` (its number on /admin/imaging) with an empty site and room, the clinical
page saying "not mapped", and :func:`check_all` moves the event to its room once mapped.
A threshold raised later in the configuration never withdraws an event: the follow-up may
have begun. Everything here runs in the caller's write transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.messages import N_
from hub.rdsr.config import PatientThresholds
from hub.rdsr.study_totals import StudyTotals, study_totals
from hub.timefmt import stamp
from wire.kinds import severity

KIND: Final = "patient_dose_threshold"
#: Who the follow-up belongs to, as the event's detail says it (worded by :func:`word`).
FOLLOW_UP: Final = "physician_and_medical_physicist"
#: Each threshold: (key, the study's figure, factor to the limit's unit, its words).
FIGURES: Final = (
    ("dap", "dap_gym2", 1e4, N_("DAP {value} Gy·cm² (threshold {limit})")),
    ("kar", "kar_gy", 1.0, N_("Ka,r {value} Gy (threshold {limit})")),
    ("peak_skin_dose", "peak_skin_dose_gy", 1.0,
     N_("peak skin dose {value} Gy (threshold {limit})")),
)
#: A biplane system's Ka,r passed on one plane (its letter is the DICOM plane's, A or B).
PLANE_WORDS: Final = N_("Ka,r {value} Gy, plane {plane} (threshold {limit})")
#: The planes whose name a reader knows (DCM 113620/113621); ``single`` needs none.
NAMED_PLANES: Final = {"a": "A", "b": "B"}
_PLANE_ORDER: Final = ("single", "a", "b")
#: The detail's keys :func:`word` words (:mod:`hub.web.event_words` asks it).
WORDED: Final = frozenset({"passed", "follow_up"})


@dataclass(frozen=True, slots=True)
class Room:
    """Where a study's event goes: a box, or ``imaging:N`` with no site or room."""

    device: str
    site: str
    room: str

    @property
    def mapped(self) -> bool:
        return not self.device.startswith("imaging:")


def passed(totals: StudyTotals,
           limits: tuple[float, float, float]) -> list[dict[str, Any]]:
    """The thresholds a study's figures pass: ``{"what", "value", "limit"}`` (and
    ``"plane"`` for a Ka,r passed on a named plane), the value in the limit's unit."""
    out = []
    for (what, attribute, factor, _words), limit in zip(FIGURES, limits, strict=True):
        if what == "kar" and totals.kar_per_plane:
            out += _planes_passed(totals.kar_per_plane, limit)
            continue
        figure = getattr(totals, attribute)
        if figure is None:
            continue
        value = round(float(figure) * factor, 6)
        if value > limit:
            out.append({"what": what, "value": value, "limit": limit})
    return out


def _planes_passed(per_plane: Mapping[str, float], limit: float) -> list[dict[str, Any]]:
    """Each plane whose own Ka,r passes ``limit`` (never their sum)."""
    out = []
    for plane in sorted(per_plane, key=_plane_rank):
        value = round(float(per_plane[plane]), 6)
        if value > limit:
            item: dict[str, Any] = {"what": "kar", "value": value, "limit": limit}
            if plane in NAMED_PLANES:
                item["plane"] = plane
            out.append(item)
    return out


def _plane_rank(plane: Any) -> tuple[int, str]:
    text = str(plane or "")
    return (_PLANE_ORDER.index(text) if text in _PLANE_ORDER else len(_PLANE_ORDER), text)


def room_of(conn: sqlite3.Connection, study: str) -> Room | None:
    """The room of the study's totals file's imaging device (None: no such study)."""
    row = conn.execute(
        "SELECT d.id, d.device, b.site, b.room FROM rdsr_studies s"
        " JOIN rdsr_files f ON f.sop_instance_uid = s.totals_sop_instance_uid"
        " LEFT JOIN rdsr_devices d ON d.observer_name = COALESCE(f.observer_name, '')"
        " AND d.serial = COALESCE(f.serial, '') AND d.peer_device = COALESCE(f.peer_device, '')"
        " LEFT JOIN devices b ON b.device = d.device WHERE s.study_instance_uid = ?",
        [study]).fetchone()
    if row is None:
        return None
    if row[1] is None or row[2] is None:
        return Room(f"imaging:{row[0] if row[0] is not None else '?'}", "", "")
    return Room(str(row[1]), str(row[2]), str(row[3]))


def check_study(conn: sqlite3.Connection, study: str, settings: PatientThresholds,
                now: datetime, totals: StudyTotals | None = None) -> int | None:
    """Raise or revise the study's event; its id (None when nothing is passed).
    ``totals``: the study's figures when the caller has them (:func:`check_all`)."""
    room = room_of(conn, study)
    figures = totals or study_totals(conn, [study]).get(study)
    if room is None or figures is None:
        return None
    found = passed(figures, settings.limits(room.site or None))
    old = conn.execute("SELECT id, detail, device FROM events WHERE kind = ? AND ref = ?",
                       [KIND, f"study:{study}"]).fetchone()
    if not found and old is None:
        return None
    at = stamp(now)
    detail: dict[str, Any] = {"study": study, "passed": found, "follow_up": FOLLOW_UP,
                              "totals_file": figures.totals_sop_instance_uid}
    if old is None:
        cursor = conn.execute(
            "INSERT INTO events (kind, device, site, room, ref, opened_at, state, detail,"
            " severity, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            [KIND, room.device, room.site, room.room, f"study:{study}", at,
             json.dumps(detail, separators=(",", ":")),
             severity("patient_dose_threshold"), at])
        return int(cursor.lastrowid or 0)
    event_id, kept = int(old[0]), json.loads(old[1])
    merged = _merge(kept.get("passed", []), found)
    moved = room.mapped and old[2] != room.device
    if merged == kept.get("passed") and kept.get("totals_file") == detail["totals_file"] \
            and not moved:
        return event_id
    detail["passed"] = merged
    revised = at if merged != kept.get("passed") else kept.get("revised_at")
    if revised:
        detail["revised_at"] = revised
    conn.execute("UPDATE events SET detail = ?, updated_at = ? WHERE id = ?",
                 [json.dumps(detail, separators=(",", ":")), at, event_id])
    if moved:
        conn.execute("UPDATE events SET device = ?, site = ?, room = ? WHERE id = ?",
                     [room.device, room.site, room.room, event_id])
    return event_id


def _merge(before: Sequence[Mapping[str, Any]],
           now: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each threshold (each plane's, for a biplane Ka,r) at its highest value seen: a later
    file raises a figure or adds a threshold; a configuration changed since never takes
    one away."""
    by = {(str(p["what"]), str(p.get("plane", ""))): dict(p) for p in before}
    for p in now:
        key = (str(p["what"]), str(p.get("plane", "")))
        kept = by.get(key)
        if kept is None or float(p["value"]) > float(kept["value"]):
            by[key] = dict(p)
    order = [what for what, *_ in FIGURES]
    return sorted(by.values(), key=lambda p: (
        order.index(p["what"]) if p["what"] in order else len(order),
        _plane_rank(p.get("plane"))))


def check_all(conn: sqlite3.Connection, settings: PatientThresholds, now: datetime) -> int:
    """Every study stored (before a mapping or a configuration change too): the events
    raised or revised (caller's transaction)."""
    every = [settings.limits(None), *(settings.limits(site) for site in settings.sites)]
    lowest = [min(limits[i] for limits in every) for i in range(len(FIGURES))]
    # Only a study some site's limit could flag (by its totals file, or by its events'
    # sums: a plane's Ka,r is at most the sum over planes), or one with its event (to
    # revise or move).
    candidates = [str(r[0]) for r in conn.execute(
        "SELECT study_instance_uid FROM rdsr_studies WHERE round(dap_gym2 * 1e4, 6) > ?"
        " OR kar_gy > ? OR peak_skin_dose_gy > ? OR 'study:' || study_instance_uid IN"
        " (SELECT ref FROM events WHERE kind = ?) UNION SELECT study_instance_uid"
        " FROM rdsr_irradiation_events GROUP BY study_instance_uid"
        " HAVING round(sum(dap_gym2) * 1e4, 6) > ? OR sum(kar_gy) > ?",
        [*lowest, KIND, lowest[0], lowest[1]])]
    figures = study_totals(conn, candidates)
    before = conn.total_changes
    for study in candidates:
        if study in figures:
            check_study(conn, study, settings, now, figures[study])
    return conn.total_changes - before


def word(key: str, value: Any, gettext: Callable[[str], str],
         number: Callable[[float], str]) -> str:
    """The detail's ``passed`` or ``follow_up`` in the reader's words (French units and
    numbers: « PDS 612 Gy·cm² (seuil 500) »)."""
    if key == "follow_up":
        return gettext("the physician and the medical physicist (HAS recommendation),"
                       " not the radiation protection adviser")
    words = {what: text for what, _column, _factor, text in FIGURES}
    parts = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping) and item.get("what") in words:
            plane = NAMED_PLANES.get(str(item.get("plane")))
            text = PLANE_WORDS if item["what"] == "kar" and plane else words[str(item["what"])]
            parts.append(gettext(text).format(
                value=number(float(item["value"])), limit=number(float(item["limit"])),
                plane=plane))
    return " · ".join(parts) or "—"
