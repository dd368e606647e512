"""The hub's store exceptions: under :class:`wire.errors.HubError`, each also the builtin
it resembles (a configuration mistake is :class:`wire.errors.ConfigError`)."""

from __future__ import annotations

from wire.errors import HubError


class StoreError(HubError, RuntimeError):
    """The store cannot be opened or a transaction could not be committed."""


class StoreReplaced(StoreError):
    """The store file at its path is no longer the one the hub opened (deleted, replaced by
    a restored copy) or can no longer be written: nothing may be acknowledged from it."""
