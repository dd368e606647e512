"""The session: a signed cookie with the user's id and a CSRF token; or an API bearer token.

The cookie is signed (itsdangerous) with the hub's secret, HttpOnly and
SameSite=Lax, and expires after ``max_age_s`` of inactivity. The middleware
puts ``request.state.user`` (or None) and ``request.state.csrf_token`` on
every request; :func:`hub.web.auth.require` does the refusing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from hub.web.accounts import get_user, user_for_token
from hub.web.db import connect

COOKIE = "voyant_session"
#: On every answer: no framing (clickjacking), no content sniffing, no leaking paths.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}


class Sessions:
    """Sign and read session cookies."""

    def __init__(self, secret: str, max_age_s: int = 12 * 3600, secure: bool = False) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="voyant-session")
        self.max_age_s, self.secure = max_age_s, secure

    def read(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(COOKIE)
        if not raw:
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
    """The middleware that identifies every request (and refreshes the cookie).

    ``request.state.session``: the cookie's data (``{"uid": 3}`` once logged in);
    a route replaces it to log in (``{"uid": id}``, with a fresh
    ``request.state.csrf_token``) or sets it to None to log out (the cookie is
    then deleted). The cookie is written back when there is a user (sliding
    expiry) or when an HTML page was shown to a visitor without one (the
    login form's pre-session CSRF token).
    """
    app.state.sessions = sessions

    @app.middleware("http")
    async def identify(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        data = sessions.read(request)
        request.state.session = data
        request.state.csrf_from_cookie = bool(data.get("csrf"))
        request.state.csrf_token = data.get("csrf") or secrets.token_urlsafe(24)
        request.state.user = _user(request, data)
        response = await call_next(request)
        session = request.state.session
        if session is None:
            sessions.clear(response)
        elif session.get("uid") or data.get("uid") or (
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


def _user(request: Request, data: dict[str, Any]) -> Any:
    token = bearer_token(request)
    if token is None and not data.get("uid"):
        return None
    conn = connect(request.app.state.store_path)
    try:
        if token is not None:  # the token alone counts: no falling back on the cookie
            request.state.auth = "token"
            return user_for_token(conn, token)
        request.state.auth = "session"
        try:
            return get_user(conn, int(data["uid"]))
        except (TypeError, ValueError):
            return None
    finally:
        conn.close()
