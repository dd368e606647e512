"""What the hub's store commands share (``quarantine``, ``journal``): their configuration
and store opened, or the exit status after saying what is wrong."""

from __future__ import annotations

import sys

from hub.config import HubConfig, load_config
from hub.db.store import Store
from hub.errors import StoreError
from wire.errors import ConfigError


def say_upgraded(store: Store) -> None:
    """A command that upgraded the store says so (its log is not the service's journal)."""
    if store.upgraded is not None:
        before, after = store.upgraded
        print(f"{store.path}: store upgraded from schema version {before} to {after}",
              file=sys.stderr)


def config_and_store(config_path: str) -> tuple[HubConfig, Store] | int:
    """The configuration and its store; else 2 (the configuration) or 1 (the store), the
    reason on stderr."""
    try:
        config = load_config(config_path)
        store = Store.open(config.store.path)
        say_upgraded(store)
        return config, store
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
