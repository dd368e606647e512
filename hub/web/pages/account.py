"""Pages: one's own account, its password and its sessions (any role).

``/account`` lists the account's live sessions (when each started and
was last used, from which address and browser; the one asking is marked),
ends one or all the others, and changes the password (the current one is
asked, wrong guesses are throttled like logins; the other sessions end).
The same list as JSON: :mod:`hub.web.api.account`. An admin ends other
people's sessions on the accounts page (:mod:`hub.web.pages.admin`).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import timefmt
from hub.db.connection import write
from hub.messages import N_
from hub.web import audit, session_store
from hub.web.accounts import AccountError, change_password
from hub.web.auth import User
from hub.web.client import request_address
from hub.web.deps import Db, Member
from hub.web.pages.auth import wait_message
from hub.web.params import RowId
from hub.web.ratelimit import LoginLimiter
from hub.web.templating import render, translate
from hub.workdays import PARIS

router = APIRouter()

#: ``?done=`` values and what the page then says.
NOTICES = {"password": N_("Password changed; your other sessions are ended."),
           "ended": N_("Session ended."), "others": N_("Your other sessions are ended.")}


def _page(request: Request, user: User, db: sqlite3.Connection, *, notice: str = "",
          errors: dict[str, str] | None = None, status_code: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    policy = request.app.state.sessions.policy
    sessions = [{**dict(row), "started": timefmt.wall(row["created_at"], PARIS, False),
                 "seen": timefmt.wall(row["last_seen_at"], PARIS, False)}
                for row in session_store.live_of(db, user.id, policy, time.time())]
    response = render(request, "account.html", {
        "sessions": sessions,
        "current": getattr(request.state, "session_id", None), "notice": notice,
        "errors": errors or {}}, status_code)
    response.headers.update(headers or {})
    return response


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
def account_page(request: Request, user: Member, db: Db, done: str = "") -> HTMLResponse:
    notice = translate(request, NOTICES[done]) if done in NOTICES else ""
    return _page(request, user, db, notice=notice)


@router.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password(request: Request, user: Member, db: Db,
             current: Annotated[str, Form(max_length=2000)] = "",
             new: Annotated[str, Form(max_length=2000)] = "",
             new2: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Change one's password: the current one first (throttled), then end the other sessions."""
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = request_address(request)
    wait = limiter.retry_after(ip, user.username, known=True)
    if wait is not None:
        return _page(request, user, db, errors={"current": wait_message(request, wait)},
                     status_code=429, headers={"Retry-After": str(wait)})
    if new != new2:
        return _page(request, user, db, status_code=400, errors={
            "new2": translate(request, "The two passwords differ.")})
    try:
        change_password(db, user, current, new, request=request,
                        keep_session=getattr(request.state, "session_id", None))
    except AccountError as exc:
        if exc.field == "current":
            limiter.failed(ip, user.username)
        field = {"password": "new"}.get(exc.field, exc.field)
        return _page(request, user, db, status_code=400, errors={
            field: translate(request, exc.message).format(**exc.params)})
    limiter.succeeded(ip, user.username)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/sessions/{session_id}/end", include_in_schema=False)
def end_one(request: Request, session_id: RowId, user: Member, db: Db) -> Response:
    """End one of one's own sessions (another's is "no such session"); this one logs out."""
    with write(db):
        ended = session_store.end(db, session_id, "ended_by_user", time.time(), user.id)
        if ended:
            audit.record(db, user, "session.end", f"session:{session_id}", {}, request)
    if not ended:
        return _page(request, user, db, status_code=404, errors={
            "list": translate(request, "No such session.")})
    if session_id == getattr(request.state, "session_id", None):
        request.state.session = None
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/account?done=ended", status_code=303)


@router.post("/account/sessions/end-others", include_in_schema=False)
def end_others(request: Request, user: Member, db: Db) -> Response:
    with write(db):
        ended = session_store.end_user(db, user.id, "ended_by_user", time.time(),
                                       keep=getattr(request.state, "session_id", None))
        audit.record(db, user, "session.end_others", f"user:{user.username}",
                     {"sessions_ended": ended}, request)
    return RedirectResponse("/account?done=others", status_code=303)
