"""``voyant-hub reconcile --room SITE/ROOM --from DATE --to DATE [--json] --config FILE``:
a room's emissions reconciled with its RDSRs over Paris days ``--from`` to ``--to``
(included), written as the ``reconcile`` job writes them (matches, events; the emissions
before the room's dose report feed started counted, not judged), then said:
text for a person, or the fixed JSON form of docs/reconcile.md.

Exit 0; 2 for a hostile argument or a bad configuration (one line naming it), 1 when the
store cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Final, NoReturn

from wire.errors import ConfigError

#: The longest range a command reconciles at once (a year and a day).
MAX_DAYS: Final = 367


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit 2, not argparse's usage block."""
        self.exit(2, f"voyant-hub reconcile: {' '.join(message.split())}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="voyant-hub reconcile",
                     description="a room's emissions reconciled with its RDSRs")
    parser.add_argument("--room", required=True, help="SITE/ROOM")
    parser.add_argument("--from", dest="first", required=True, help="first Paris day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, help="last Paris day (included)")
    parser.add_argument("--json", action="store_true", help="the fixed JSON form")
    parser.add_argument("--config", default="/etc/voyant/hub.toml",
                        help="the hub's TOML configuration")
    return parser


def _refuse(message: str) -> int:
    print(f"voyant-hub reconcile: {message}", file=sys.stderr)
    return 2


def _day(text: str, name: str) -> date:
    if len(text) != 10 or not text.isascii():
        raise ValueError(f"{name}: expected a day, YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: expected a day, YYYY-MM-DD") from None


def _room(text: str) -> tuple[str, str]:
    site, sep, room = text.partition("/")
    if (not sep or not site or not room or "/" in room or len(text) > 200
            or any(ch < " " or ch == "\x7f" for ch in text)):
        raise ValueError("--room: expected SITE/ROOM")
    return site, room


def reconcile_main(argv: list[str], now: datetime | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        site, room = _room(args.room)
        first, last = _day(args.first, "--from"), _day(args.last, "--to")
        if last < first:
            raise ValueError("--to: before --from")
        if (last - first).days >= MAX_DAYS:
            raise ValueError(f"--from/--to: more than {MAX_DAYS} days at once")
        if first.year < 2000 or last.year > 8999:
            raise ValueError("--from/--to: from 2000 to 8999")
    except ValueError as exc:
        return _refuse(str(exc))
    from hub.config import load_config
    from hub.db.connection import connect
    from hub.db.store import Store
    from hub.errors import StoreError
    from hub.rdsr import reconcile_out
    from hub.rdsr.reconcile_store import RoomUnknown, paris_days, reconcile_room

    try:
        config = load_config(args.config)
        Store.open(config.store.path).close()  # brings it to this hub's schema, or refuses
    except ConfigError as exc:
        return _refuse(" ".join(str(exc).split()))
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    start, end = paris_days(first, last)
    dicom = config.dicom
    conn = connect(config.store.path)
    try:
        done = reconcile_room(conn, site, room, start, end, now or datetime.now(UTC),
                              dicom.reconcile_wait_h, dicom.reconcile_tolerance_s,
                              dicom.clock_tolerance_s, dicom.reconcile_group_max_s)
    except RoomUnknown as exc:
        return _refuse(str(exc))
    finally:
        conn.close()
    if args.json:
        out = reconcile_out.as_json(done)
        out.update({"from": first.isoformat(), "to": last.isoformat()})
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print("\n".join(reconcile_out.as_text(done)))
    return 0
