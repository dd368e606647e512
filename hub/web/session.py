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
        response.delete_cookie(COOKIE)


def install(app: FastAPI, sessions: Sessions) -> None:
    """The middleware that identifies every request (and refreshes the cookie)."""
    app.state.sessions = sessions

    @app.middleware("http")
    async def identify(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        data = sessions.read(request)
        request.state.session = data
        request.state.csrf_token = data.get("csrf") or secrets.token_urlsafe(24)
        request.state.user = _user(request, data)
        response = await call_next(request)
        if request.state.session is not None and (
            data.get("uid") or request.state.session.get("uid")
        ):
            sessions.write(response, {**request.state.session,
                                      "csrf": request.state.csrf_token})
        return response


def _user(request: Request, data: dict[str, Any]) -> Any:
    header = request.headers.get("authorization", "")
    if not data.get("uid") and not header.lower().startswith("bearer "):
        return None
    conn = connect(request.app.state.store_path)
    try:
        if header.lower().startswith("bearer "):
            return user_for_token(conn, header[7:].strip())
        return get_user(conn, int(data["uid"]))
    finally:
        conn.close()
