"""The hub's exceptions: one root, each also the builtin it resembles.

The hub does not import the agent, so it has its own root; both roots are
named ``VoyantError`` so that a reader sees one family.
"""

from __future__ import annotations


class VoyantError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(VoyantError, ValueError):
    """The hub's configuration is invalid; the message names the file and key."""


class StoreError(VoyantError, RuntimeError):
    """The store cannot be opened or a transaction could not be committed."""


class StoreReplaced(StoreError):
    """The store file at its path is no longer the one the hub opened (deleted, replaced by
    a restored copy) or can no longer be written: nothing may be acknowledged from it."""
