"""``voyant-hub``: the hub's command line.

``run`` ingests the agents' evidence until SIGTERM or SIGINT (the web page
comes in a later issue), first starting the embedded broker when
``[broker] mode = "embedded"``; ``check-config`` validates a configuration
file; ``broker-config`` writes Mosquitto's files from a devices TOML
(:mod:`hub.broker_config`); ``version`` reports the installed version. A bad
configuration exits with status 2 and one line per mistake on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import version
from pathlib import Path

from hub.broker_config import broker_config_main, load_accounts, read_devices_file
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
    sub.add_parser(  # parsed by hub.broker_config itself: see main()
        "broker-config", add_help=False,
        help="write Mosquitto's configuration, password file and ACL from a devices TOML "
             "(--devices FILE --out DIR [--secrets DIR])")
    return parser


def _load(path: str) -> HubConfig:
    """Validate the file and that the password file is readable (its content stays unsaid).

    With the embedded broker, the devices file is validated too (its passwords are
    read, or generated, only by ``run``).
    """
    config = load_config(path)
    config.mqtt.read_password()
    if config.broker.mode == "embedded" and config.broker.devices is not None:
        read_devices_file(Path(config.broker.devices))
    return config


@contextlib.asynccontextmanager
async def embedded_broker(config: HubConfig) -> AsyncIterator[HubConfig]:
    """Start the embedded broker; yield the configuration the ingest connects with.

    The ingest logs in as the devices file's hub account, on the broker's port;
    the broker stops when the block ends.
    """
    from hub.embedded_broker import EmbeddedBroker  # amqtt: loaded only when embedded

    settings = config.broker
    assert settings.devices is not None  # the configuration refuses embedded without it
    accounts = load_accounts(Path(settings.devices), settings.secrets_dir())
    for path in accounts.generated:
        log("password_generated", username=path.stem, file=str(path),
            note="copy it to that account's machine")
    broker = EmbeddedBroker(accounts.hub, accounts.devices, host=settings.bind_address,
                            port=settings.port)
    await broker.start()
    log("broker_embedded_started", bind=settings.bind_address, port=broker.port,
        devices=len(accounts.devices), hub_username=accounts.hub.username)
    mqtt = config.mqtt.model_copy(update={
        "host": settings.connect_host(), "port": broker.port,
        "username": accounts.hub.username, "password_file": str(accounts.hub_password_file),
        "tls": None})
    try:
        yield config.model_copy(update={"mqtt": mqtt})
    finally:
        await broker.stop()
        log("broker_embedded_stopped", port=broker.port)


async def _run(config: HubConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if config.broker.mode == "embedded":
            config = await stack.enter_async_context(embedded_broker(config))
        ingest = Ingest(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, ingest.stop)
        log("hub_starting", version=version("voyant"), store=config.store.path,
            broker=config.broker.mode, host=config.mqtt.host, port=config.mqtt.port,
            client_id=config.mqtt.client_id)
        await ingest.run()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker-config"]:
        return broker_config_main(argv[1:])
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
