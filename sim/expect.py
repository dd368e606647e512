"""The ``[expect]`` extension of scenario files: what the agent must record, and the check.

``[expect]`` lists exactly the alarms the agent must record, each with a window
for when it is raised (and cleared), and optional exposure counts;
:meth:`Expectations.mismatches` compares a simulator report with it
(docs/scenarios.md). Parsed with the rest of the file by :mod:`sim.scenario`,
which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from edge_agent.monitor.rules import RULE_OF
from sim.scenario_toml import Doc, KeyPath, Table, entries, is_number, show
from wire.kinds import ALARM_KINDS, AlarmKind

Window = tuple[float, float]
#: Window bounds are compared with this slack: reports round times to the microsecond.
TIME_SLACK_S = 1e-6

_EXPECT_KEYS = ("alarms", "exposures", "unrequested_exposures")
_ALARM_KEYS = ("kind", "subject", "at_s", "cleared_s")


@dataclass(frozen=True, slots=True)
class ExpectedAlarm:
    """One alarm the agent must record, with windows for when it is raised and cleared."""

    kind: AlarmKind
    subject: str | None
    at_s: Window
    #: None: the clearing time is not checked (unless ``still_active``).
    cleared_s: Window | None = None
    #: ``cleared_s = "null"`` in the file: the alarm must still hold at the end.
    still_active: bool = False

    def matches(self, alarm: Mapping[str, Any]) -> bool:
        """Whether one alarm of a report (the ``--json`` form) is this one."""
        if alarm.get("kind") != self.kind or alarm.get("subject") != self.subject:
            return False
        cleared = alarm.get("cleared_s")
        if self.still_active:
            cleared_ok = cleared is None
        else:
            cleared_ok = self.cleared_s is None or _within(cleared, self.cleared_s)
        return _within(alarm.get("at_s"), self.at_s) and cleared_ok

    def describe(self) -> str:
        subject = f" ({self.subject})" if self.subject else ""
        cleared = ", still active at the end" if self.still_active else ""
        if self.cleared_s is not None:
            cleared = f", cleared in {list(self.cleared_s)}"
        return f"{self.kind}{subject} raised in {list(self.at_s)}{cleared}"


@dataclass(frozen=True, slots=True)
class Expectations:
    """The ``[expect]`` table: exactly the alarms the agent must record, and counts."""

    alarms: tuple[ExpectedAlarm, ...]
    exposures: int | None = None
    unrequested_exposures: int | None = None

    def mismatches(self, report: Mapping[str, Any]) -> list[str]:
        """What in a simulator report disagrees with these expectations (empty: all hold)."""
        problems: list[str] = []
        exposures = list(report.get("exposures", []))
        if self.exposures is not None and len(exposures) != self.exposures:
            problems.append(f"expected {self.exposures} exposures, recorded {len(exposures)}")
        unrequested = sum(1 for e in exposures if not e.get("requested", True))
        if self.unrequested_exposures not in (None, unrequested):
            problems.append(
                f"expected {self.unrequested_exposures} unrequested exposures,"
                f" recorded {unrequested}"
            )
        return problems + _match_alarms(self.alarms, list(report.get("alarms", [])))


def parse_expect(doc: Doc, data: object, duration: float, doors: Sequence[str]) -> Expectations:
    """The ``[expect]`` table of a scenario whose ``[room]`` has ``doors``."""
    t = Table(doc, data, ("expect",), _EXPECT_KEYS)
    path: KeyPath = ("expect", "alarms")
    alarms = tuple(
        _expected_alarm(doc, entry, (*path, i), duration, doors)
        for i, entry in enumerate(entries(doc, t.raw("alarms"), path), 1)
    )
    exposures = t.optional_integer("exposures", "a number of exposures")
    unrequested = t.optional_integer("unrequested_exposures", "a number of exposures")
    return Expectations(alarms, exposures, unrequested)


def _expected_alarm(
    doc: Doc, data: object, path: KeyPath, duration: float, doors: Sequence[str]
) -> ExpectedAlarm:
    t = Table(doc, data, path, _ALARM_KEYS)
    kind = cast(AlarmKind, t.text("kind", ALARM_KINDS))
    subject = t.text("subject") if "subject" in t.data else None
    about = RULE_OF[kind].subject
    if about == "door" and subject not in doors:
        doc.fail(t.at("subject"), f"expected the door it is about, one of {', '.join(doors)}")
    if about is None and subject is not None:
        doc.fail(t.at("subject"), "expected no subject (omit the key for null): only"
                 " alarms about a door have one")
    at_s = _window(t, "at_s", duration)
    still_active = t.data.get("cleared_s") == "null"
    cleared = None
    if "cleared_s" in t.data and not still_active:
        cleared = _window(t, "cleared_s", duration)
    return ExpectedAlarm(kind, subject, at_s, cleared, still_active)


def _window(t: Table, key: str, duration: float) -> Window:
    """``[lo, hi]``: when, in scenario seconds, the agent must have acted."""
    value = t.raw(key)
    pair = value if isinstance(value, list) and len(value) == 2 else None
    if pair is None or not all(is_number(b) for b in pair) or not 0 <= pair[0] <= pair[1]:
        pair = None
    if pair is None or pair[0] > duration:
        also = ', or "null" (still active at the end)' if key == "cleared_s" else ""
        t.doc.fail(
            t.at(key),
            f"expected [lo, hi] in seconds with 0 ≤ lo ≤ hi and lo ≤ duration_s{also},"
            f" got {show(value)}",
        )
    return float(pair[0]), float(pair[1])


# -- checking a report ---------------------------------------------------------------------


def _within(value: object, window: Window) -> bool:
    if not is_number(value):
        return False
    return window[0] - TIME_SLACK_S <= cast(float, value) <= window[1] + TIME_SLACK_S


def _match_alarms(expected: Sequence[ExpectedAlarm], recorded: list[Any]) -> list[str]:
    """Pair each expected alarm with the earliest recorded one it matches; report the rest."""
    problems = []
    left = sorted(recorded, key=lambda a: (a.get("at_s") or 0.0, str(a.get("kind"))))
    for want in sorted(expected, key=lambda e: e.at_s):
        found = next((a for a in left if want.matches(a)), None)
        if found is None:
            problems.append(f"missing alarm: {want.describe()}")
        else:
            left.remove(found)
    for alarm in left:
        subject = f" ({alarm.get('subject')})" if alarm.get("subject") else ""
        problems.append(
            f"unexpected alarm: {alarm.get('kind')}{subject} at {alarm.get('at_s')},"
            f" cleared {alarm.get('cleared_s')}"
        )
    return problems
