"""The box's thresholds without numpy: the shipped table and the plain-Python fallback give
numpy's thresholds and false-alarm rates (issue 18, a lean agent).

Tolerances: a threshold within 1e-9 (relative) of numpy's, a run length within 1e-9;
the two engines differ only in the order of their sums (3e-16 on every built-in
configuration, 1e-13 on the samples here). The false-alarm rate of a bank at the
table's thresholds is numpy's to 1e-9 and within its budget; a single CUSUM's mean
time to a false alarm meets its target. The plain-Python engine is checked on samples
off the table (a lattice, a big rise, a clearing CUSUM, many counts per frame, a bank):
on the built-in configurations it takes 4 to 25 s each, too long for the suite.
numpy is imported here, by the test, never by the agent.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.dose import arl, arl_pure, thresholds
from edge_agent.dose.detector import HighRateDetector, RiseDetector
from edge_agent.dose.make_arl_table import BACKGROUNDS_USV_H, Recorder, record
from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration

REL = 1e-9
TABLE: dict[str, list[float]] = json.loads(thresholds.TABLE.read_text())["thresholds"]
CAL = default_calibration(BUILTIN_TUBES["sbm20"])


class Dummy:
    """An engine that answers at once (every threshold 5 nats): to list what is looked up."""

    def shared_thresholds(self, rate0_cps: float, rates1_cps: tuple[float, ...],
                          mtbfa_s: float, frame_s: float) -> tuple[float, ...]:
        return (5.0,) * len(rates1_cps)

    def threshold_for(self, rate0_cps: float, rate1_cps: float, mtbfa_s: float,
                      frame_s: float, true_cps: float) -> float:
        return 5.0


class Refusing(Dummy):
    """An engine that must not be asked: what the detectors need is stored."""

    def shared_thresholds(self, *args: Any) -> tuple[float, ...]:
        raise AssertionError(f"computed, not looked up: {args}")

    def threshold_for(self, *args: Any) -> float:
        raise AssertionError(f"computed, not looked up: {args}")


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Each test starts from the box's setting (plain Python, no cache) and leaves it so."""
    thresholds.use(arl_pure)
    thresholds.cache_in(None)
    yield
    thresholds.use(arl_pure)
    thresholds.cache_in(None)


def bank_false_alarm_rate(engine: Any, asked: tuple[Any, ...], hs: list[float]) -> float:
    """False alarms per second of a bank of CUSUMs at thresholds ``hs``."""
    _, r0, rates1, _, frame_s = asked
    return float(sum(1.0 / engine.arl_s(r0, r1, h, frame_s, r0)
                     for r1, h in zip(rates1, hs, strict=True)))


def check_against_numpy(asked: dict[str, tuple[Any, ...]], got: dict[str, list[float]],
                        reference: dict[str, list[float]]) -> None:
    assert set(got) == set(reference)
    for key, values in got.items():
        assert values == pytest.approx(reference[key], rel=REL), key
        how = asked[key]
        if how[0] == "bank":
            mtbfa_s = how[3]
            mine = bank_false_alarm_rate(arl, how, values)
            numpy_rate = bank_false_alarm_rate(arl, how, reference[key])
            assert mine == pytest.approx(numpy_rate, rel=REL), key
            assert 0.8 / mtbfa_s <= mine <= 1.001 / mtbfa_s, key
        else:
            _, r0, r1, mtbfa_s, frame_s, true_cps = how
            assert arl.arl_s(r0, r1, values[0], frame_s, true_cps) >= mtbfa_s, key


def test_the_table_holds_exactly_what_the_built_in_configurations_look_up() -> None:
    listed = record(Dummy())
    assert set(listed.found) == set(TABLE)
    kinds = {how[0] for how in listed.asked.values()}
    assert kinds == {"bank", "one"}
    assert 0.1 in BACKGROUNDS_USV_H and 0.12 in BACKGROUNDS_USV_H  # the default, the demo's


def test_the_table_gives_numpys_thresholds_and_false_alarm_rates() -> None:
    # Every built-in tube at the default background and both dose_rate_high defaults:
    # numpy computes them again here (about 1.5 s). The whole table was checked so when it
    # was made (python -m edge_agent.dose.make_arl_table is numpy's own computation).
    reference = record(arl, backgrounds=(0.1,))
    check_against_numpy(reference.asked, {k: TABLE[k] for k in reference.found},
                        reference.found)


def test_the_built_in_configurations_are_looked_up_not_computed() -> None:
    thresholds.use(Refusing())
    for tube in BUILTIN_TUBES.values():
        cal = default_calibration(tube)
        for background in (0.03, 0.1, 0.12, 1.0):
            RiseDetector(cal, background)
        HighRateDetector(cal, 2.5)
        HighRateDetector(cal, 2000.0)


@pytest.mark.parametrize(
    ("r0", "r1", "mtbfa_s", "at"),
    [
        (0.25, 1.0, 3600.0, None),  # few counts per frame: a lattice
        (0.25, 40.0, 3600.0, None),  # a big rise: one or two counts raise
        (4.0, 1.0, 3600.0, 3.0),  # a reverse (clearing) CUSUM, counted between its rates
        (60.0, 75.0, 600.0, None),  # many counts per frame: a wide window
    ],
    ids=["lattice", "big-rise", "clearing", "many-counts"],
)
def test_plain_python_gives_numpys_threshold_and_run_lengths(
    r0: float, r1: float, mtbfa_s: float, at: float | None
) -> None:
    true_cps = r0 if at is None else at
    h = arl_pure.threshold_for(r0, r1, mtbfa_s, 0.1, true_cps)
    assert h == pytest.approx(arl.threshold_for(r0, r1, mtbfa_s, 0.1, true_cps), rel=REL)
    walk = arl.llr_walk(r0, r1, 0.1, true_cps)
    hs = [0.5 * h, h, 1.5 * h]
    assert arl_pure.run_lengths(walk, hs) == pytest.approx(arl.run_lengths(walk, hs).tolist(),
                                                           rel=REL)
    assert arl_pure.arl_s(r0, r1, h, 0.1, true_cps) >= mtbfa_s


def test_plain_python_gives_numpys_bank() -> None:
    r0, rates, mtbfa_s = 0.25, (1.0, 12.0), 3600.0
    mine = arl_pure.shared_thresholds(r0, rates, mtbfa_s, 0.1)
    assert list(mine) == pytest.approx(arl.shared_thresholds(r0, rates, mtbfa_s, 0.1), rel=REL)


def test_a_configuration_off_the_table_is_computed_once_then_read_from_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    thresholds.cache_in(tmp_path)
    counting = Recorder(arl_pure)
    thresholds.use(counting)
    with caplog.at_level(logging.INFO, logger="voyant"):
        det = RiseDetector(CAL, 3.0, rises_usv_h=(3.0, 30.0), mtbfa_s=3600.0)
    assert len(counting.found) == 2  # the bank and its clearing CUSUM
    assert "thresholds_computing" in caplog.messages
    stored = json.loads((tmp_path / thresholds.CACHE_NAME).read_text())
    assert stored["engine"] == thresholds.constants()
    assert stored["thresholds"] == counting.found

    thresholds.use(Refusing())  # a restart: nothing computed again
    again = RiseDetector(CAL, 3.0, rises_usv_h=(3.0, 30.0), mtbfa_s=3600.0)
    assert again.bank.thresholds == det.bank.thresholds
    assert again.clearing.threshold == det.clearing.threshold


@pytest.mark.parametrize("content", ["{not json", '{"engine": {"RTOL": 1}, "thresholds": {}}',
                                     '{"thresholds": {"x": ["a"]}}'],
                         ids=["broken", "other-engine", "no-engine"])
def test_a_bad_cache_file_is_ignored_and_rewritten(tmp_path: Path, content: str) -> None:
    (tmp_path / thresholds.CACHE_NAME).write_text(content)
    thresholds.cache_in(tmp_path)
    thresholds.use(Dummy())
    det = RiseDetector(CAL, 3.0, rises_usv_h=(3.0, 30.0), mtbfa_s=3600.0)
    assert det.bank.thresholds == (5.0, 5.0)
    stored = json.loads((tmp_path / thresholds.CACHE_NAME).read_text())
    assert stored["engine"] == thresholds.constants() and len(stored["thresholds"]) == 2


def test_stored_thresholds_of_the_wrong_size_are_recomputed(tmp_path: Path) -> None:
    r0, rates = 0.25, (1.0, 2.5)
    key = thresholds.shared_key(r0, rates, 3600.0, 0.1)
    (tmp_path / thresholds.CACHE_NAME).write_text(
        json.dumps({"engine": thresholds.constants(), "thresholds": {key: [4.0]}}))
    thresholds.cache_in(tmp_path)
    thresholds.use(Dummy())
    assert thresholds.shared_thresholds(r0, rates, 3600.0, 0.1) == (5.0, 5.0)


def test_keys_keep_every_bit_of_their_inputs() -> None:
    a = thresholds.single_key(0.1, 0.3, 3600.0, 0.1, 0.1)
    b = thresholds.single_key(0.1, math.nextafter(0.3, 1.0), 3600.0, 0.1, 0.1)
    assert a != b
