"""Any record the monitor can make passes the wire contract (a property test, hypothesis).

The scenario library and the unit tests try the cases someone thought of; the
refusals that froze a room's stream came from cases no one wrote down (a
probe gone silent for a whole reading interval). Here hypothesis writes the
streams: input changes in any order and combination (doors, request,
emission, lamps, generator power, the patient button), probe samples of any
duration the probe link can report (5 ms to 2.5 s), counts from none to the
counter's overflow, high voltage lost, frames lost, bursts of samples at one
instant, silences longer than the probe time-outs, zero-length steps, and a
wall clock stepped back or forward. The pure monitor is fed that stream as
the agent feeds it (waking at each of its deadlines), and every output is
journaled through a real in-memory journal by the agent's own
``JournalWriter._journal``; then every record in the outbox must validate against its
:mod:`wire.records` model, and no NaN or infinity may appear in the outbox or
the journal's tables. Fixed seed and bounded examples: the same cases every
run, in a few seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.agent_journal import JournalWriter
from edge_agent.clock import ManualClock
from edge_agent.config import Rules
from edge_agent.dose.tube import BUILTIN_TUBES, Calibration, default_calibration
from edge_agent.journal import Journal
from edge_agent.monitor.monitor import DoseSetup, Monitor
from edge_agent.monitor.records import Output
from edge_agent.monitor.signals import PATIENT, SIGNALS
from edge_agent.probe.sample import ProbeSample
from edge_agent.probe.serial_link import MAX_WINDOW_S, MIN_WINDOW_S
from firmware_py.frame import COUNTS_MAX
from wire.records import ITEM_MODELS

EPOCH = 1_767_596_400.0  # 2026-01-05T07:00:00Z, as the simulator
FRAME_S = 0.1
DOORS = ("corridor", "control")
NAMES = (*SIGNALS, *(f"door.{d}" for d in DOORS), PATIENT)
#: Most deadline wake-ups between two steps (the agent wakes at each; a loop means a bug).
MAX_WAKES = 10_000


# -- the stream ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Inputs:
    dt: float
    changes: dict[str, bool]


@dataclass(frozen=True)
class Burst:
    """Samples one after the other; ``steps`` is the time between two sample ends (0: the
    same instant, as a read that delivers several frames at once)."""

    dt: float
    samples: list[tuple[float, float, int, bool, str | None, int]]  # step, duration, counts…


@dataclass(frozen=True)
class Silence:
    dt: float


@dataclass(frozen=True)
class WallStep:
    """The system clock stepped (NTP, an operator): the agent's wall offset changes."""

    seconds: float


Step = Inputs | Burst | Silence | WallStep

small_dt = st.one_of(st.just(0.0), st.floats(0.0, 2.0), st.sampled_from([0.3, 0.5, 2.0, 2.1]))
counts = st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 2000), st.just(COUNTS_MAX))
sample = st.tuples(
    st.one_of(st.just(0.0), st.just(FRAME_S), st.floats(MIN_WINDOW_S, MAX_WINDOW_S)),
    st.one_of(st.just(FRAME_S), st.floats(MIN_WINDOW_S, MAX_WINDOW_S)),
    counts,
    st.booleans(),
    st.sampled_from([None, None, None, "counter_overflow"]),
    st.one_of(st.just(0), st.integers(0, 20)),
)
#: The generator's signals, drawn more often than the rest so that exposures come and go.
GENERATOR = ("request", "emission", "light.emission")
changes = st.one_of(
    st.dictionaries(st.sampled_from(GENERATOR), st.booleans(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(NAMES), st.booleans(), min_size=1, max_size=4),
)
steps = st.one_of(
    st.builds(Inputs, small_dt, changes),
    st.builds(Inputs, small_dt, changes),
    st.builds(Burst, small_dt, st.lists(sample, min_size=1, max_size=40)),
    st.builds(Silence, st.one_of(st.floats(0.0, 20.0), st.floats(0.0, 900.0))),
    st.builds(WallStep, st.one_of(st.floats(-3600.0, 3600.0), st.sampled_from([-1.0, 0.5]))),
)


@dataclass(frozen=True)
class Setup:
    rules: Rules
    calibration: Calibration
    position: str
    background_usv_h: float
    patient: bool
    synced: bool | None


setups = st.builds(
    Setup,
    st.builds(Rules, reading_interval_s=st.sampled_from([1.0, 2.5, 10.0, 60.0]),
              probe_timeout_s=st.sampled_from([1.0, 5.0]),
              probe_silence_s=st.sampled_from([30.0, 300.0]),
              max_exposure_s=st.sampled_from([5.0, 600.0]),
              procedure_emission_limit_s=st.sampled_from([10.0, 3600.0]),
              procedure_gap_s=st.sampled_from([20.0, 1800.0])),
    st.sampled_from([default_calibration(tube) for tube in BUILTIN_TUBES.values()]),
    st.sampled_from(["inside", "outside"]),
    st.sampled_from([0.05, 0.1, 0.3]),  # higher backgrounds cost seconds of detector set-up
    st.booleans(),
    st.sampled_from([None, True, False]),
)


# -- the agent's side of the journal ---------------------------------------------------------

@dataclass
class AgentSide:
    """What ``JournalWriter._journal`` reads of its writer: the journal, the calibration's
    name, the clock.

    Running the agent's own method (not a copy of it) keeps this test on the path the
    records really take; a new attribute it needs fails here loudly."""

    journal: Journal
    calibration: str
    clock: ManualClock
    synced: bool | None
    offset: float = 0.0
    dose_rate_usv_h: float | None = None
    last_reading_wall: float | None = None

    def to_wall(self, mono: float) -> float:
        return mono + self.clock.wall() - self.clock.monotonic() + self.offset

    def clock_synced(self) -> bool | None:
        return self.synced

    def record(self, outputs: list[Output]) -> None:
        for item in outputs:
            JournalWriter._journal(cast(JournalWriter, self), item)


# -- driving the monitor as the agent does ----------------------------------------------------

def advance(monitor: Monitor, clock: ManualClock, to: float, out: list[Output]) -> None:
    """Let time run to ``to``, waking at every deadline on the way (as the agent's loop)."""
    for _ in range(MAX_WAKES):
        deadline = monitor.next_deadline()
        if deadline is None or deadline > to or deadline <= clock.monotonic():
            break
        clock.advance_to(deadline)
        out += monitor.tick(deadline)
    else:
        raise AssertionError(f"the monitor asked to wake more than {MAX_WAKES} times")
    clock.advance_to(max(to, clock.monotonic()))
    out += monitor.tick(clock.monotonic())


def play(monitor: Monitor, clock: ManualClock, side: AgentSide, stream: list[Step]) -> None:
    side.record(monitor.start_outputs())
    for step in stream:
        out: list[Output] = []
        if isinstance(step, WallStep):
            side.offset += step.seconds
            continue
        advance(monitor, clock, clock.monotonic() + step.dt, out)
        if isinstance(step, Inputs):
            out += monitor.on_inputs(clock.monotonic(), step.changes)
        elif isinstance(step, Burst):
            for gap, duration, n, hv_ok, fault, lost in step.samples:
                if gap:
                    advance(monitor, clock, clock.monotonic() + gap, out)
                out += monitor.on_sample(ProbeSample(clock.monotonic(), duration, n, hv_ok,
                                                     fault, lost))
        side.record(out)
    out = []
    advance(monitor, clock, clock.monotonic() + monitor.rules.reading_interval_s, out)
    side.record(out)


# -- the property -------------------------------------------------------------------------------

def _no_constant(token: str) -> float:
    raise AssertionError(f"{token} in a record")


def assert_every_record_passes(journal: Journal) -> int:
    conn = journal.db.conn
    items = conn.execute("SELECT seq, kind, item FROM outbox ORDER BY seq").fetchall()
    for seq, kind, item in items:
        json.loads(item, parse_constant=_no_constant)  # NaN, Infinity, -Infinity
        record = ITEM_MODELS[kind].model_validate_json(item)
        assert record.seq == seq
    for table in ("readings", "exposures", "alarms"):
        for row in conn.execute(f"SELECT * FROM {table}").fetchall():
            bad = [v for v in row if isinstance(v, float) and not math.isfinite(v)]
            assert bad == [], f"{table}: {row}"
    return len(items)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(setup=setups, stream=st.lists(steps, min_size=5, max_size=60))
def test_every_record_the_monitor_makes_passes_the_contract(setup: Setup,
                                                            stream: list[Step]) -> None:
    clock = ManualClock(wall_start=EPOCH, mono_start=0.0)
    dose = DoseSetup(setup.calibration, setup.background_usv_h, setup.position, FRAME_S)
    monitor = Monitor(setup.rules, DOORS, clock, dose=dose, patient_input=setup.patient)
    journal = Journal(":memory:", durable=False)
    try:
        journal.start_run(EPOCH)
        side = AgentSide(journal, setup.calibration.name, clock, setup.synced)
        stream = [s for s in stream if setup.patient or not _presses_patient(s)]
        play(monitor, clock, side, stream)
        assert journal.error is None
        assert assert_every_record_passes(journal) > 0
    finally:
        journal.close()


def _presses_patient(step: Step) -> bool:
    return isinstance(step, Inputs) and PATIENT in step.changes


def test_the_property_can_fail() -> None:
    """The check refuses what the bug of issue 11 wrote: a silent interval's NaN rates."""
    journal = Journal(":memory:", durable=False)
    try:
        row = {"seq": 1, "run": 1, "start": "2026-01-05T07:00:00.000000Z",
               "end": "2026-01-05T07:00:10.000000Z", "counts": 0, "seconds_covered": 0.0,
               "cpm": math.nan, "dose_usv": 0.0, "mean_usv_h": math.nan,
               "mean_sigma_usv_h": math.nan, "max_usv_h": math.nan, "max_sigma_usv_h": math.nan,
               "saturated": False, "calibration": "sbm20/Cs-137", "frames": 0,
               "frames_lost": 0}
        with journal.db.conn:
            journal.db.execute("INSERT INTO outbox (seq, kind, item) VALUES (1, 'readings', ?)",
                               [json.dumps(row)])
        with pytest.raises(AssertionError, match="NaN in a record"):
            assert_every_record_passes(journal)
    finally:
        journal.close()
