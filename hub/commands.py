"""What the hub's store commands share (``quarantine``, ``journal``, ``verify``): their
configuration and store opened (to write, or only to read), or the exit status after
saying what is wrong."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from hub.config import HubConfig, load_config
from hub.db import migrations
from hub.db.connection import connect
from hub.db.store import Store
from hub.errors import StoreError
from wire.errors import ConfigError


def say_upgraded(store: Store) -> None:
    """A command that upgraded the store says so (its log is not the service's journal)."""
    if store.upgraded is not None:
        before, after = store.upgraded
        print(f"{store.path}: store upgraded from schema version {before} to {after}",
              file=sys.stderr)


def config_and_store(config_path: str) -> tuple[HubConfig, Store] | int:
    """The configuration and its store; else 2 (the configuration) or 1 (the store), the
    reason on stderr."""
    try:
        config = load_config(config_path)
        store = Store.open(config.store.path)
        say_upgraded(store)
        return config, store
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1


def config_and_reader(config_path: str) -> tuple[HubConfig, sqlite3.Connection] | int:
    """The configuration and a connection that cannot write to its store (``mode=ro``: a
    check must never change what it checks, nor upgrade it); else 2 or 1, as above. A
    store at another schema version than this hub's is not read: the hub (or a store
    command) upgrades it first."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    path = config.store.path
    if not Path(path).is_file():
        print(f"{path}: no store there", file=sys.stderr)
        return 1
    try:
        conn = connect(path, read_only=True)
        found = migrations.version(conn)
    except sqlite3.Error as exc:
        print(f"{path}: cannot read the store: {exc}", file=sys.stderr)
        return 1
    if found != migrations.LATEST:
        conn.close()
        print(f"{path}: the store is at schema version {found}, this hub's is"
              f" {migrations.LATEST}: run the hub (or voyant-hub journal list) once to"
              " upgrade it, then check it", file=sys.stderr)
        return 1
    return config, conn


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date, YYYY-MM-DD") from None


def add_days(parser: argparse.ArgumentParser, what: str) -> None:
    """``--from`` and ``--to``: Paris days, both included, on when the hub stored a record."""
    parser.add_argument("--from", dest="since", type=_day, metavar="DATE",
                        help=f"{what} stored from this Paris day on (YYYY-MM-DD)")
    parser.add_argument("--to", dest="until", type=_day, metavar="DATE",
                        help=f"{what} stored up to this Paris day, included")


def verify_main(argv: Sequence[str]) -> int:
    """``voyant-hub verify``: the store checked at rest (:mod:`hub.chain.verify`); exit 0
    when intact (declared gaps included), 1 on any break, alteration, undeclared gap or
    conflict, 2 on a bad configuration or argument."""
    from hub.chain.verify import report, verify

    parser = argparse.ArgumentParser(
        prog="voyant-hub verify",
        description="Check the store: every record against its hash, every link of each"
                    " journal's chain, every row the pages read against its record, every"
                    " hole declared; it writes nothing.")
    parser.add_argument("--config", required=True, help="the hub's TOML configuration")
    parser.add_argument("--device", help="only this device")
    add_days(parser, "records")
    args = parser.parse_args(argv)
    opened = config_and_reader(args.config)
    if isinstance(opened, int):
        return opened
    _, conn = opened
    try:
        lines, status = report(verify(conn, args.device, args.since, args.until))
    except sqlite3.Error as exc:
        print(f"cannot read the store: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    for line in lines:
        print(line)
    return status


def export_main(args: argparse.Namespace) -> int:
    """``voyant-hub journal export``: the JSON lines of :mod:`hub.chain.export`, to
    ``--out`` or stdout. Any failure is said in one line (what was written so far is no
    export to hand an inspector), never a traceback."""
    from hub.chain.export import export_lines

    opened = config_and_reader(args.config)
    if isinstance(opened, int):
        return opened
    _, conn = opened
    written = 0
    try:
        with (open(args.out, "w", encoding="utf-8") if args.out
              else contextlib.nullcontext(sys.stdout)) as out:
            for line in export_lines(conn, args.device, args.journal, args.since, args.until):
                out.write(line + "\n")
                written += 1
    except Exception as exc:  # said to the admin in one line, whatever it is
        print(f"export failed after {written} line(s): {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        conn.close()
    if written == 0:
        print(f"{args.device}: no record to export", file=sys.stderr)
        return 1
    if args.out:
        print(f"{written} lines written to {args.out}", file=sys.stderr)
    return 0
