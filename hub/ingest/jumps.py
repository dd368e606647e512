"""``voyant-hub journal list|accept-jump|export``: a journal's acknowledgement, an admin's
word, and its records as received (:mod:`hub.chain.export`).

The hub refuses records further than the contract's window beyond what it
holds, and believes an agent's "I hold nothing below N" only up to
``[ingest] max_lost_declared`` records: a box cannot lie a whole journal away.
When a real jump happened (a box restored from an old image, a store restored
from a copy much older than that), an admin says so here, with a name and a
reason. The running ingest applies it at its next tick (the one writer of the
sequence state): what lies below is declared lost in a ``data_gap`` event
carrying who accepted it and why, and the journal flows again.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from hub.commands import add_days, config_and_store, export_main
from hub.timefmt import iso
from wire.contract import DEVICE_PATTERN, MAX_SEQ


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-hub journal",
                                     description="The devices' journals as the hub holds them.")
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("list", help="every journal: device, id, acknowledged up to")
    show.add_argument("--config", required=True, help="the hub's TOML configuration")
    jump = sub.add_parser("accept-jump", help="let a journal go on from OLDEST: what the hub "
                          "lacks below it is declared lost (applied by the running hub)")
    jump.add_argument("--config", required=True, help="the hub's TOML configuration")
    jump.add_argument("device", help="the device id")
    jump.add_argument("journal", help="the journal id (32 hex digits)")
    jump.add_argument("oldest", type=int, help="the first sequence number the hub waits for")
    jump.add_argument("--by", required=True, help="who accepts it (kept in the event)")
    jump.add_argument("--reason", required=True, help="why (kept in the event)")
    export = sub.add_parser("export", help="DEVICE's records as received, with their hashes,"
                            " in JSON lines (docs/protocol.md, \"The hash chain\")")
    export.add_argument("--config", required=True, help="the hub's TOML configuration")
    export.add_argument("device", help="the device id")
    export.add_argument("--journal", help="only this journal (default: each in turn)")
    export.add_argument("--out", help="the file to write (default: stdout)")
    add_days(export, "records")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    if not re.match(DEVICE_PATTERN, args.device):
        return f"device {args.device!r}: not a device id"
    if not re.fullmatch(r"[0-9a-f]{32}", args.journal):
        return f"journal {args.journal!r}: expected 32 hex digits"
    if not 1 <= args.oldest <= MAX_SEQ:
        return f"oldest {args.oldest}: expected 1..{MAX_SEQ}"
    if not args.by.strip() or not args.reason.strip():
        return "--by and --reason: say who and why"
    return None


def journal_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "export":  # reads only: never opens the store to write
        return export_main(args)
    opened = config_and_store(args.config)
    if isinstance(opened, int):
        return opened
    _, store = opened
    try:
        if args.action == "list":
            for device, journal, upto in sorted(store.journals()):
                print(f"{device} {journal} acknowledged up to {upto}")
            return 0
        problem = _check(args)
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2
        known = {(d, j): upto for d, j, upto in store.journals()}
        if (args.device, args.journal) not in known:
            print(f"{args.device} has no journal {args.journal} at this hub", file=sys.stderr)
            return 1
        if args.oldest - 1 <= known[(args.device, args.journal)]:
            print(f"nothing to accept: the hub holds {args.journal} up to "
                  f"{known[(args.device, args.journal)]}", file=sys.stderr)
            return 1
        with store.transaction():
            store.conn.execute(
                "INSERT INTO accepted_jumps (device, journal, oldest, accepted_by, accepted_at,"
                " reason) VALUES (?, ?, ?, ?, ?, ?)",
                (args.device, args.journal, args.oldest, args.by.strip()[:200],
                 iso(datetime.now(UTC).timestamp()), args.reason.strip()[:1000]))
        print(f"accepted: {args.device} {args.journal} goes on from {args.oldest} "
              "(the running hub applies it within a second)")
        return 0
    finally:
        store.close()
