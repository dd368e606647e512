"""When a signed quarterly report stands as the periodic workplace verification (art. 12).

Continuous monitoring is the first case of art. 12 of the order of 23 October
2020: the signed quarterly report of a probe point closes that point's
verification, with no double entry, only when the report proves it
(:func:`check_report`, a pure function of the report's contents):

- ``coverage``: every month of the report has a coverage of at least 95 %;
- ``gap``: no stretch of more than 24 hours without any reading;
- ``calibration``: the calibrations used are for X-ray scatter (a report signed
  before they were recorded in it proves none);
- ``probe_check``: the probe's own calibration check (the room's measuring
  instruments verification) was not overdue on the day the report was signed.

Otherwise the report does not close it: the verification falls due on the
report's signature day and the page says which condition failed. A report covers
its one probe point: the room's manual points are other workplaces, verified
and recorded on their own. The report is read from ``reports`` (status
``signed``; the latest signed version of each point and quarter).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

MIN_COVERAGE: Final = 0.95
MAX_GAP_HOURS: Final = 24
CONDITIONS: Final = ("coverage", "gap", "calibration", "probe_check")


@dataclass(frozen=True, slots=True)
class Failure:
    """A condition not met: ``message`` is the English source string (the page
    translates it, then ``.format(**params)``)."""

    condition: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"condition": self.condition, "message": self.message, "params": self.params}


def signed_on(content: Mapping[str, Any]) -> date | None:
    """The Paris day the report was signed (its ``signature.date``), if readable."""
    signature = content.get("signature")
    if not isinstance(signature, Mapping):
        return None
    try:
        return date.fromisoformat(str(signature.get("date")))
    except ValueError:
        return None


def _coverage(content: Mapping[str, Any]) -> list[Failure]:
    months = content.get("months")
    if not isinstance(months, list) or not months:
        return [Failure("coverage", "The report has no month of readings.")]
    out = []
    for month in months:
        value = month.get("coverage") if isinstance(month, Mapping) else None
        if not isinstance(value, int | float) or value < MIN_COVERAGE:
            shown = round(float(value) * 100, 1) if isinstance(value, int | float) else 0
            out.append(Failure("coverage", "{month}: coverage {coverage} % (at least 95 %"
                               " needed).", {"month": str(month.get("month", "?")
                                                          if isinstance(month, Mapping)
                                                          else "?"),
                                             "coverage": shown}))
    return out


def _gaps(content: Mapping[str, Any]) -> list[Failure]:
    """Gaps over 24 hours: measured in seconds from reading to reading (``zoning.long_gaps``,
    method 2, across the quarter's bounds too) where the report has them; a report signed
    before counted whole empty clock hours (``gaps``), which may miss up to two hours."""
    out = []
    zoning = content.get("zoning")
    measured = zoning.get("long_gaps") if isinstance(zoning, Mapping) else None
    for gap in measured if isinstance(measured, list) else content.get("gaps") or []:
        hours = gap.get("hours") if isinstance(gap, Mapping) else None
        if not isinstance(hours, int | float) or hours > MAX_GAP_HOURS:
            out.append(Failure("gap", "{hours} hours without any reading from {start} (at most"
                               " 24 hours).", {"hours": hours if hours is not None else "?",
                                               "start": str(gap.get("start", "?"))
                                               if isinstance(gap, Mapping) else "?"}))
    return out


def _calibration(content: Mapping[str, Any]) -> list[Failure]:
    zoning = content.get("zoning")
    calibrations = zoning.get("calibrations") if isinstance(zoning, Mapping) else None
    if not isinstance(calibrations, list) or not calibrations:
        return [Failure("calibration", "The report does not say which calibration it used"
                        " (signed before this was recorded): it does not prove a calibration"
                        " for X-ray scatter.")]
    return [Failure("calibration", "The calibration {name} is not one for X-ray scatter.",
                    {"name": str(c.get("name", "?")) if isinstance(c, Mapping) else "?"})
            for c in calibrations if not (isinstance(c, Mapping) and c.get("scatter") is True)]


def _probe_check(content: Mapping[str, Any], probe_due: date | None) -> list[Failure]:
    day = signed_on(content)
    if probe_due is None:
        return [Failure("probe_check", "The probe's calibration check is not in the"
                        " verification programme.")]
    if day is None:
        return [Failure("probe_check", "The report has no signature date.")]
    if probe_due < day:
        return [Failure("probe_check", "The probe's calibration check was overdue when the"
                        " report was signed (due {due}, signed {day}).",
                        {"due": probe_due.isoformat(), "day": day.isoformat()})]
    return []


def check_report(content: Mapping[str, Any], probe_due: date | None) -> list[Failure]:
    """What keeps this signed report from closing the workplace verification (empty: it
    closes it). ``probe_due``: the due date of the probe's calibration check as it stood
    on the signature day (None: no such check in the programme)."""
    return [*_coverage(content), *_gaps(content), *_calibration(content),
            *_probe_check(content, probe_due)]


@dataclass(frozen=True, slots=True)
class SignedReport:
    """The latest signed version of a point's quarter."""

    report_id: int
    point_id: int
    quarter: str
    version: int
    content: dict[str, Any]

    @property
    def signed_on(self) -> date | None:
        return signed_on(self.content)


def signed_reports(conn: sqlite3.Connection, point_ids: Sequence[int]
                   ) -> dict[int, list[SignedReport]]:
    """Each point's signed reports, the latest version of each quarter, oldest quarter
    first (an unreadable content is left out: it proves nothing)."""
    if not point_ids:
        return {}
    marks = ", ".join("?" * len(point_ids))
    rows = conn.execute(
        "SELECT r.id, r.point_id, r.quarter, r.version, r.content FROM reports r"
        f" WHERE r.status = 'signed' AND r.point_id IN ({marks})"
        " AND r.version = (SELECT MAX(s.version) FROM reports s WHERE s.point_id = r.point_id"
        " AND s.quarter = r.quarter AND s.status = 'signed')"
        " ORDER BY r.point_id, r.quarter", list(point_ids)).fetchall()
    out: dict[int, list[SignedReport]] = {}
    for report_id, point_id, quarter, version, text in rows:
        try:
            content = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(content, dict):
            out.setdefault(int(point_id), []).append(
                SignedReport(int(report_id), int(point_id), str(quarter), int(version),
                             content))
    return out
