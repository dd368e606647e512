"""The hub's own exceptions (its store, its catalogs): under :class:`wire.errors.HubError`,
each also the builtin it resembles (a configuration mistake is
:class:`wire.errors.ConfigError`)."""

from __future__ import annotations

from wire.errors import HubError


class StoreError(HubError, RuntimeError):
    """The store cannot be opened or a transaction could not be committed."""


class RdsrError(HubError, ValueError):
    """A file is not an RDSR the hub can read; ``str()`` is the one-line reason. Here, not
    beside the reader: the store and the pages name it without loading pydicom."""


class CatalogError(HubError, ValueError):
    """A translation catalog cannot be read: the hub refuses to start rather than show
    pages with strings missing."""


class StoreReplaced(StoreError):
    """The store file at its path is no longer the one the hub opened (deleted, replaced by
    a restored copy) or can no longer be written: nothing may be acknowledged from it."""
