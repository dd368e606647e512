"""CSRF protection for every unsafe request, enforced once for the whole app.

Every POST, PUT, PATCH or DELETE must carry the session's CSRF token, in the
form field ``csrf_token`` (forms: ``<input type="hidden" name="csrf_token"
value="{{ csrf_token }}">``) or the ``X-CSRF-Token`` header (HTMX sends it from
``base.html``'s ``hx-headers``; scripts read ``<meta name="csrf-token">``).
The token lives in the signed session cookie (:mod:`hub.web.session`), also
before login (the login form is protected too: a cookie-bound double submit),
and is drawn anew at login.

The one exemption: ``/api/`` requests with an ``Authorization: Bearer`` token
(programs, no cookies; a browser cannot send that header cross-site, and the
token, not the cookie, is then the only credential looked at).

A refusal is a 403 saying so (JSON for ``/api/`` and HTMX requests, a page otherwise).
Being a middleware, it covers routes that do not exist yet: no form can forget it.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.messages import N_
from hub.web.i18n import gettext_for

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
MAX_BODY = 2 * 1024 * 1024
MESSAGE = N_("This form has expired or did not come from this site (CSRF check failed). "
             "Reload the page and try again.")


def bearer_exempt(scope: Scope) -> bool:
    """An ``/api/`` request authenticated by a bearer token (no cookie looked at)."""
    if not str(scope.get("path", "")).startswith("/api/"):
        return False
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bool(value[:7].lower() == b"bearer ")
    return False


class CsrfMiddleware:
    """Refuse an unsafe request whose token does not match the session's.

    Runs inside the session middleware, which puts the expected token in the
    request state (``scope["state"]["csrf_token"]``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or bearer_exempt(scope):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.get("state", {})
        expected = str(state.get("csrf_token") or "") if state.get("csrf_from_cookie") else ""
        request = Request(scope)
        supplied = request.headers.get(HEADER, "")
        if supplied:
            ok = bool(expected) and secrets.compare_digest(supplied, expected)
            if ok:
                await self.app(scope, receive, send)
            else:
                await self.refuse(scope, receive, send)
            return
        body, too_big = await _read_body(receive)
        supplied = _form_token(request.headers.get("content-type", ""), body, scope) \
            if not too_big else ""
        replay = _replay(body, receive)
        if expected and supplied and secrets.compare_digest(supplied, expected):
            await self.app(scope, replay, send)
        else:
            await self.refuse(scope, replay, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        message = gettext_for(request).gettext(MESSAGE)
        if request.url.path.startswith("/api/") or request.headers.get("hx-request"):
            response: Any = JSONResponse({"detail": message}, status_code=403)
        else:
            from hub.web.templating import render  # templating imports the app's pieces

            response = render(request, "error.html",
                              {"title": gettext_for(request).gettext("Refused"),
                               "message": message}, status_code=403)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size > MAX_BODY


def _form_token(content_type: str, body: bytes, scope: Scope) -> str:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(FIELD, [])
        return values[0] if values else ""
    if kind == "multipart/form-data":
        # The token is a plain field: find it without parsing uploads.
        marker = b'name="' + FIELD.encode() + b'"'
        at = body.find(marker)
        if at < 0:
            return ""
        start = body.find(b"\r\n\r\n", at)
        end = body.find(b"\r\n", start + 4)
        if start < 0 or end < 0:
            return ""
        return body[start + 4:end].decode("latin-1")
    return ""


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
