"""The session: a signed cookie naming a server-side session, and a CSRF token; or an API token.

The cookie (itsdangerous-signed with the hub's secret, HttpOnly,
SameSite=Lax) holds a random session id and the CSRF token. The id means
something only while its row in ``sessions`` (:mod:`hub.web.session_store`)
is live: logging out, changing one's password, a deactivation or "end
sessions" revoke the row, and a copy of the cookie opens nothing from then
on. A cookie made before sessions were kept server-side has no id and opens
nothing either (its holder logs in again).

The middleware puts ``request.state.user`` (or None), ``request.state.session_id``
(the row, or None) and ``request.state.csrf_token`` on every request, and
``request.state.db``: the request's one store connection
(:class:`hub.web.deps.RequestDb`), which the session lookup and the route
share and which is closed here when the request ends, also when it fails. The
role dependencies of :mod:`hub.web.deps` do the refusing.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from hub.db.connection import BUSY_TIMEOUT_MS
from hub.web import session_store
from hub.web.accounts import row_user, user_for_token
from hub.web.client import request_address
from hub.web.deps import RequestDb
from hub.web.session_store import Policy

COOKIE = "voyant_session"
#: On every answer: no framing (clickjacking), no content sniffing, no leaking paths.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}
#: A request waits at most this long to note a session's use (the next one will).
TOUCH_WAIT_MS = 250


class Sessions:
    """Sign and read session cookies; ``policy`` says how long a session lives."""

    def __init__(self, secret: str, policy: Policy, secure: bool = False) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="voyant-session")
        self.policy, self.secure = policy, secure
        self.max_age_s = int(policy.max_s)

    def read(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 4096:
            return {}
        try:
            data = self.serializer.loads(raw, max_age=self.max_age_s)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, response: Response, data: dict[str, Any]) -> None:
        response.set_cookie(COOKIE, self.serializer.dumps(data), max_age=self.max_age_s,
                            httponly=True, samesite="lax", secure=self.secure)

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=self.secure)


def install(app: FastAPI, sessions: Sessions) -> None:
    """The middleware that identifies every request.

    ``request.state.session``: the cookie's data (``{"sid": ..., "csrf": ...}``
    once logged in); a route replaces it to log in (``{"sid": id}``, with a
    fresh ``request.state.csrf_token``) or sets it to None to log out (the
    cookie is then deleted). The cookie is written when a route replaced it,
    or when an HTML page was shown to a visitor without one (the login
    form's pre-session CSRF token); expiry is the server's business.
    """
    app.state.sessions = sessions

    @app.middleware("http")
    async def identify(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        data = sessions.read(request)
        request.state.session = data
        request.state.csrf_from_cookie = bool(data.get("csrf"))
        request.state.csrf_token = data.get("csrf") or secrets.token_urlsafe(24)
        request.state.session_id = None
        request.state.db = db = RequestDb(request.app.state.store_path)
        try:
            request.state.user = await run_in_threadpool(_user, request, db, data,
                                                         sessions.policy)
            response = await call_next(request)
        finally:
            db.close()
        session = request.state.session
        if session is None:
            sessions.clear(response)
        elif session is not data or (
                not data.get("csrf")
                and response.headers.get("content-type", "").startswith("text/html")):
            sessions.write(response, {**session, "csrf": request.state.csrf_token})
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token of an ``/api/`` request (pages ignore it)."""
    header = request.headers.get("authorization", "")
    if request.url.path.startswith("/api/") and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _user(request: Request, db: RequestDb, data: dict[str, Any], policy: Policy) -> Any:
    """The request's account: its bearer token's, else its live session's (run in a thread,
    on the request's connection: the route uses the same one)."""
    token = bearer_token(request)
    sid = data.get("sid")
    if token is None and not isinstance(sid, str):
        return None
    request_address(request)  # computed here, once, for the routes and the audit
    conn = db.get()
    if token is not None:  # the token alone counts: no falling back on the cookie
        request.state.auth = "token"
        return user_for_token(conn, token)
    request.state.auth = "session"
    now = time.time()
    live = session_store.find(conn, str(sid), policy, now)
    if live is None:
        return None
    conn.execute(f"PRAGMA busy_timeout = {TOUCH_WAIT_MS}")
    try:
        session_store.touch(conn, live, now)
    finally:  # the route's own writes wait as long as any
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    request.state.session_id = live.id
    return row_user(live.user)
