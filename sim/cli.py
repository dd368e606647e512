"""``voyant-sim``: play scenario files against the real agent.

    voyant-sim run SCENARIO.toml [--json] [--fast] [--rdsr-dir DIR]
                                                        DIR: the dose reports of its [rdsr]
    voyant-sim demo [--dir DIR] [--port PORT]           broker, hub and three live rooms, with
                                                        the history of the last quarters
    voyant-sim demo --inject unsolicited [--room R]     a fault, now, in the running demo
    voyant-sim room SCENARIO.toml --config AGENT.toml --journal PATH [--speed X] [--repeat N]
                                                        [--report FILE] [--fast] [--no-fsync]

Exit codes: 0 played (whatever the agent recorded), 2 the file was refused
(nothing was run), 1 the simulator itself failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from edge_agent.config import load_config
from edge_agent.logs import LOGGER, setup_logging
from sim.inject import FAULTS
from sim.live_room import RoomSettings, play_room
from sim.report import Report, format_table
from sim.runner import run_scenario
from sim.scenario import load_scenario
from sim.scenario_toml import ScenarioError
from wire.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-sim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="play one scenario file and print what the agent recorded")
    run.add_argument("scenario", help="scenario TOML file (spec/scenarios.md)")
    run.add_argument("--json", action="store_true", help="print the JSON report")
    run.add_argument("--verbose", action="store_true", help="show the agent's log lines")
    run.add_argument("--fast", action="store_true",
                     help="the probe's frame bytes in process, not through a pty (same report)")
    run.add_argument("--rdsr-dir", type=Path, default=None,
                     help="also write the RDSRs of the scenario's [rdsr] studies into DIR"
                          " (docs/simulator-rdsr.md)")
    demo = sub.add_parser(
        "demo", help="the embedded broker, the hub and three simulated rooms live (sim/demo.py)")
    demo.add_argument("--dir", type=Path, default=Path(".demo"),
                      help="the demo's folder, emptied at start (default: ./.demo)")
    demo.add_argument("--port", type=int, default=8080,
                      help="the web page's port (default 8080; a free one if it is taken)")
    demo.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    demo.add_argument("--no-history", action="store_true",
                      help="start without the generated history of the last quarters (tests)")
    demo.add_argument("--inject", choices=sorted(FAULTS),
                      help="inject this fault now into the running demo's --room")
    demo.add_argument("--room", help="the room for --inject (default: the last room)")
    demo.add_argument("--duration", type=float, default=5.0,
                      help="how long the injected fault lasts, in seconds (default 5)")
    room = sub.add_parser(
        "room", help="play a scenario against an agent that publishes to a real broker"
    )
    room.add_argument("scenario", help="scenario TOML file")
    room.add_argument("--config", required=True,
                      help="agent TOML file; its [device] and [mqtt] tables are used")
    room.add_argument("--journal", required=True, help="journal file (kept between runs)")
    room.add_argument("--speed", type=float, default=None,
                      help="virtual seconds per real second (default: as fast as possible)")
    room.add_argument("--repeat", type=int, default=1, help="play the scenario N times")
    room.add_argument("--linger", type=float, default=30.0,
                      help="real seconds to wait for the hub's acknowledgement at the end")
    room.add_argument("--fast", action="store_true",
                      help="the probe's frame bytes in process, not through a pty")
    room.add_argument("--report", default=None,
                      help="write the last run's report (as `run --json` prints it) to FILE")
    room.add_argument("--no-fsync", action="store_true",
                      help="commit the journal without waiting for the disk (synchronous=NORMAL:"
                           " safe against the process dying, not against a power cut)")
    return parser


def library_path(name: str) -> str:
    """The path of a scenario of the installed library."""
    return str(files("sim") / "scenarios" / f"{name}.toml")


def _demo(args: argparse.Namespace) -> int:
    from sim.demo import run_demo  # the hub's modules: loaded only for the demo
    from sim.demo_control import send_inject

    if args.inject is not None:
        return send_inject(args.dir, args.room, args.inject, args.duration)
    if args.room is not None:
        print("voyant-sim demo: --room goes with --inject", file=sys.stderr)
        return 2
    return run_demo(args.dir, web_port=args.port, speed=args.speed,
                    history=not args.no_history)


def _room(args: argparse.Namespace) -> int:
    setup_logging()
    try:
        scenario = load_scenario(args.scenario)
        config = load_config(args.config)
    except (ScenarioError, ConfigError) as exc:
        print(f"voyant-sim: {exc}", file=sys.stderr)
        return 2
    if config.mqtt is None:
        print(f"voyant-sim: {args.config}: an [mqtt] table is needed", file=sys.stderr)
        return 2
    settings = RoomSettings(
        config.device.model_dump(), config.mqtt.model_dump(), Path(args.journal)
    )
    def keep(report: Report) -> None:
        if args.report is not None:
            Path(args.report).write_text(json.dumps(report, indent=1), encoding="utf-8")

    publisher = play_room(scenario, settings, speed=args.speed, repeat=args.repeat,
                          linger_s=args.linger, on_report=keep, fast=args.fast,
                          durable=not args.no_fsync)
    print(f"outbox: last seq {publisher.last_seq}, acknowledged {publisher.acked}")
    return 0 if publisher.acked >= publisher.last_seq else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    LOGGER.setLevel(logging.INFO if getattr(args, "verbose", False) else logging.ERROR)
    if args.command == "demo":
        return _demo(args)
    if args.command == "room":
        return _room(args)
    if args.command == "run":
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"voyant-sim: {exc}", file=sys.stderr)
            return 2
        if args.rdsr_dir is not None and scenario.rdsr is None:
            print(f"voyant-sim: {args.scenario}: --rdsr-dir needs an [rdsr] table"
                  " (docs/simulator-rdsr.md)", file=sys.stderr)
            return 2
        report = run_scenario(scenario, fast=args.fast)
        if args.rdsr_dir is not None:
            from sim.rdsr_writer import write_rdsrs  # pydicom: loaded only when asked

            try:
                written = write_rdsrs(scenario, args.rdsr_dir)
            except OSError as exc:
                print(f"voyant-sim: --rdsr-dir {args.rdsr_dir}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 1
            for path in written:
                print(f"voyant-sim: wrote {path}", file=sys.stderr)
        if args.json:
            json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
