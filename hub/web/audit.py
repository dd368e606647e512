"""The audit log: who did what, when, from where.

Every action that changes something (login, logout, accounts, tokens, and the
PCR's acknowledgements, qualifications, closures and declarations) adds one
row to the ``audit`` table with :func:`record`.

**Call** :func:`record` **inside your own write transaction**, with the same
connection, so the action and its audit row are committed together or not at
all (nothing done without a trace, no trace of something undone)::

    from hub.web.audit import record
    from hub.db.connection import write

    with write(db):
        db.execute("UPDATE events SET acknowledged_at = ? WHERE id = ?", [now, event_id])
        record(db, user, "event.acknowledge", f"event:{event_id}", {"note": note}, request)

``record`` refuses (``RuntimeError``) a connection that is not in a transaction.
Actions are dotted ``area.verb`` names (``event.qualify``, ``user.create``);
``target`` names the object (``event:42``, ``user:alice``); ``detail`` is any
JSON-serialisable mapping (never a password or a token).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from hub.web.auth import User
from hub.web.client import request_address


def client_ip(request: Request | None) -> str:
    """The client's address (through ``[web] trusted_proxies`` only, :mod:`hub.web.client`)."""
    if request is None:
        return ""
    return request_address(request)


def record(conn: sqlite3.Connection, user: User | str | None, action: str, target: str = "",
           detail: Mapping[str, Any] | None = None, request: Request | None = None) -> int:
    """Add one audit row, in the caller's open write transaction; return its id.

    ``user`` is the acting account, or a bare username (a failed login), or None
    (the system, the command line without an account).
    """
    if not conn.in_transaction:
        raise RuntimeError("audit.record must be called inside the caller's write() transaction")
    username = user.username if isinstance(user, User) else (user or "")
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    cursor = conn.execute(
        "INSERT INTO audit (at, username, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)",
        [at, username, action, target,
         json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
         client_ip(request)])
    return int(cursor.lastrowid or 0)


def entries(conn: sqlite3.Connection, username: str = "", action: str = "",
            limit: int = 200, before_id: int | None = None) -> list[dict[str, Any]]:
    """The newest rows first, filtered by exact username and action (prefix ``event.``)."""
    sql = "SELECT * FROM audit WHERE 1 = 1"
    params: list[Any] = []
    if username:
        sql += " AND username = ? COLLATE NOCASE"
        params.append(username)
    if action:
        if action.endswith("."):
            sql += " AND action LIKE ? ESCAPE '\\'"
            params.append(action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                          + "%")
        else:
            sql += " AND action = ?"
            params.append(action)
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [{**dict(row), "detail": json.loads(row["detail"])}
            for row in conn.execute(sql, params)]


def actions(conn: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT action FROM audit ORDER BY action")]
