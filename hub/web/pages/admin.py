"""Pages: accounts (admin), one's own API tokens (any role), and the audit log (admin).

``/admin/users`` (admin: list, create, deactivate, end an account's sessions
or everyone's but one's own), ``/account/tokens`` (any role: one's own
tokens, of scope ``api`` or ``calendar``, shown once at creation), ``/audit``
(admin). The same data for programs: :mod:`hub.web.api.admin`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.web import audit, audit_words, session_store
from hub.web.accounts import (
    SCOPES,
    AccountError,
    add_user,
    list_tokens,
    list_users,
    new_token,
    revoke_token,
    set_active,
)
from hub.web.api.admin import end_all_sessions, end_user_sessions
from hub.web.auth import ROLES, User
from hub.web.deps import Admin, Db, Viewer
from hub.web.i18n import gettext_for, language
from hub.web.params import MAX_INT, RowId
from hub.web.templating import render, translate
from hub.web.timeshow import paris as local

router = APIRouter()


def _message(request: Request, exc: AccountError) -> str:
    return translate(request, exc.message).format(**exc.params)


# --- accounts (admin) ------------------------------------------------------------------


def _users_page(request: Request, db: sqlite3.Connection, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, notice: str = "",
                status_code: int = 200) -> HTMLResponse:
    policy = request.app.state.sessions.policy
    return render(request, "admin_users.html", {
        "users": list_users(db), "roles": ROLES, "form": form or {"role": "viewer"},
        "sessions": session_store.live_counts(db, policy, time.time()),
        "errors": errors or {}, "notice": notice, "local": local}, status_code)


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(request: Request, user: Admin, db: Db, created: str = "", changed: str = "",
               ended: Annotated[int | None, Query(ge=0, le=10**9)] = None) -> HTMLResponse:
    notice = ""
    if created:
        notice = translate(request, "Account {username} created.").format(username=created)
    elif changed and ended is not None:
        notice = translate(request, "Sessions of {username} ended: {n}.").format(
            username=changed, n=ended)
    elif changed:
        notice = translate(request, "Account {username} updated.").format(username=changed)
    elif ended is not None:
        notice = translate(request, "Sessions ended: {n} (yours here is kept).").format(n=ended)
    return _users_page(request, db, notice=notice)


@router.post("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def create_user(request: Request, user: Admin, db: Db,
                username: Annotated[str, Form(max_length=200)] = "",
                display_name: Annotated[str, Form(max_length=500)] = "",
                role: Annotated[str, Form(max_length=20)] = "",
                password: Annotated[str, Form(max_length=2000)] = "",
                password2: Annotated[str, Form(max_length=2000)] = "") -> Response:
    form = {"username": username, "display_name": display_name, "role": role}
    if password != password2:
        return _users_page(request, db, form=form, status_code=400, errors={
            "password2": translate(request, "The two passwords differ.")})
    try:
        add_user(db, username, password, role, display_name, actor=user, request=request)
    except AccountError as exc:
        return _users_page(request, db, form=form, status_code=400,
                           errors={exc.field: _message(request, exc)})
    return RedirectResponse("/admin/users?" + urlencode({"created": username.strip()}),
                            status_code=303)


def _set_active(request: Request, user: User, db: sqlite3.Connection, user_id: int,
                active: bool) -> Response:
    try:
        changed = set_active(db, user_id, active, actor=user, request=request)
    except AccountError as exc:
        return _users_page(request, db, status_code=400,
                           errors={"list": _message(request, exc)})
    return RedirectResponse("/admin/users?" + urlencode({"changed": changed.username}),
                            status_code=303)


@router.post("/admin/users/{user_id}/deactivate", include_in_schema=False)
def deactivate_user(request: Request, user_id: RowId, user: Admin, db: Db) -> Response:
    return _set_active(request, user, db, user_id, False)


@router.post("/admin/users/{user_id}/activate", include_in_schema=False)
def activate_user(request: Request, user_id: RowId, user: Admin, db: Db) -> Response:
    return _set_active(request, user, db, user_id, True)


# --- ending sessions (admin) ------------------------------------------------------------


@router.post("/admin/users/{user_id}/sessions/end", include_in_schema=False)
def end_sessions_of(request: Request, user_id: RowId, user: Admin, db: Db) -> Response:
    try:
        username, ended = end_user_sessions(request, user, db, user_id)
    except AccountError as exc:
        return _users_page(request, db, status_code=404, errors={"list": _message(request, exc)})
    return RedirectResponse("/admin/users?" + urlencode({"changed": username, "ended": ended}),
                            status_code=303)


@router.post("/admin/sessions/end-all", include_in_schema=False)
def end_every_session(request: Request, user: Admin, db: Db) -> Response:
    ended = end_all_sessions(request, user, db)
    return RedirectResponse(f"/admin/users?ended={ended}", status_code=303)


# --- one's own API tokens (any role) ----------------------------------------------------


def _tokens_page(request: Request, user: User, db: sqlite3.Connection, *, new: str = "",
                 name: str = "", scope: str = "api", errors: dict[str, str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    feed_url = f"{request.url_for('calendar_feed')}?token={new}" \
        if new and scope == "calendar" else ""
    response = render(request, "account_tokens.html", {
        "tokens": list_tokens(db, user.id), "new_token": new, "name": name, "scope": scope,
        "scopes": SCOPES, "feed_url": feed_url, "errors": errors or {}, "local": local},
        status_code)
    response.headers["Cache-Control"] = "no-store"  # the new token is shown once
    return response


@router.get("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def tokens_page(request: Request, user: Viewer, db: Db) -> HTMLResponse:
    return _tokens_page(request, user, db)


@router.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def create_token(request: Request, user: Viewer, db: Db,
                 name: Annotated[str, Form(max_length=500)] = "",
                 scope: Annotated[str, Form(max_length=20)] = "api") -> HTMLResponse:
    """A new token of the chosen scope (``calendar`` for a feed address), shown once."""
    try:
        token = new_token(db, user.id, name, scope, actor=user, request=request)
    except AccountError as exc:
        return _tokens_page(request, user, db, name=name, scope=scope, status_code=400,
                            errors={exc.field: _message(request, exc)})
    return _tokens_page(request, user, db, new=token, scope=scope)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke(request: Request, token_id: RowId, user: Viewer, db: Db) -> Response:
    try:
        revoke_token(db, user.id, token_id, actor=user, request=request)
    except AccountError as exc:
        return _tokens_page(request, user, db, status_code=404,
                            errors={"list": _message(request, exc)})
    return RedirectResponse("/account/tokens", status_code=303)


# --- the audit log (admin) --------------------------------------------------------------

PAGE = 200


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, user: Admin, db: Db,
               username: Annotated[str, Query(max_length=64)] = "",
               action: Annotated[str, Query(max_length=64)] = "",
               before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None) -> HTMLResponse:
    rows = audit.entries(db, username.strip(), action.strip(), PAGE, before)
    gettext, lang = gettext_for(request).gettext, language(request)
    return render(request, "audit.html", {
        "rows": rows, "username": username.strip(), "action": action.strip(),
        "actions": audit.actions(db),
        "older": rows[-1]["id"] if len(rows) == PAGE else None, "local": local,
        # The stored codes in words (the filter still sends the code).
        "action_label": lambda code: audit_words.action_label(gettext, code),
        "target_label": lambda target: audit_words.target_label(gettext, target),
        "detail_items": lambda detail: audit_words.detail_items(gettext, lang, detail)})
