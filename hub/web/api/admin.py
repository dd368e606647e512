"""API: the account asking, ending sessions (admin), the audit log (admin).

``/api/me``, ``/api/users/{id}/sessions/end`` and ``/api/sessions/end-all``
(admin), ``/api/audit`` (admin). Ending sessions is the same audited action as
on the accounts page (:mod:`hub.web.pages.admin`, which calls it from here).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from hub.db.connection import write
from hub.messages import N_
from hub.web import audit, session_store
from hub.web.accounts import AccountError
from hub.web.auth import User
from hub.web.deps import Admin, Db, Viewer
from hub.web.params import MAX_INT, RowId

router = APIRouter()


def end_user_sessions(request: Request, admin: User, db: sqlite3.Connection,
                      user_id: int) -> tuple[str, int]:
    """End every session of ``user_id`` (but the admin's own here); audited. Username, count."""
    keep = getattr(request.state, "session_id", None) if user_id == admin.id else None
    with write(db):
        row = db.execute("SELECT username FROM users WHERE id = ?", [user_id]).fetchone()
        if row is None:
            raise AccountError("user", N_("no such account"))
        ended = session_store.end_user(db, user_id, "ended_by_admin", time.time(), keep=keep)
        audit.record(db, admin, "session.end_user", f"user:{row['username']}",
                     {"sessions_ended": ended}, request)
    return str(row["username"]), ended


def end_all_sessions(request: Request, admin: User, db: sqlite3.Connection) -> int:
    """End every session of every account but the one asking (a token keeps none); audited."""
    with write(db):
        ended = session_store.end_all(db, "ended_by_admin", time.time(),
                                      keep=getattr(request.state, "session_id", None))
        audit.record(db, admin, "session.end_all", "sessions", {"sessions_ended": ended},
                     request)
    return ended



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
def api_me(user: Viewer) -> Me:
    """The account the request is authenticated as (session or bearer token)."""
    return Me(id=user.id, username=user.username, role=user.role,
              display_name=user.display_name)


class Ended(BaseModel):
    sessions_ended: int


@router.post("/api/users/{user_id}/sessions/end", tags=["access"])
def api_end_sessions_of(request: Request, user_id: RowId, user: Admin, db: Db) -> Ended:
    """End every session of an account at once (admin role); its API tokens are kept."""
    try:
        return Ended(sessions_ended=end_user_sessions(request, user, db, user_id)[1])
    except AccountError as exc:
        raise HTTPException(404, exc.message.format(**exc.params)) from None


@router.post("/api/sessions/end-all", tags=["access"])
def api_end_every_session(request: Request, user: Admin, db: Db) -> Ended:
    """End every session of every account but the caller's own (admin role); tokens are kept."""
    return Ended(sessions_ended=end_all_sessions(request, user, db))


@router.get("/api/audit", tags=["access"])
def api_audit(user: Admin, db: Db,
              username: Annotated[str, Query(max_length=64, description="exact")] = "",
              action: Annotated[str, Query(max_length=64,
                                           description="exact, or a prefix ending in '.'")] = "",
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              before_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None) -> list[AuditEntry]:
    """The audit log, newest first (admin role): who did what, when, from where."""
    return [AuditEntry(**row) for row in
            audit.entries(db, username.strip(), action.strip(), limit, before_id)]
