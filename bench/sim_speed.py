"""Bench: how much faster than real time the simulator plays a room, in each of its modes.

Run by hand (about three minutes on two cores)::

    .venv/bin/python bench/sim_speed.py [--runs 3] [--quiet-hours 24]

Targets of issue 18 item 3:

* **default ≥ 1,500× real time**: the firmware's code makes every frame, the agent parses
  the bytes through a pty, in lockstep (spec/scenarios.md), frames in bursts between the
  agent's deadlines (:mod:`sim.batching`);
* **--fast ≥ 10,000×**: the same frame bytes through an in-process port (:mod:`sim.fast_probe`).

Each on two scenarios: a quiet day (``--quiet-hours`` of background only, serial probe,
written here) and the library's busy working day (``sim/scenarios/working_day.toml``: 8 h,
119 exposures, pulsed fluoroscopy). Speed is simulated seconds over the wall time of the
play (as :func:`~sim.runner.run_scenario`: the agent's start, the play and the report; not
the interpreter's start), the best of ``--runs`` with the spread; CPU is the process's user
+ system time, least of the runs. The two modes' reports must be identical (checked, printed).

Each play also says how long the agent's steps took (:meth:`Agent.step
<edge_agent.agent.Agent.step>`: reading and parsing the probe's bytes, the monitor, the
journal, setting the alarm pins), least of the runs, how many there were, that time per
probe frame, and the speed it alone allows: the ceiling of any work on the simulator's own
side at this schedule of steps. Fewer steps can lower it a little (each step has fixed
work); the frames cannot: each is parsed, judged and summed into a reading whatever the
schedule. At 10,000× a frame (100 ms) has 10 µs for everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provenance import commit, cores, interpreter  # noqa: E402
from edge_agent.logs import LOGGER  # noqa: E402
from sim.report import Report  # noqa: E402
from sim.room import FRAME_S, scratch_dir  # noqa: E402
from sim.runner import Simulation  # noqa: E402
from sim.scenario import Scenario, load_scenario  # noqa: E402

TARGETS = {"default": 1500.0, "fast": 10_000.0}
WORKING_DAY = ROOT / "sim" / "scenarios" / "working_day.toml"
QUIET = """\
# A quiet room: background only, the firmware probe on its serial line (bench/sim_speed.py).
name = "Quiet room, {hours:g} hours"
duration_s = {seconds:.1f}
seed = 1

[room]
doors = ["corridor"]
background_usv_h = 0.1
probe = "serial"
probe_position = "inside"
"""


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedSimulation(Simulation):
    """A :class:`~sim.runner.Simulation` that counts the agent's steps and adds up their wall
    time (with the ``on_step`` hook's, which the bench does not set)."""

    #: Class defaults, made the instance's own by the first step.
    agent_s: float = 0.0
    steps: int = 0

    def _step(self) -> None:
        start = time.perf_counter()
        super()._step()
        self.agent_s += time.perf_counter() - start
        self.steps += 1


@dataclass(frozen=True)
class Play:
    """One play's figures: wall and CPU seconds, the agent's steps and their seconds."""

    wall: float
    cpu: float
    agent: float
    steps: int


def play(scenario: Scenario, fast: bool) -> tuple[Play, Report]:
    """One play as :func:`~sim.runner.run_scenario` does it: its figures and its report."""
    cpu, wall = cpu_s(), time.perf_counter()
    with scratch_dir() as tmp:
        sim = TimedSimulation(scenario, Path(tmp), fast=fast)
        try:
            report = sim.run()
        finally:
            sim.close()
    return Play(time.perf_counter() - wall, cpu_s() - cpu, sim.agent_s, sim.steps), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="plays per figure (best judged)")
    parser.add_argument("--quiet-hours", type=float, default=24.0)
    args = parser.parse_args(argv)
    LOGGER.setLevel(logging.ERROR)
    print(f"bench/sim_speed.py: commit {commit()}, {cores()} cores usable"
          f" ({os.cpu_count()} on the machine), {interpreter()},"
          f" best of {args.runs}")
    print("targets: " + ", ".join(f"{mode} >= {x:,.0f}x real time"
                                  for mode, x in TARGETS.items()))
    passed = True
    with tempfile.TemporaryDirectory(prefix="voyant-bench-") as tmp:
        quiet = Path(tmp) / "quiet.toml"
        quiet.write_text(QUIET.format(hours=args.quiet_hours,
                                      seconds=args.quiet_hours * 3600), encoding="utf-8")
        scenarios = [("quiet day", load_scenario(quiet)),
                     ("working day", load_scenario(WORKING_DAY))]
        print(f"{'scenario':<12} {'mode':<8} {'simulated':>10} {'wall':>15} {'CPU':>8}"
              f" {'speed':>22}  {'verdict':<7} {'agent':>7} {'steps':>8} {'per frame':>10}"
              f" {'its ceiling':>12}")
        for label, scenario in scenarios:
            reports: dict[str, Report] = {}
            for mode, target in TARGETS.items():
                runs: list[Play] = []
                for _ in range(args.runs):
                    figures, reports[mode] = play(scenario, fast=mode == "fast")
                    runs.append(figures)
                best, worst = min(r.wall for r in runs), max(r.wall for r in runs)
                agent = min(runs, key=lambda r: r.agent)
                speed = scenario.duration_s / best
                ok = speed >= target
                passed &= ok
                spread = f"{scenario.duration_s / worst:,.0f}-" if args.runs > 1 else ""
                per_frame_us = agent.agent / (scenario.duration_s / FRAME_S) * 1e6
                print(f"{label:<12} {mode:<8} {scenario.duration_s:>9,.0f}s"
                      f" {best:>7.1f}s (+{worst - best:.1f}) {min(r.cpu for r in runs):>7.1f}s"
                      f" {spread + f'{speed:,.0f}x':>22}  {'PASS' if ok else 'FAIL':<7}"
                      f" {agent.agent:>6.1f}s {agent.steps:>8,} {per_frame_us:>8.1f}us"
                      f" {f'{scenario.duration_s / agent.agent:,.0f}x':>12}")
            same = reports["default"] == reports["fast"]
            passed &= same
            print(f"{label:<12} reports of the two modes identical: {'yes' if same else 'NO'}")
    print("agent: the wall time of the agent's steps (least of the runs), their number and that"
          " time per probe frame; its ceiling: the speed that time alone allows (at 10,000x a"
          " frame has 10 us for everything)")
    print("overall:", "PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
