"""Who is asking: the session's user (pages) or an API token's (programs), and their role.

Roles are ordered: ``viewer`` sees, ``pcr`` acts on events, ``admin`` also
manages accounts and reads the audit log. The dependencies that check them
(``Viewer``, ``Pcr``, ``Admin``) are in :mod:`hub.web.deps`: every route but
login, static assets and ``/healthz`` takes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException

from wire.errors import HubError

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


class LoginRequired(HubError, HTTPException):
    """No session: pages redirect to the login page, the API answers 401."""

    def __init__(self) -> None:
        super().__init__(status_code=401, detail="authentication required")


class Forbidden(HubError, HTTPException):
    """Logged in, but the role is too low: a page saying so, or a 403 JSON on the API."""

    def __init__(self, role: Role) -> None:
        self.role = role
        super().__init__(status_code=403, detail=f"the {role} role is required")
