"""Server-side sessions: one row per login, so that ending one takes effect at once.

The cookie carries a random session id (signed, :mod:`hub.web.session`); the
store keeps only its SHA-256, with the account, when it started, when it was
last used, when it ends for good, and the address and browser it came from.
A session is live while it is not revoked, not past ``expires_at`` (the
absolute limit, ``[web] session_max_hours``) and used within the idle limit
(``[web] session_hours``). Revoking sets ``revoked_at``: logout, a password
change (the other sessions), a deactivation, and "end sessions" by the user
or an admin. Rows are kept :data:`KEEP_DAYS` after they end: they are how the
login throttle knows the addresses an account has logged in from.

Writers call these inside their own ``with write(conn):``, with the audit row.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from hub.timefmt import whole_seconds as iso  # instants compared as text: fixed width

#: ``last_seen_at`` is written at most this often per session (a GET rarely writes).
TOUCH_EVERY_S = 60
#: Ended sessions are deleted this long after they end.
KEEP_DAYS = 90
USER_AGENT_MAX = 200


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a session lasts: ``idle_s`` without a request, ``max_s`` in all."""

    idle_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class Live:
    """A live session found by its id: its row and its (active) account's row."""

    id: int
    user: sqlite3.Row
    last_seen_at: str


def start(conn: sqlite3.Connection, user_id: int, ip: str, user_agent: str, policy: Policy,
          now: float) -> tuple[str, int]:
    """A new session for ``user_id``: its secret id (for the cookie, never stored) and row id."""
    sid = secrets.token_urlsafe(32)
    agent = "".join(c for c in user_agent if c.isprintable())[:USER_AGENT_MAX]
    cursor = conn.execute(
        "INSERT INTO sessions (user_id, sid_sha256, created_at, last_seen_at, expires_at, ip,"
        " user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [user_id, _sha256(sid), iso(now), iso(now), iso(now + policy.max_s), ip[:64], agent])
    return sid, int(cursor.lastrowid or 0)


def find(conn: sqlite3.Connection, sid: str, policy: Policy, now: float) -> Live | None:
    """The live session of cookie id ``sid``, with its account, or None."""
    if not isinstance(sid, str) or not 20 <= len(sid) <= 100:
        return None
    row = conn.execute(
        "SELECT s.id AS session_id, s.last_seen_at AS session_seen, u.* FROM sessions s"
        " JOIN users u ON u.id = s.user_id WHERE s.sid_sha256 = ? AND s.revoked_at IS NULL"
        " AND s.expires_at > ? AND s.last_seen_at > ? AND u.active = 1",
        [_sha256(sid), iso(now), iso(now - policy.idle_s)]).fetchone()
    if row is None:
        return None
    return Live(int(row["session_id"]), row, str(row["session_seen"]))


def touch(conn: sqlite3.Connection, live: Live, now: float) -> None:
    """Note that the session was used (at most every :data:`TOUCH_EVERY_S`).

    Best effort: when the store is busy the next request will do it.
    """
    if live.last_seen_at > iso(now - TOUCH_EVERY_S):
        return
    with contextlib.suppress(sqlite3.OperationalError):  # busy: the next request will
        conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND revoked_at IS NULL",
                     [iso(now), live.id])


def end(conn: sqlite3.Connection, session_id: int, why: str, now: float,
        user_id: int | None = None) -> bool:
    """Revoke one session (of ``user_id`` if given); False if there was no such live one."""
    sql = "UPDATE sessions SET revoked_at = ?, revoked_why = ? WHERE id = ? AND revoked_at IS NULL"
    params: list[object] = [iso(now), why, session_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    return conn.execute(sql, params).rowcount > 0


def end_user(conn: sqlite3.Connection, user_id: int, why: str, now: float,
             keep: int | None = None) -> int:
    """Revoke every session of ``user_id`` (but ``keep``); the number revoked."""
    return conn.execute(
        "UPDATE sessions SET revoked_at = ?, revoked_why = ? WHERE user_id = ?"
        " AND revoked_at IS NULL AND id IS NOT ?", [iso(now), why, user_id, keep]).rowcount


def end_all(conn: sqlite3.Connection, why: str, now: float, keep: int | None = None) -> int:
    """Revoke every session of every account (but ``keep``); the number revoked."""
    return conn.execute(
        "UPDATE sessions SET revoked_at = ?, revoked_why = ? WHERE revoked_at IS NULL"
        " AND id IS NOT ?", [iso(now), why, keep]).rowcount


def live_of(conn: sqlite3.Connection, user_id: int, policy: Policy,
            now: float) -> list[sqlite3.Row]:
    """``user_id``'s live sessions, the most recently used first."""
    return list(conn.execute(
        "SELECT id, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions"
        " WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at > ?"
        " ORDER BY last_seen_at DESC, id DESC", [user_id, iso(now), iso(now - policy.idle_s)]))


def live_counts(conn: sqlite3.Connection, policy: Policy, now: float) -> dict[int, int]:
    """The number of live sessions of each account that has any."""
    return {int(row[0]): int(row[1]) for row in conn.execute(
        "SELECT user_id, count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?"
        " AND last_seen_at > ? GROUP BY user_id", [iso(now), iso(now - policy.idle_s)])}


def known_address(conn: sqlite3.Connection, username: str, ip: str) -> bool:
    """Has ``username`` logged in from ``ip`` before (within :data:`KEEP_DAYS`)?"""
    return conn.execute(
        "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.ip = ? AND u.username = ? LIMIT 1", [ip, username.strip()]).fetchone() is not None


def prune(conn: sqlite3.Connection, now: float) -> int:
    """Delete sessions ended (revoked or expired) more than :data:`KEEP_DAYS` ago."""
    horizon = iso(now - KEEP_DAYS * 86400)
    return conn.execute(
        "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < ?)"
        " OR expires_at < ?", [horizon, horizon]).rowcount


def _sha256(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
