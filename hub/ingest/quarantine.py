"""``voyant-hub quarantine list|replay``: the records the hub refused, and their second chance.

A quarantined record is kept whole with the reason it was refused (see
:mod:`hub.ingest.intake`). After an upgrade that reads it (a contract bug fixed, a
new field understood), ``replay`` validates each record again with today's
contract and stores those that now pass, exactly as the ingest would have
(record rows and, for an alarm, its event); the others stay, with today's
reason. A record that never counted for the acknowledgement (it came after a
jump) is not replayed: the agent still holds it and sends it again.

Replay writes through SQLite's own locking (WAL, busy time-out), so it may
run while the hub runs; nothing it does moves a sequence number.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from hub import timefmt
from hub.chain.arrival import Arrived
from hub.commands import config_and_store
from hub.config import Ingest as IngestSettings
from hub.db.rollups import recompute_readings
from hub.db.store import Store
from hub.ingest.intake import implausible, plausible_window, record_kind, write
from wire.contract import ITEM_MODELS, ReadingItem
from wire.settings import summarize_errors

_COLUMNS = ("id", "device", "journal", "seq", "kind", "received_at", "counted", "replayed_at",
            "reason")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voyant-hub quarantine",
        description="Records the hub refused (kept whole) and their replay after an upgrade.")
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("list", help="list quarantined records (newest first)")
    show.add_argument("--config", required=True, help="the hub's TOML configuration")
    show.add_argument("--device", help="only this device")
    show.add_argument("--all", action="store_true", help="also those already replayed")
    show.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    show.add_argument("--json", action="store_true", help="JSON lines, the record included")
    again = sub.add_parser("replay", help="store the quarantined records that now validate")
    again.add_argument("--config", required=True, help="the hub's TOML configuration")
    again.add_argument("--device", help="only this device")
    return parser


def listing(store: Store, device: str | None, include_replayed: bool,
            limit: int) -> list[dict[str, object]]:
    where, params = ["1 = 1"], []
    if device:
        where.append("device = ?")
        params.append(device)
    if not include_replayed:
        where.append("replayed_at IS NULL")
    rows = store.conn.execute(
        f"SELECT {', '.join(_COLUMNS)}, item FROM quarantine WHERE {' AND '.join(where)}"
        " ORDER BY id DESC LIMIT ?", [*params, max(1, limit)])
    return [dict(zip((*_COLUMNS, "item"), row, strict=True)) for row in rows]


def replay(store: Store, device: str | None, now: datetime,
           settings: IngestSettings | None = None) -> tuple[int, int, int]:
    """Returns (stored, still refused, left for the agent's resend). A replayed record's
    clock is judged against when it was first received, as the ingest would have."""
    settings = settings or IngestSettings()
    at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sql = ("SELECT id, device, site, room, journal, seq, kind, item, counted, received_at"
           " FROM quarantine"
           " WHERE replayed_at IS NULL")
    params: list[object] = []
    if device:
        sql += " AND device = ?"
        params.append(device)
    stored = refused = waiting = 0
    for qid, dev, site, room, journal, seq, kind, item, counted, received in store.conn.execute(
            sql + " ORDER BY id", params).fetchall():
        if not counted:
            waiting += 1
            continue
        model = ITEM_MODELS.get(kind)
        try:
            if model is None:
                raise ValueError(f"unknown record kind {kind!r}")
            record = model.model_validate_json(item)
            if record.seq != seq:
                raise ValueError(f"seq {record.seq} is not the quarantined {seq}")
        except (ValidationError, ValueError) as exc:
            reason = summarize_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            with store.transaction():
                store.conn.execute("UPDATE quarantine SET reason = ? WHERE id = ?",
                                   (reason, qid))
            refused += 1
            continue
        with store.transaction():
            window = plausible_window(timefmt.parse(received), settings)
            write(store, (dev, site, room, journal), record, at, implausible(record, window))
            if isinstance(record, ReadingItem):  # below the rollups' watermark: count it now
                recompute_readings(store.conn, dev, [record.start])
            arrived = Arrived.of(seq, kind, json.loads(item))  # as received, as the chain has it
            store.conn.execute(
                "UPDATE received SET kind = ?, hash = ?, prev = ?, body = ? WHERE device = ?"
                " AND journal = ? AND seq = ?",
                (record_kind(record), arrived.hash, arrived.prev, arrived.body, dev, journal,
                 seq))
            store.conn.execute("UPDATE quarantine SET replayed_at = ? WHERE id = ?", (at, qid))
        stored += 1
    return stored, refused, waiting


def quarantine_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    opened = config_and_store(args.config)
    if isinstance(opened, int):
        return opened
    config, store = opened
    try:
        if args.action == "list":
            rows = listing(store, args.device, args.all, args.limit)
            for row in rows:
                if args.json:
                    print(json.dumps(row, ensure_ascii=False))
                else:
                    state = "replayed" if row["replayed_at"] else (
                        "counted" if row["counted"] else "awaiting resend")
                    print(f"#{row['id']} {row['device']} {row['journal']}:{row['seq']}"
                          f" {row['kind']} {row['received_at']} [{state}] {row['reason']}")
            if not args.json:
                print(f"{len(rows)} quarantined record(s)")
            return 0
        stored, refused, waiting = replay(store, args.device, datetime.now(UTC), config.ingest)
        print(f"replayed: {stored} stored, {refused} still refused,"
              f" {waiting} left for the agent to resend")
        return 0
    except sqlite3.Error as exc:
        print(f"{config.store.path}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
