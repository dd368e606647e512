"""``voyant-hub``: the hub's command line.

``run`` ingests the agents' evidence until SIGTERM or SIGINT (the web page
comes in a later issue); ``check-config`` validates a configuration file;
``version`` reports the installed version. A bad configuration exits with
status 2 and one line per mistake on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import version

from hub.config import HubConfig, load_config
from hub.errors import ConfigError, StoreError
from hub.ingest import Ingest
from hub.logs import log, setup_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-hub", description="Voyant hub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the installed version")
    run = sub.add_parser("run", help="ingest the agents' evidence until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, help="the hub's TOML configuration")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    return parser


def _load(path: str) -> HubConfig:
    """Validate the file and that the password file is readable (its content stays unsaid)."""
    config = load_config(path)
    config.mqtt.read_password()
    return config


async def _run(config: HubConfig) -> None:
    ingest = Ingest(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, ingest.stop)
    if config.broker.mode == "embedded":
        log("broker_embedded", port=config.broker.port,
            note="the embedded broker is started by its own component")
    log("hub_starting", version=version("voyant"), store=config.store.path,
        host=config.mqtt.host, port=config.mqtt.port, client_id=config.mqtt.client_id)
    await ingest.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"voyant {version('voyant')}")
        return 0
    path = args.config if args.command == "run" else args.file
    try:
        config = _load(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{path}: ok (broker {config.broker.mode}, store {config.store.path})")
        return 0
    setup_logging(args.log_level)
    try:
        asyncio.run(_run(config))
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
