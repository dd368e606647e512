"""The web's shared dependencies: the request's one store connection, and who is asking.

Every route takes these as annotated parameters (``db: Db``, ``user: Pcr``): no
route module builds its own role check or opens its own connection, so a
rule about access or about the store is read and changed here, once. (The one
exception: ``/metrics`` accepts only a bearer token, :mod:`hub.web.api.metrics`.)

- :data:`Db`: the request's one connection (:class:`RequestDb`), opened at
  first use through :func:`hub.db.connection.connect` and closed by the
  session middleware (:func:`hub.web.session.install`) when the request ends,
  also when it fails. The middleware's session lookup uses the same one: a
  logged-in request opens one connection, not two. The middleware closes it
  when the endpoint has returned its response: a streaming body or a
  background task must not use ``Db`` (none does; the live stream opens its
  own, :mod:`hub.web.live`).
- :data:`Viewer`, :data:`Pcr`, :data:`Admin`: the request's user, who must
  hold at least that role (those are ordered, :data:`hub.web.auth.RANKED`);
  :data:`Clinical`: the ``clinical`` role itself (no other, admin included: it
  is the only one that sees the patients' identities); :data:`Member`: any
  role, ``clinical`` included (one's own account, logging out). Nobody logged
  in is :class:`~hub.web.auth.LoginRequired` (the login page, or a 401 on the
  API), another role :class:`~hub.web.auth.Forbidden`. Each carries
  ``required_role``: tests/test_web_access.py walks every route and checks it
  takes one, and what each role gets from it.
- :data:`FeedUser`: the calendar feed's user, who may also come from a
  ``calendar`` token in ``?token=`` (calendar applications send no headers).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request

from hub.config import HubConfig
from hub.db.connection import connect
from hub.web.accounts import user_for_token
from hub.web.auth import Forbidden, LoginRequired, Role, User


class RequestDb:
    """One request's connection to the store: opened when first asked for, closed once.

    The request may be served by several worker threads in turn (the session
    lookup, then the endpoint), never at once; :func:`hub.db.connection.connect`
    makes connections usable across threads for that reason.
    """

    __slots__ = ("_conn", "_lock", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                self._conn = connect(self.path)
            return self._conn

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def request_db(request: Request) -> sqlite3.Connection:
    """The request's connection (see :class:`RequestDb`; the session middleware makes it)."""
    holder = getattr(request.state, "db", None)
    if not isinstance(holder, RequestDb):
        raise RuntimeError("no request connection: the session middleware is not installed")
    return holder.get()


Db = Annotated[sqlite3.Connection, Depends(request_db)]


def _role(role: Role) -> Callable[[Request], User]:
    def dependency(request: Request) -> User:
        user = getattr(request.state, "user", None)
        if user is None:
            raise LoginRequired()
        if not user.can(role):
            raise Forbidden(role)
        return user  # type: ignore[no-any-return]

    dependency.__name__ = f"require_{role}"
    dependency.required_role = role  # type: ignore[attr-defined]  # read by the route walk test
    return dependency


def require_member(request: Request) -> User:
    """Any logged-in user, whatever the role."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise LoginRequired()
    return user  # type: ignore[no-any-return]


require_member.required_role = "member"  # type: ignore[attr-defined]  # the route walk
Viewer = Annotated[User, Depends(_role("viewer"))]
Pcr = Annotated[User, Depends(_role("pcr"))]
Admin = Annotated[User, Depends(_role("admin"))]
Clinical = Annotated[User, Depends(_role("clinical"))]
Member = Annotated[User, Depends(require_member)]


def feed_user(request: Request, db: Db,
              token: Annotated[str | None, Query(
                  max_length=200, description="a calendar token")] = None) -> User:
    """The feed's user: a calendar token in ``?token=``, a bearer header, else the session.

    Feed addresses are pasted into cloud calendar services, so ``?token=``
    takes only a ``calendar`` token (it reads the feed and nothing else); an
    ``api`` token there is refused, saying so. A bearer header (kept in no
    calendar's settings) may carry either scope. A token that is given must be
    valid (401, even with a session); with no credentials at all,
    :class:`LoginRequired` (the login page, as every page).
    """
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    given = token or bearer
    if not given:
        user = getattr(request.state, "user", None)
        if user is None:
            raise LoginRequired()
    else:
        calendar = user_for_token(db, given, "calendar")
        api = None if calendar is not None else user_for_token(db, given, "api")
        if api is not None and token:
            raise HTTPException(
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
                detail="an API token is refused in ?token= (feed addresses end up in calendar"
                       " services): create a token of scope calendar for the feed, and revoke"
                       " this one if the address was shared")
        user = calendar or api
        if user is None:
            raise HTTPException(status_code=401, detail="invalid or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
    if not user.can("viewer"):
        raise Forbidden("viewer")
    return user


feed_user.required_role = "viewer"  # type: ignore[attr-defined]  # the route walk
FeedUser = Annotated[User, Depends(feed_user)]


def config_of(request: Request) -> HubConfig:
    """The app's configuration."""
    return request.app.state.config  # type: ignore[no-any-return]


def clock_of(app: FastAPI) -> datetime:
    """The app's clock: ``app.state.clock`` if a test put one there (a callable returning
    an aware datetime), else the system's. The jobs read it too."""
    clock: Callable[[], datetime] | None = getattr(app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def now_of(request: Request) -> datetime:
    """The request's clock (:func:`clock_of` its app)."""
    return clock_of(request.app)
