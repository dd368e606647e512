"""The simulator's report: what the agent recorded, read back from its journal.

The JSON form is the fixed contract of spec/scenarios.md (extra keys are
allowed and added: pulses, procedure, calibration, detail, since_s). Times
are virtual seconds from the scenario's start.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from edge_agent.agent import Agent
from edge_agent.journal import Journal
from sim.scenario import Scenario


class Report(TypedDict):
    scenario: str
    duration_s: float
    exposures: list[dict[str, Any]]
    alarms: list[dict[str, Any]]
    readings: dict[str, Any]


def _s(wall: float | None, epoch: float) -> float | None:
    return None if wall is None else round(wall - epoch, 6)


def _exposure(row: dict[str, Any], epoch: float) -> dict[str, Any]:
    closed = row["state"] != "open"
    return {
        "start_s": _s(row["start_wall"], epoch),
        "end_s": _s(row["end_wall"], epoch) if closed else None,
        "duration_s": round(row["duration_s"], 6) if closed else None,
        "requested": bool(row["requested"]),
        "doors_open": json.loads(row["doors_open"] or "[]"),
        "emission_light_ok": bool(row["emission_light_ok"]) if closed else None,
        "max_dose_rate_usv_h": _round(row["max_dose_rate_usv_h"], 3),
        "dose_usv": _round(row["dose_usv"], 6),
        "pulses": row["pulses"],
        "procedure": row["procedure"],
        "resumed": bool(row["resumed"]),
        "calibration": row["calibration"],
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _alarm(row: dict[str, Any], epoch: float) -> dict[str, Any]:
    return {
        "kind": row["kind"],
        "subject": row["subject"],
        "at_s": _s(row["at_wall"], epoch),
        "cleared_s": _s(row["cleared_wall"], epoch),
        "since_s": _s(row["since_wall"], epoch),
        "detail": row["detail"] or "",
    }


def build_report(scenario: Scenario, journal: Journal, epoch: float, agent: Agent) -> Report:
    alarms = [_alarm(row, epoch) for row in journal.alarms()]
    alarms.sort(key=lambda a: (a["at_s"], a["kind"]))
    return {
        "scenario": scenario.name,
        "duration_s": scenario.duration_s,
        "exposures": [_exposure(row, epoch) for row in journal.exposures()],
        "alarms": alarms,
        "readings": {
            "count": journal.readings_count(),
            "interval_s": agent.config.rules.reading_interval_s,
            "calibration": agent.calibration.name if agent.calibration else None,
        },
    }


def format_table(report: Report) -> str:
    """The report as a readable text table."""
    lines = [f"Scenario: {report['scenario']}  ({report['duration_s']:g} s)", ""]
    lines.append(f"Exposures ({len(report['exposures'])})")
    lines.append(f"  {'start_s':>10} {'end_s':>10} {'dur_s':>8} {'req':>4} {'max µSv/h':>10}"
                 f" {'dose µSv':>10}  doors")
    for e in report["exposures"]:
        lines.append(
            f"  {e['start_s']:>10.2f} {_f(e['end_s']):>10} {_f(e['duration_s']):>8}"
            f" {'yes' if e['requested'] else 'NO':>4} {_f(e['max_dose_rate_usv_h']):>10}"
            f" {_f(e['dose_usv'], 4):>10}  {','.join(e['doors_open'])}"
        )
    lines += ["", f"Alarms ({len(report['alarms'])})"]
    lines.append(f"  {'at_s':>10} {'cleared_s':>10}  kind (subject)")
    for a in report["alarms"]:
        subject = f" ({a['subject']})" if a["subject"] else ""
        lines.append(f"  {a['at_s']:>10.2f} {_f(a['cleared_s']):>10}  {a['kind']}{subject}")
    r = report["readings"]
    lines += ["", f"Readings: {r['count']} every {r['interval_s']:g} s"
              f" (calibration {r.get('calibration')})"]
    return "\n".join(lines)


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
