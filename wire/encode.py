"""Encoding what the contract defines: the dose-rate value and record batches.

Kept apart from :mod:`wire.contract` (which re-exports them) so that the contract
module holds the rules and the decoding; these write what those rules read.
"""

from __future__ import annotations

import json
from typing import Any

from wire.records import SCHEMA_VERSION


def dose_rate_payload(usv_h: float) -> bytes:
    """The plain retained value for dashboards: µSv/h with 4 significant digits."""
    return f"{usv_h:.4g}".encode()


def batch_payload(
    kind: str, device: str, site: str, room: str, journal: str, sent: str,
    items: list[dict[str, Any]], oldest: int | None = None,
) -> bytes:
    """A record batch, encoded without validation (for tests and benchmarks).

    ``items`` are consecutive records (each a dict with its ``seq``) of ``kind``.
    """
    return batch_from_json(kind, device, site, room, journal, sent,
                           [json.dumps(item, separators=(",", ":")) for item in items],
                           items[0]["seq"], items[-1]["seq"], oldest)


def batch_from_json(
    kind: str, device: str, site: str, room: str, journal: str, sent: str,
    items: list[str], first: int, last: int, oldest: int | None = None,
) -> bytes:
    """A record batch around records already validated and serialised (the agent's outbox
    holds each record's JSON as its model wrote it: it is sent as stored)."""
    head = json.dumps(
        {"v": SCHEMA_VERSION, "device": device, "site": site, "room": room, "journal": journal,
         "kind": kind, "first": first, "last": last, "sent": sent, "oldest": oldest},
        separators=(",", ":"),
    )
    return (head[:-1] + ',"items":[' + ",".join(items) + "]}").encode()
