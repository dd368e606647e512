"""``voyant-hub``: the hub's command line.

The hub (MQTT ingest, store, events, web page) is built in the next issues;
for now this command only reports the installed version.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voyant-hub", description="Voyant hub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the installed version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"voyant {version('voyant')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
