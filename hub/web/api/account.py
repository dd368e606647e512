"""API: one's own live sessions (any role); the page is :mod:`hub.web.pages.account`."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel

from hub.web import session_store
from hub.web.deps import Db, Viewer

router = APIRouter()


class SessionInfo(BaseModel):
    id: int
    created_at: str
    last_seen_at: str
    expires_at: str
    ip: str
    user_agent: str
    current: bool


@router.get("/api/me/sessions", tags=["access"])
def api_my_sessions(request: Request, user: Viewer, db: Db) -> list[SessionInfo]:
    """The account's live sessions, most recently used first (``current``: the one asking)."""
    current = getattr(request.state, "session_id", None)
    policy = request.app.state.sessions.policy
    return [SessionInfo(**dict(row), current=row["id"] == current)
            for row in session_store.live_of(db, user.id, policy, time.time())]
