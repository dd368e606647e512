"""Who is asking: the session's user (pages) or an API token's (programs), and their role.

Roles are ordered: ``viewer`` sees, ``pcr`` acts on events, ``admin`` also
manages accounts. :func:`require` is the one dependency every route but
login, static assets and ``/healthz`` takes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request

from hub.db.connection import get_db

Role = Literal["viewer", "pcr", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "pcr", "admin")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    display_name: str

    def can(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class LoginRequired(HTTPException):
    """No session: pages redirect to the login page, the API answers 401."""

    def __init__(self) -> None:
        super().__init__(status_code=401, detail="authentication required")


class Forbidden(HTTPException):
    """Logged in, but the role is too low: a page saying so, or a 403 JSON on the API."""

    def __init__(self, role: Role) -> None:
        self.role = role
        super().__init__(status_code=403, detail=f"the {role} role is required")


def require(role: Role = "viewer") -> Callable[..., User]:
    """A dependency: the request's user, who must hold at least ``role``.

    ``user: User = Depends(require("pcr"))`` in a route, or
    ``APIRouter(dependencies=[Depends(require())])`` for a whole router. Every
    route takes it (tests/test_web_access.py walks them all); roles: ``viewer``
    sees, ``pcr`` acts on events, ``admin`` also manages accounts and reads the
    audit log.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(request: Request, db: sqlite3.Connection = Depends(get_db)) -> User:  # noqa: B008
        user = getattr(request.state, "user", None)
        if user is None:
            raise LoginRequired()
        if not user.can(role):
            raise Forbidden(role)
        return user  # type: ignore[no-any-return]

    dependency.required_role = role  # type: ignore[attr-defined]  # read by the route walk test
    return dependency
