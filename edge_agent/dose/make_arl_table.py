"""Writes ``arl_table.json``: the detectors' thresholds for the built-in configurations.

    .venv/bin/python -m edge_agent.dose.make_arl_table     # about a minute (numpy)

Run it whenever a built-in tube, a default of ``[probe]`` or ``[rules]``, the
detectors' banks or the computation (:mod:`edge_agent.dose.arl_core`) change:
tests/test_arl_table.py fails until then. What it covers, for every built-in
tube at its reference calibration, with the default frame (``frame_s``) and
false-alarm interval (``false_alarm_interval_years``):

* the ``radiation_without_emission`` detector over each background of
  :data:`BACKGROUNDS_USV_H` (what commissioning may measure, to 0.01 µSv/h);
* the ``dose_rate_high`` detector at both positions' default levels.

The detectors themselves are built, with an engine that records each
computation they ask for, so the table holds exactly what they look up.
The engine is numpy's (:mod:`edge_agent.dose.arl`), imported only by
:func:`main`: the agent imports this module's data, never numpy.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_agent.config import YEAR_S, Probe, Rules
from edge_agent.dose import arl_pure, thresholds
from edge_agent.dose.detector import HighRateDetector, RiseDetector
from edge_agent.dose.thresholds import Engine, shared_key, single_key
from edge_agent.dose.tube import BUILTIN_TUBES, Calibration, default_calibration
from edge_agent.logs import LOGGER

#: 0.03 to 0.30 µSv/h by 0.01, then to 1 µSv/h by 0.05 (as a configuration file writes them).
BACKGROUNDS_USV_H = tuple(i / 100 for i in range(3, 31)) + tuple(i / 100 for i in range(35, 101, 5))
#: ``dose_rate_high``'s defaults, outside and inside the room (:meth:`Rules.dose_rate_alarm`).
HIGH_LEVELS_USV_H = (Rules().dose_rate_alarm("outside"), Rules().dose_rate_alarm("inside"))


@dataclass
class Recorder:
    """An engine that keeps every result it hands out, and what it was asked, by key."""

    engine: Engine
    found: dict[str, list[float]] = field(default_factory=dict)
    asked: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def shared_thresholds(self, rate0_cps: float, rates1_cps: tuple[float, ...],
                          mtbfa_s: float, frame_s: float) -> tuple[float, ...]:
        values = self.engine.shared_thresholds(rate0_cps, rates1_cps, mtbfa_s, frame_s)
        key = shared_key(rate0_cps, rates1_cps, mtbfa_s, frame_s)
        self.found[key] = list(values)
        self.asked[key] = ("bank", rate0_cps, rates1_cps, mtbfa_s, frame_s)
        return values

    def threshold_for(self, rate0_cps: float, rate1_cps: float, mtbfa_s: float,
                      frame_s: float, true_cps: float) -> float:
        value = self.engine.threshold_for(rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)
        key = single_key(rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)
        self.found[key] = [value]
        self.asked[key] = ("one", rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)
        return value


def calibrations() -> Iterator[Calibration]:
    for tube in BUILTIN_TUBES.values():
        yield default_calibration(tube)


def build_detectors(backgrounds: Sequence[float] = BACKGROUNDS_USV_H) -> None:
    """Every detector the table covers (over ``backgrounds``), built through
    :mod:`edge_agent.dose.thresholds`."""
    frame_s, mtbfa_s = Probe().frame_s, Rules().false_alarm_interval_years * YEAR_S
    for cal in calibrations():
        for background in backgrounds:
            RiseDetector(cal, background, frame_s=frame_s, mtbfa_s=mtbfa_s)
        for level in HIGH_LEVELS_USV_H:
            HighRateDetector(cal, level, frame_s=frame_s, mtbfa_s=mtbfa_s)


def record(engine: Engine, backgrounds: Sequence[float] = BACKGROUNDS_USV_H) -> Recorder:
    """What ``engine`` gives every covered detector (table and disk cache ignored)."""
    recorder = Recorder(engine)
    thresholds.use(recorder, stored=False)
    try:
        build_detectors(backgrounds)
    finally:
        thresholds.use(arl_pure)
    return recorder


def render(found: dict[str, list[float]]) -> str:
    """The table's text: what it covers, the computation's constants, a key per line."""
    covers = {
        "tubes": [cal.name for cal in calibrations()],
        "background_usv_h": list(BACKGROUNDS_USV_H),
        "dose_rate_high_usv_h": list(HIGH_LEVELS_USV_H),
        "false_alarm_interval_years": Rules().false_alarm_interval_years,
        "frame_s": Probe().frame_s,
    }
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(found.items())]
    about = "Made by python -m edge_agent.dose.make_arl_table; do not edit."
    return (
        "{\n"
        f'"about": {json.dumps(about)},\n'
        f'"covers": {json.dumps(covers)},\n'
        f'"engine": {json.dumps(thresholds.constants())},\n'
        '"thresholds": {\n' + ",\n".join(lines) + "\n}\n}\n"
    )


def main() -> int:
    from edge_agent.dose import arl

    LOGGER.setLevel(logging.ERROR)  # each computation logs "thresholds_computing"
    found = record(arl).found
    thresholds.TABLE.write_text(render(found), encoding="utf-8")
    print(f"{thresholds.TABLE}: {len(found)} computations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
