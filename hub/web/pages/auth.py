"""Pages: the login page, logging out, and the language switch (no JSON API).

``/login`` and ``/lang`` are the only routes (with ``/static`` and
``/healthz``) that answer without a session. Both are still CSRF-protected
(:mod:`hub.web.csrf`): the login form carries the pre-session token of the
signed cookie, and a fresh token is drawn at login. A login starts a
server-side session (:mod:`hub.web.session_store`) and logging out revokes
it: a copy of the cookie opens nothing afterwards. Failed logins are
throttled by :mod:`hub.web.ratelimit`.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.db.connection import write
from hub.web import audit, session_store
from hub.web.accounts import authenticate
from hub.web.client import request_address
from hub.web.deps import Db, Member
from hub.web.i18n import LANGUAGES
from hub.web.ratelimit import LoginLimiter
from hub.web.templating import render, translate

router = APIRouter()

LANG_COOKIE_AGE_S = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """``target`` if it is a path of this site (``/events?room=1``), else ``/``.

    Refuses absolute URLs, scheme-relative ``//host`` ones, backslashes (read
    as slashes by browsers) and control characters: no open redirect.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _login_page(request: Request, *, username: str = "", next_url: str = "/",
                errors: dict[str, str] | None = None, status_code: int = 200,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    response = render(request, "login.html", {
        "username": username, "next": next_url, "errors": errors or {}}, status_code)
    response.headers.update(headers or {})
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/") -> Response:
    target = safe_next(next)
    if request.state.user is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, next_url=target)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(request: Request, db: Db,
          username: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=2000)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    target = safe_next(next)
    username = username.strip()
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = translate(request, "Enter your username.")
    if not password:
        errors["password"] = translate(request, "Enter your password.")
    if errors:
        return _login_page(request, username=username, next_url=target, errors=errors,
                           status_code=400)
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = request_address(request)
    wait = limiter.retry_after(ip, username, session_store.known_address(db, username, ip))
    if wait is not None:
        return _login_page(request, username=username, next_url=target, status_code=429,
                           errors={"form": wait_message(request, wait)},
                           headers={"Retry-After": str(wait)})
    user = authenticate(db, username, password)
    now = time.time()
    with write(db):
        audit.record(db, user or username[:64], "login.success" if user else "login.failure",
                     f"user:{username[:64]}", {}, request)
        if user is not None:
            replaced = getattr(request.state, "session_id", None)
            if replaced is not None:  # logging in again in this browser ends the session before
                session_store.end(db, replaced, "replaced", now)
            sid, _ = session_store.start(db, user.id, ip, request.headers.get("user-agent", ""),
                                         request.app.state.sessions.policy, now)
            session_store.prune(db, now)
    if user is None:
        limiter.failed(ip, username)
        return _login_page(request, username=username, next_url=target, errors={
            "password": translate(request, "Wrong username or password.")}, status_code=401)
    limiter.succeeded(ip, username)
    request.state.session = {"sid": sid}
    request.state.csrf_token = secrets.token_urlsafe(24)  # a new session, a new token
    return RedirectResponse(target, status_code=303)


def wait_message(request: Request, wait: int) -> str:
    """What a throttled attempt (429, no password checked) tells the person."""
    return translate(request, "Too many failed attempts: wait {seconds} s before trying "
                              "again (each new failure doubles the wait).").format(seconds=wait)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: Member, db: Db) -> Response:
    session_id = getattr(request.state, "session_id", None)
    with write(db):
        if session_id is not None:  # a bearer token has no session to end
            session_store.end(db, session_id, "logout", time.time())
        audit.record(db, user, "logout", f"user:{user.username}", {}, request)
    request.state.session = None  # the session middleware deletes the cookie
    return RedirectResponse("/login", status_code=303)


@router.post("/lang", include_in_schema=False)
def set_language(request: Request, lang: Annotated[str, Form(max_length=8)] = "",
                 next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Switch the interface language (a cookie), back to the page it was asked from."""
    target = next or _referer_path(request)
    response = RedirectResponse(safe_next(target), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie("lang", lang, max_age=LANG_COOKIE_AGE_S, samesite="lax",
                            secure=request.app.state.config.web.secure_cookie)
    return response


def _referer_path(request: Request) -> str:
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return referer.path + (f"?{referer.query}" if referer.query else "")
