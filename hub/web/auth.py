"""Who is asking: the session's user (pages) or an API token's (programs), and their role.

Three roles are ordered: ``viewer`` sees, ``pcr`` acts on events, ``admin`` also
manages accounts and reads the audit log. ``clinical`` (the physician, the medical
physicist) stands apart, neither above nor below them: it alone sees the patients'
identities, on the clinical pages (the HAS follow-up of a patient dose threshold is
theirs, not the radiation protection adviser's), and it sees nothing else but its own
account; no other role, admin included, reaches those pages. The dependencies that check
them (``Viewer``, ``Pcr``, ``Admin``, ``Clinical``, ``Member``) are in
:mod:`hub.web.deps`: every route but login, static assets and ``/healthz`` takes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException

from wire.errors import HubError

Role = Literal["viewer", "pcr", "admin", "clinical"]
#: The ordered roles, lowest first; ``clinical`` is in none of their orders.
RANKED: tuple[Role, ...] = ("viewer", "pcr", "admin")
ROLES: tuple[Role, ...] = (*RANKED, "clinical")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    display_name: str

    def can(self, role: Role) -> bool:
        """Whether the user holds ``role``: a ranked role or above it, or ``clinical``
        itself (no other role can what it can, and it can nothing they can)."""
        if role not in RANKED or self.role not in RANKED:
            return role == self.role
        return RANKED.index(self.role) >= RANKED.index(role)


class LoginRequired(HubError, HTTPException):
    """No session: pages redirect to the login page, the API answers 401."""

    def __init__(self) -> None:
        super().__init__(status_code=401, detail="authentication required")


class Forbidden(HubError, HTTPException):
    """Logged in, but without the role needed: a page saying so, or a 403 JSON on the API."""

    def __init__(self, role: Role) -> None:
        self.role = role
        super().__init__(status_code=403, detail=f"the {role} role is required")
