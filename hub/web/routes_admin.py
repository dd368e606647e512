"""Routes: accounts (admin), the current user's API tokens, and the audit log.

Pages: ``/admin/users`` (admin: list, create, deactivate), ``/account/tokens``
(any role: one's own tokens, of scope ``api`` or ``calendar``, shown once at
creation), ``/audit`` (admin).
API: ``/api/me``, ``/api/audit`` (admin).
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from hub.web import audit
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
from hub.web.auth import ROLES, User, require
from hub.web.db import get_db
from hub.web.templating import render, translate

router = APIRouter()

Db = Annotated[sqlite3.Connection, Depends(get_db)]
Admin = Annotated[User, Depends(require("admin"))]
Anyone = Annotated[User, Depends(require())]


def _message(request: Request, exc: AccountError) -> str:
    return translate(request, exc.message).format(**exc.params)


# --- accounts (admin) ------------------------------------------------------------------


def _users_page(request: Request, db: sqlite3.Connection, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, notice: str = "",
                status_code: int = 200) -> HTMLResponse:
    return render(request, "admin_users.html", {
        "users": list_users(db), "roles": ROLES, "form": form or {"role": "viewer"},
        "errors": errors or {}, "notice": notice}, status_code)


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(request: Request, user: Admin, db: Db, created: str = "",
               changed: str = "") -> HTMLResponse:
    notice = ""
    if created:
        notice = translate(request, "Account {username} created.").format(username=created)
    elif changed:
        notice = translate(request, "Account {username} updated.").format(username=changed)
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
def deactivate_user(request: Request, user_id: int, user: Admin, db: Db) -> Response:
    return _set_active(request, user, db, user_id, False)


@router.post("/admin/users/{user_id}/activate", include_in_schema=False)
def activate_user(request: Request, user_id: int, user: Admin, db: Db) -> Response:
    return _set_active(request, user, db, user_id, True)


# --- one's own API tokens (any role) ----------------------------------------------------


def _tokens_page(request: Request, user: User, db: sqlite3.Connection, *, new: str = "",
                 name: str = "", scope: str = "api", errors: dict[str, str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    feed_url = f"{request.url_for('calendar_feed')}?token={new}" \
        if new and scope == "calendar" else ""
    response = render(request, "account_tokens.html", {
        "tokens": list_tokens(db, user.id), "new_token": new, "name": name, "scope": scope,
        "scopes": SCOPES, "feed_url": feed_url, "errors": errors or {}}, status_code)
    response.headers["Cache-Control"] = "no-store"  # the new token is shown once
    return response


@router.get("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def tokens_page(request: Request, user: Anyone, db: Db) -> HTMLResponse:
    return _tokens_page(request, user, db)


@router.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def create_token(request: Request, user: Anyone, db: Db,
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
def revoke(request: Request, token_id: int, user: Anyone, db: Db) -> Response:
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
               before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    rows = audit.entries(db, username.strip(), action.strip(), PAGE, before)
    return render(request, "audit.html", {
        "rows": rows, "username": username.strip(), "action": action.strip(),
        "actions": audit.actions(db),
        "older": rows[-1]["id"] if len(rows) == PAGE else None})


class Me(BaseModel):
    id: int
    username: str
    role: str
    display_name: str


class AuditEntry(BaseModel):
    id: int
    at: str
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str


@router.get("/api/me", tags=["access"])
def api_me(user: Anyone) -> Me:
    """The account the request is authenticated as (session or bearer token)."""
    return Me(id=user.id, username=user.username, role=user.role,
              display_name=user.display_name)


@router.get("/api/audit", tags=["access"])
def api_audit(user: Admin, db: Db,
              username: Annotated[str, Query(max_length=64, description="exact")] = "",
              action: Annotated[str, Query(max_length=64,
                                           description="exact, or a prefix ending in '.'")] = "",
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              before_id: Annotated[int | None, Query(ge=1)] = None) -> list[AuditEntry]:
    """The audit log, newest first (admin role): who did what, when, from where."""
    return [AuditEntry(**row) for row in
            audit.entries(db, username.strip(), action.strip(), limit, before_id)]
