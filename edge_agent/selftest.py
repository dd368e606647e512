"""``voyant-edge selftest``: the checks of a commissioning record, one verdict per item.

Inputs (each readable, none stuck in an implausible state at rest), lamp
feedback, probe link, journal, broker and clock synchronisation, each PASS,
WARN or FAIL with what was seen; the overall verdict is the worst. Run it with
the room at rest and the ``voyant-edge`` service stopped (it holds the GPIO
lines and the probe's port), as the service's user::

    sudo -u voyant voyant-edge selftest --config /etc/voyant/agent.toml

This module makes the report (which checks, in which order, the versions,
the table); the checks are in :mod:`edge_agent.selftest_checks` and, for the
journal (only ever read, never created), :mod:`edge_agent.selftest_journal`.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from edge_agent.clock import iso_utc
from edge_agent.config import AgentConfig
from edge_agent.selftest_checks import (
    Item,
    Verdict,
    check_broker,
    check_clock,
    check_inputs,
    check_lamps,
    check_probe,
)
from edge_agent.selftest_journal import AGENT_USER, check_journal
from edge_agent.timesync import ClockProbe, system_clock_synced

_RANK = {"PASS": 0, "WARN": 1, "FAIL": 2}


@dataclass
class Report:
    at: str
    device: str
    site: str
    room: str
    versions: dict[str, str]
    items: list[Item] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        worst: Verdict = "PASS"
        for item in self.items:
            if _RANK[item.verdict] > _RANK[worst]:
                worst = item.verdict
        return worst

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def run_selftest(
    config: AgentConfig, *, timeout_s: float = 10.0, pin_factory: Any = None,
    clock_probe: ClockProbe = system_clock_synced, agent_user: str = AGENT_USER,
) -> Report:
    report = Report(iso_utc(time.time()), config.device.device_id, config.device.site,
                    config.device.room, versions())
    values, items = check_inputs(config, pin_factory)
    report.items += items
    report.items.append(check_lamps(values))
    report.items.append(check_probe(config, timeout_s, pin_factory))
    report.items.append(check_journal(config, agent_user))
    report.items.append(check_broker(config, timeout_s))
    report.items.append(check_clock(clock_probe))
    return report


def versions() -> dict[str, str]:
    out = {}
    for name in ("voyant", "gpiozero", "paho-mqtt", "pyserial"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    out["kernel"] = platform.release()
    return out


# -- output ----------------------------------------------------------------------------------


def render_table(report: Report) -> str:
    when = datetime.fromisoformat(report.at.replace("Z", "+00:00")).astimezone(UTC)
    lines = [
        "Voyant room agent self-test",
        f"  date (UTC): {when:%Y-%m-%d %H:%M:%S}",
        f"  device:     {report.device} (site {report.site}, room {report.room})",
        "  versions:   " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
        "",
        f"  {'item':<14} {'verdict':<7} detail",
        f"  {'-' * 14} {'-' * 7} {'-' * 50}",
    ]
    lines += [f"  {i.name:<14} {i.verdict:<7} {i.detail}" for i in report.items]
    lines += ["", f"  overall: {report.verdict}"]
    return "\n".join(lines)
