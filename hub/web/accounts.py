"""Local accounts: argon2 password hashes, roles, and API tokens (stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.web.auth import ROLES, Role, User
from hub.web.db import write

HASHER = PasswordHasher()

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('viewer', 'pcr', 'admin')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class AccountError(ValueError):
    """A bad username, password or role: the message names which."""


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def add_user(conn: sqlite3.Connection, username: str, password: str, role: str,
             display_name: str = "") -> int:
    """Create an account; refuse a weak password, an unknown role or a taken username."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("username: 1 to 64 characters, no spaces")
    if role not in ROLES:
        raise AccountError(f"role: expected one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise AccountError("password: at least 10 characters")
    try:
        with write(conn):
            cursor = conn.execute(
                "INSERT INTO users (username, display_name, role, password_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [username, display_name, role, HASHER.hash(password), now_iso()])
    except sqlite3.IntegrityError:
        raise AccountError(f"username: {username!r} is taken") from None
    return int(cursor.lastrowid or 0)


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    role: Role = row["role"]
    return User(int(row["id"]), str(row["username"]), role, str(row["display_name"]))


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE id = ? AND active = 1", [user_id]).fetchone()
    return _user(row)


def authenticate(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    """The account if the password matches (constant work whether or not the user exists)."""
    row = conn.execute("SELECT * FROM users WHERE username = ? AND active = 1",
                       [username.strip()]).fetchone()
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    try:
        HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return _user(row)


def new_token(conn: sqlite3.Connection, user_id: int, name: str) -> str:
    """A new API token for ``user_id``: shown once, stored only as its SHA-256."""
    token = "vy_" + secrets.token_urlsafe(32)
    with write(conn):
        conn.execute("INSERT INTO api_tokens (user_id, name, token_sha256, created_at)"
                      " VALUES (?, ?, ?, ?)", [user_id, name, _sha256(token), now_iso()])
    return token


def user_for_token(conn: sqlite3.Connection, token: str) -> User | None:
    row = conn.execute(
        "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_sha256 = ? AND t.revoked_at IS NULL AND u.active = 1",
        [_sha256(token)]).fetchone()
    return _user(row)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_DUMMY_HASH = HASHER.hash("not a password: makes unknown users cost as much as known ones")
