"""Local accounts: argon2 password hashes, roles, and API tokens (stored hashed).

A password change ends the account's other sessions and a deactivation all of
them (:mod:`hub.web.session_store`); API tokens are revoked on their own.

A token has a scope: ``api`` (the JSON API, and the calendar feed through a
bearer header) or ``calendar`` (the calendar feed only). Feed addresses
carry their token in the URL and get pasted into cloud calendar services, so
what they carry must not be able to write anything.

Every change is one transaction with its audit row (:mod:`hub.web.audit`).
Refusals raise :class:`AccountError` naming the field, with an English message
marked for translation (the page shows it in the reader's language, next to
the field; the command line prints it as is).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from hub.db.connection import write
from hub.messages import N_
from hub.web import audit, session_store
from hub.web.auth import ROLES, Role, User
from wire.errors import HubError

#: argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, m=64 MiB, p=4): a sixth of a
#: second of CPU per hash or check here, the point against a stolen store. The tests swap in
#: cheap ones (:func:`use_hasher`, from tests/conftest.py); a hash records its own
#: parameters, so :func:`authenticate` verifies hashes made with either.
PRODUCTION_HASHER = PasswordHasher()
HASHER = PRODUCTION_HASHER
MIN_PASSWORD = 10
TOKEN_PREFIX = "vy_"

Scope = Literal["api", "calendar"]
#: ``api``: what a token did before scopes (the default); ``calendar``: the ICS feed only.
SCOPES: tuple[Scope, ...] = ("api", "calendar")

#: Refused whatever their length: the first guesses of any attacker.
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "0123456789", "azertyuiop", "qwertyuiop", "motdepasse",
    "motdepasse1", "password12", "password123", "password1234", "administrateur",
    "administrator", "changeme123", "voyantvoyant", "bonjour1234", "soleil1234",
})


class AccountError(HubError, ValueError):
    """A refused value: ``field`` names the form field, ``message`` (English) says why.

    ``message`` is a translatable template; ``params`` fill it after translation.
    """

    def __init__(self, field: str, message: str, **params: Any) -> None:
        self.field, self.message, self.params = field, message, params
        super().__init__(f"{field}: {message.format(**params)}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("username", N_("1 to 64 characters, no spaces"))
    if not all(c.isalnum() or c in "._-@" for c in username):
        raise AccountError("username", N_("letters, digits and . _ - @ only"))
    return username


def check_password(password: str, username: str = "") -> None:
    """Refuse a weak password: too short, the username, one repeated character, a common one."""
    if len(password) < MIN_PASSWORD:
        raise AccountError("password", N_("at least {n} characters"), n=MIN_PASSWORD)
    if len(password) > 1024:
        raise AccountError("password", N_("at most 1024 characters"))
    lowered = password.lower()
    if (username and username.lower() in lowered) or len(set(password)) < 4 \
            or lowered in COMMON_PASSWORDS:
        raise AccountError("password", N_("too easy to guess: choose a longer, less common one"))


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError("role", N_("expected one of {roles}"), roles=", ".join(ROLES))
    return role


def add_user(conn: sqlite3.Connection, username: str, password: str, role: str,
             display_name: str = "", *, actor: User | str | None = None,
             request: Request | None = None) -> int:
    """Create an account; refuse a weak password, an unknown role or a taken username."""
    username = check_username(username)
    checked_role = check_role(role)
    display_name = display_name.strip()
    if len(display_name) > 100:
        raise AccountError("display_name", N_("at most 100 characters"))
    check_password(password, username)
    try:
        with write(conn):
            cursor = conn.execute(
                "INSERT INTO users (username, display_name, role, password_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [username, display_name, checked_role, HASHER.hash(password), now_iso()])
            uid = int(cursor.lastrowid or 0)
            audit.record(conn, actor, "user.create", f"user:{username}",
                         {"role": checked_role, "display_name": display_name}, request)
    except sqlite3.IntegrityError:
        raise AccountError("username", N_("{username} is taken"), username=username) from None
    return uid


def set_active(conn: sqlite3.Connection, user_id: int, active: bool, *,
               actor: User | str | None = None, request: Request | None = None) -> User:
    """Deactivate (or reactivate) an account; its sessions and tokens stop working at once.

    Its sessions are revoked too: reactivating it does not bring them back.
    """
    with write(conn):
        row = conn.execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone()
        if row is None:
            raise AccountError("user", N_("no such account"))
        if isinstance(actor, User) and actor.id == user_id and not active:
            raise AccountError("user", N_("you cannot deactivate your own account"))
        conn.execute("UPDATE users SET active = ? WHERE id = ?", [int(active), user_id])
        detail = {} if active else {
            "sessions_ended": session_store.end_user(conn, user_id, "deactivated", time.time())}
        audit.record(conn, actor, "user.activate" if active else "user.deactivate",
                     f"user:{row['username']}", detail, request)
    user = row_user(row)
    assert user is not None
    return user


def list_users(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return list(conn.execute(
        "SELECT id, username, display_name, role, active, created_at FROM users"
        " ORDER BY active DESC, username"))


def row_user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    role: Role = row["role"]
    return User(int(row["id"]), str(row["username"]), role, str(row["display_name"]))


def find_user(conn: sqlite3.Connection, username: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE username = ? AND active = 1",
                       [username.strip()]).fetchone()
    return row_user(row)


def authenticate(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    """The account if the password matches (constant work whether or not the user exists)."""
    row = conn.execute("SELECT * FROM users WHERE username = ? AND active = 1",
                       [username.strip()]).fetchone()
    stored = row["password_hash"] if row is not None else dummy_hash()
    try:
        HASHER.verify(stored, password[:1024])
    except (VerificationError, InvalidHashError):
        return None
    return row_user(row)


def change_password(conn: sqlite3.Connection, user: User, current: str, new: str, *,
                    keep_session: int | None, request: Request | None = None) -> int:
    """Change ``user``'s own password; end their other sessions; the number ended.

    ``current`` must be right (a session left open is not the password);
    ``keep_session`` is the session asking, which stays open.
    """
    if authenticate(conn, user.username, current) is None:
        raise AccountError("current", N_("this is not your current password"))
    check_password(new, user.username)
    if new == current:
        raise AccountError("password", N_("the new password must differ from the current one"))
    with write(conn):
        updated = conn.execute("UPDATE users SET password_hash = ? WHERE id = ? AND active = 1",
                               [HASHER.hash(new), user.id]).rowcount
        if not updated:
            raise AccountError("user", N_("no such account"))
        ended = session_store.end_user(conn, user.id, "password", time.time(),
                                       keep=keep_session)
        audit.record(conn, user, "user.password", f"user:{user.username}",
                     {"sessions_ended": ended}, request)
    return ended


def check_scope(scope: str) -> Scope:
    if scope not in SCOPES:
        raise AccountError("scope", N_("expected one of {scopes}"), scopes=", ".join(SCOPES))
    return scope


def new_token(conn: sqlite3.Connection, user_id: int, name: str, scope: str = "api", *,
              actor: User | str | None = None, request: Request | None = None) -> str:
    """A new token for ``user_id``: shown once, stored only as its SHA-256.

    ``scope`` is ``api`` (the JSON API) or ``calendar`` (the ICS feed only, the
    kind to put in a feed address).
    """
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("name", N_("1 to 64 characters"))
    checked_scope = check_scope(scope)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write(conn):
        owner = conn.execute("SELECT username, role FROM users WHERE id = ?",
                             [user_id]).fetchone()
        if owner is None:
            raise AccountError("user", N_("no such account"))
        if owner["role"] == "clinical":  # nothing a token reaches is the clinical role's
            raise AccountError("user", N_("a clinical account has no token: the API and the"
                                          " calendar feed are not its pages"))
        cursor = conn.execute(
            "INSERT INTO api_tokens (user_id, name, token_sha256, created_at, scope)"
            " VALUES (?, ?, ?, ?, ?)", [user_id, name, _sha256(token), now_iso(), checked_scope])
        audit.record(conn, actor if actor is not None else str(owner["username"]),
                     "token.create", f"token:{cursor.lastrowid}",
                     {"name": name, "owner": owner["username"], "scope": checked_scope},
                     request)
    return token


def list_tokens(conn: sqlite3.Connection, user_id: int) -> list[sqlite3.Row]:
    return list(conn.execute(
        "SELECT id, name, scope, created_at, revoked_at FROM api_tokens WHERE user_id = ?"
        " ORDER BY revoked_at IS NOT NULL, id DESC", [user_id]))


def revoke_token(conn: sqlite3.Connection, user_id: int, token_id: int, *,
                 actor: User | str | None = None, request: Request | None = None) -> None:
    """Revoke one of ``user_id``'s tokens (someone else's is "no such token")."""
    with write(conn):
        row = conn.execute("SELECT * FROM api_tokens WHERE id = ? AND user_id = ?",
                           [token_id, user_id]).fetchone()
        if row is None:
            raise AccountError("token", N_("no such token"))
        if row["revoked_at"] is None:
            conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                         [now_iso(), token_id])
            audit.record(conn, actor, "token.revoke", f"token:{token_id}",
                         {"name": row["name"]}, request)


def user_for_token(conn: sqlite3.Connection, token: str, scope: Scope = "api") -> User | None:
    """The account of a live token of ``scope`` (a calendar token is no API token)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(
        "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_sha256 = ? AND t.scope = ? AND t.revoked_at IS NULL AND u.active = 1",
        [_sha256(token), scope]).fetchone()
    return row_user(row)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_DUMMY_PASSWORD = "not a password: makes unknown users cost as much as known ones"
#: The unknown-user dummy, hashed by :data:`HASHER` when the web app is made
#: (:func:`hub.web.app.create_app`), not at import: every CLI command and test worker paid
#: one production hash (0.1 s of CPU) to start.
_dummy: tuple[PasswordHasher, str] | None = None


def dummy_hash() -> str:
    """A hash of :data:`_DUMMY_PASSWORD` at :data:`HASHER`'s cost: an unknown user's
    login verifies against it, so it costs what a known user's does."""
    global _dummy
    if _dummy is None or _dummy[0] is not HASHER:
        _dummy = (HASHER, HASHER.hash(_DUMMY_PASSWORD))
    return _dummy[1]


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with ``hasher`` (and the unknown-user dummy at the same cost).

    A seam for the tests only: their hundreds of logins at production cost were a minute
    of the suite's CPU. Production never calls it.
    """
    global HASHER
    HASHER = hasher
