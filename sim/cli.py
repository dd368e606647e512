"""``voyant-sim``: play scenario files against the real agent.

    voyant-sim run SCENARIO.toml [--json]

Exit codes: 0 played (whatever the agent recorded), 2 the file was refused
(nothing was run), 1 the simulator itself failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from edge_agent.errors import ScenarioError
from sim.report import format_table
from sim.runner import run_scenario
from sim.scenario import load_scenario


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-sim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="play one scenario file and print what the agent recorded")
    run.add_argument("scenario", help="scenario TOML file (spec/scenarios.md)")
    run.add_argument("--json", action="store_true", help="print the JSON report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"voyant-sim: {exc}", file=sys.stderr)
            return 2
        report = run_scenario(scenario)
        if args.json:
            json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
