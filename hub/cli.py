"""``voyant-hub``: the hub's command line.

``run`` serves the web page and API (uvicorn, on ``[web] host/port``; port 0:
any free port, logged) with the ingest of the agents' evidence in the app's
lifespan, until SIGTERM or SIGINT (then exit 0), first starting the embedded
broker when ``[broker] mode = "embedded"`` (stopped after the web and the
ingest); ``user add`` creates an account (the first admin) and ``token add``
a token (``--scope api``, the default, or ``calendar`` for a feed address),
in the store of ``--config``; ``check-config`` validates a
configuration file; ``broker-config`` writes Mosquitto's files from a devices TOML
(:mod:`hub.broker.config`), and ``device add|revoke|list`` manages that TOML's rooms
(:mod:`hub.broker.provisioning`); ``quarantine list|replay`` shows and replays the records
the hub refused (:mod:`hub.ingest.quarantine`); ``journal list|accept-jump`` lets a journal go on
past a jump (:mod:`hub.ingest.jumps`) and ``journal export`` writes a device's records as
received (:mod:`hub.chain.export`); ``verify`` checks the store's hash chains at rest
(:mod:`hub.chain.verify`); ``rdsr show`` prints what a DICOM radiation dose report holds
(:mod:`hub.rdsr.show`) and ``rdsr import`` stores reports from files (:mod:`hub.rdsr.cli`);
``reconcile`` matches a room's emissions with its RDSRs (:mod:`hub.rdsr.reconcile_cli`);
``version`` reports the installed version. A bad configuration exits with status 2 and
one line per mistake on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvicorn

from hub.broker.config import broker_config_main, load_accounts
from hub.config import HubConfig, load_config
from hub.errors import CatalogError, StoreError
from hub.ingest.service import load_rooms
from hub.logs import log, setup_logging
from hub.rdsr.config import DicomBindError
from wire.errors import ConfigError, HubError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-hub", description="Voyant hub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the installed version")
    run = sub.add_parser("run", help="ingest the agents' evidence until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, help="the hub's TOML configuration")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    user = sub.add_parser("user", help="manage web accounts").add_subparsers(
        dest="action", required=True)
    add = user.add_parser("add", help="create an account (the first admin, for one)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["viewer", "pcr", "admin", "clinical"])
    add.add_argument("--display-name", default="")
    add.add_argument("--password-file",
                     help="a file whose first line is the password (else: asked twice)")
    add.add_argument("--config", required=True, help="the hub's TOML configuration")
    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True)
    tadd = token.add_parser("add", help="create an API token for USERNAME (printed once)")
    tadd.add_argument("username")
    tadd.add_argument("--name", required=True, help="what the token is for")
    tadd.add_argument("--scope", default="api", choices=["api", "calendar"],
                      help="api: the JSON API (default); calendar: the ICS feed only, "
                           "the kind to put in a feed address")
    tadd.add_argument("--config", required=True, help="the hub's TOML configuration")
    sub.add_parser(  # parsed by hub.broker.config itself: see main()
        "broker-config", add_help=False,
        help="write Mosquitto's configuration, password file and ACL from a devices TOML "
             "(--devices FILE --out DIR [--secrets DIR] "
             "(--tls-cert F --tls-key F --tls-ca F | --no-tls))")
    sub.add_parser(  # parsed by hub.broker.provisioning itself: see main()
        "device", add_help=False,
        help="add SITE ROOM | revoke ID | list: the rooms' broker accounts "
             "(voyant-hub device --help)")
    sub.add_parser(  # parsed by hub.ingest.quarantine itself: see main()
        "quarantine", add_help=False,
        help="list | replay: the records the hub refused, kept whole "
             "(voyant-hub quarantine --help)")
    sub.add_parser(  # parsed by hub.ingest.jumps itself: see main()
        "journal", add_help=False,
        help="list | accept-jump | export: the journals, an admin's word that one goes on, "
             "a device's records as received (voyant-hub journal --help)")
    sub.add_parser(  # parsed by hub.commands itself: see main()
        "verify", add_help=False,
        help="check the store's hash chains, records and rows at rest "
             "([--device D] [--from DATE --to DATE] --config FILE)")
    sub.add_parser(  # parsed by hub.rdsr.show itself: see main()
        "rdsr", add_help=False,
        help="show FILE [--json] | import PATH... --config FILE: DICOM radiation dose reports "
             "(RDSR)")
    sub.add_parser(  # parsed by hub.rdsr.reconcile_cli itself: see main()
        "reconcile", add_help=False,
        help="--room SITE/ROOM --from DATE --to DATE [--json] --config FILE: a room's "
             "emissions matched with its RDSRs")
    return parser


def _load(path: str) -> HubConfig:
    """Validate the file and that the password file is readable (its content stays unsaid).

    With the embedded broker, the devices file is validated too (its passwords are
    read, or generated, only by ``run``).
    """
    config = load_config(path)
    config.mqtt.read_password()
    load_rooms(config)  # the registry of rooms, in every mode: missing or wrong, say so now
    return config


@contextlib.asynccontextmanager
async def embedded_broker(config: HubConfig) -> AsyncIterator[HubConfig]:
    """Start the embedded broker; yield the configuration the ingest connects with.

    The ingest logs in as the devices file's hub account, on the broker's port;
    the broker stops when the block ends.
    """
    from hub.broker.embedded import EmbeddedBroker  # amqtt: loaded only when embedded

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
        "username": accounts.hub.username, "client_id": accounts.hub.username,
        "password_file": str(accounts.hub_password_file),
        "tls": None})
    try:
        yield config.model_copy(update={"mqtt": mqtt})
    finally:
        await broker.stop()
        log("broker_embedded_stopped", port=broker.port)


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the signals to ``_run`` (uvicorn re-raises them after
    its shutdown, which would end the process by the signal instead of exit 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """The web's listening socket (``port`` 0: the system picks a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise WebBindError(f"web: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class WebBindError(HubError, RuntimeError):
    """The web port is taken or the address is not this machine's."""


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def web_server_config(app: Any) -> uvicorn.Config:
    """uvicorn's settings for the hub's app.

    Proxy headers off: ``X-Forwarded-For`` is read by the app, from ``[web]
    trusted_proxies`` only (hub/web/client.py), never from any loopback peer.
    """
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                          server_header=False, proxy_headers=False)


async def _run(config: HubConfig) -> None:
    from hub.web.app import create_app  # FastAPI and friends: only for run

    sock = _bind(config.web.host, config.web.port)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if config.broker.mode == "embedded":
                config = await stack.enter_async_context(embedded_broker(config))
            app = create_app(config, ingest=True)
            if config.dicom.enabled:
                from hub.rdsr.scp import serving  # pydicom, pynetdicom: only when on
                await stack.enter_async_context(serving(config.dicom, config.store.path))
            server = _Server(web_server_config(app))

            def stop() -> None:
                server.should_exit = True

            app.state.on_ingest_exit = stop
            def reload() -> None:
                if app.state.ingest is not None:
                    app.state.ingest.reload_rooms()

            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop)
            loop.add_signal_handler(signal.SIGHUP, reload)  # the devices file changed
            log("hub_starting", version=version("voyant"), store=config.store.path,
                broker=config.broker.mode, host=config.mqtt.host, port=config.mqtt.port,
                client_id=config.mqtt.client_id)
            log("web_listening", url=_url(sock))
            try:
                await server.serve(sockets=[sock])
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(signum)
            if app.state.ingest_error is not None:
                raise app.state.ingest_error
            log("hub_stopped")
    finally:
        sock.close()


def _read_new_password(path: str | None) -> str:
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--password-file: cannot read {path}: {exc}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"--password-file: {path} is empty")
        return lines[0]
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ConfigError("password: the two entries differ")
    return first


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _accounts_command(args: argparse.Namespace, config: HubConfig) -> int:
    from hub.commands import say_upgraded
    from hub.db.connection import connect
    from hub.db.store import Store
    from hub.web.accounts import AccountError, add_user, find_user, new_token

    store = Store.open(config.store.path)  # brings it to this hub's schema, or refuses it
    say_upgraded(store)
    store.close()
    conn = connect(config.store.path)
    try:
        if args.command == "user":
            password = _read_new_password(args.password_file)
            uid = add_user(conn, args.username, password, args.role, args.display_name,
                           actor=_cli_actor())
            print(f"account {args.username.strip()} created (id {uid}, role {args.role})")
            return 0
        user = find_user(conn, args.username)
        if user is None:
            print(f"username: no active account {args.username!r}", file=sys.stderr)
            return 2
        token = new_token(conn, user.id, args.name, args.scope, actor=_cli_actor())
        print(token)  # once: only its hash is kept
        return 0
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker-config"]:
        return broker_config_main(argv[1:])
    if argv[:1] == ["device"]:
        from hub.broker.provisioning import device_main

        return device_main(argv[1:])
    if argv[:1] == ["quarantine"]:
        from hub.ingest.quarantine import quarantine_main

        return quarantine_main(argv[1:])
    if argv[:1] == ["journal"]:
        from hub.ingest.jumps import journal_main

        return journal_main(argv[1:])
    if argv[:1] == ["verify"]:
        from hub.commands import verify_main

        return verify_main(argv[1:])
    if argv[:1] == ["rdsr"]:
        from hub.rdsr.cli import rdsr_main

        return rdsr_main(argv[1:])
    if argv[:1] == ["reconcile"]:
        from hub.rdsr.reconcile_cli import reconcile_main

        return reconcile_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"voyant {version('voyant')}")
        return 0
    path = args.file if args.command == "check-config" else args.config
    try:
        config = _load(path) if args.command in ("run", "check-config") else load_config(path)
        if args.command in ("user", "token"):
            return _accounts_command(args, config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.command == "check-config":
        print(f"{path}: ok (broker {config.broker.mode}, store {config.store.path})")
        return 0
    setup_logging(args.log_level)
    try:
        asyncio.run(_run(config))
    except (StoreError, WebBindError, CatalogError, DicomBindError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
