"""A study's dose and time figures, whichever way its reports arrived (issue 17).

A study's totals row (``rdsr_studies``) is one file's: the most complete report's, never a
sum, since a cumulative report per series or a re-send repeats the same events. But a study
may also arrive as several reports with *distinct* events, one per performed procedure
step (GE and Philips scope their shared files so): then no one file's totals is the
study's. Its events are stored once each by UID (:mod:`hub.rdsr.store`), so their sum
counts nothing twice. Each figure here is therefore the larger of the totals file's and
the sum over the study's stored irradiation events:

- cumulative reports: the file's totals are at least the events' sum (the events are the
  file's own, or fewer when a vendor leaves some out): the file wins, as before;
- one report per procedure step: the events' sum covers every step: it wins.

The events give no peak skin dose (TID 10003 has none): that figure is the totals file's.
Fluoroscopy and acquisition times sum each event's Irradiation Duration (its X-ray-on time
when the duration is not given), by the event's type. The reconciliation
(:mod:`hub.rdsr.reconcile_store`) and the HAS thresholds (:mod:`hub.rdsr.thresholds`) both
read a study's figures here, so that they never disagree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Final

#: UIDs per query (well under SQLite's bound on parameters).
CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class StudyTotals:
    """One study's figures (Gy·m², Gy, s); ``None``: neither the file nor an event gives it."""

    study: str
    totals_sop_instance_uid: str | None
    events: int
    dap_gym2: float | None
    kar_gy: float | None
    fluoro_time_s: float | None
    acquisition_time_s: float | None
    peak_skin_dose_gy: float | None
    #: Ka,r per acquisition plane (``single``, ``a``, ``b``), each the larger of the file's
    #: and the plane's events' sum.
    kar_per_plane: dict[str, float] = field(default_factory=dict)

    @property
    def time_s(self) -> float | None:
        """Fluoroscopy plus acquisition time (None when neither is given)."""
        times = [t for t in (self.fluoro_time_s, self.acquisition_time_s) if t is not None]
        return sum(times) if times else None


def larger(a: float | None, b: float | None) -> float | None:
    """The larger of two figures, either of which may be missing."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _add(a: float | None, b: object) -> float | None:
    if not isinstance(b, int | float) or isinstance(b, bool):
        return a
    return float(b) if a is None else a + float(b)


def _chunks(uids: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(set(uids))
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i:i + CHUNK]


def _planes(text: object) -> dict[str, float]:
    """The totals file's Ka,r per plane from ``rdsr_studies.per_plane`` (JSON)."""
    try:
        found = json.loads(str(text)) if text is not None else {}
    except ValueError:
        return {}
    out: dict[str, float] = {}
    for plane, figures in found.items() if isinstance(found, dict) else ():
        value = figures.get("kar_gy") if isinstance(figures, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(plane)] = float(value)
    return out


@dataclass(slots=True)
class _Sums:
    events: int = 0
    dap: float | None = None
    kar: float | None = None
    fluoro: float | None = None
    acquisition: float | None = None
    planes: dict[str, float] = field(default_factory=dict)


def _event_sums(conn: sqlite3.Connection, chunk: list[str]) -> dict[str, _Sums]:
    marks = ",".join("?" * len(chunk))
    out: dict[str, _Sums] = {}
    for study, plane, kind, count, dap, kar, seconds in conn.execute(
            "SELECT study_instance_uid, plane, type, count(*), sum(dap_gym2), sum(kar_gy),"
            " sum(COALESCE(duration_s, xray_on_s)) FROM rdsr_irradiation_events"
            f" WHERE study_instance_uid IN ({marks}) GROUP BY study_instance_uid, plane, type",
            chunk):
        s = out.setdefault(str(study), _Sums())
        s.events += int(count)
        s.dap, s.kar = _add(s.dap, dap), _add(s.kar, kar)
        if plane is not None and isinstance(kar, int | float):
            s.planes[str(plane)] = s.planes.get(str(plane), 0.0) + float(kar)
        if kind == "fluoroscopy":
            s.fluoro = _add(s.fluoro, seconds)
        elif isinstance(kind, str) and kind.endswith("_acquisition"):
            s.acquisition = _add(s.acquisition, seconds)
    return out


def study_totals(conn: sqlite3.Connection, study_uids: Collection[str]
                 ) -> dict[str, StudyTotals]:
    """Each stored study of ``study_uids`` (absent: no row in ``rdsr_studies``), its
    figures the larger of its totals file's and its distinct events' sum; two queries per
    500 studies, none per study."""
    out: dict[str, StudyTotals] = {}
    for chunk in _chunks(study_uids):
        marks = ",".join("?" * len(chunk))
        sums = _event_sums(conn, chunk)
        for study, sop, dap, kar, fluoro, acquisition, psd, per_plane in conn.execute(
                "SELECT study_instance_uid, totals_sop_instance_uid, dap_gym2, kar_gy,"
                " fluoro_time_s, acquisition_time_s, peak_skin_dose_gy, per_plane"
                f" FROM rdsr_studies WHERE study_instance_uid IN ({marks})", chunk):
            s = sums.get(str(study), _Sums())
            planes = _planes(per_plane)
            for plane, value in s.planes.items():
                planes[plane] = max(planes.get(plane, value), value)
            out[str(study)] = StudyTotals(
                str(study), None if sop is None else str(sop), s.events,
                larger(_add(None, dap), s.dap), larger(_add(None, kar), s.kar),
                larger(_add(None, fluoro), s.fluoro),
                larger(_add(None, acquisition), s.acquisition), _add(None, psd), planes)
    return out
