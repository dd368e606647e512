"""What the hub's store commands share (``quarantine``, ``journal``): their configuration
and store opened, or the exit status after saying what is wrong."""

from __future__ import annotations

import sys

from hub.config import HubConfig, load_config
from hub.db.store import Store
from hub.errors import StoreError
from wire.errors import ConfigError


def config_and_store(config_path: str) -> tuple[HubConfig, Store] | int:
    """The configuration and its store; else 2 (the configuration) or 1 (the store), the
    reason on stderr."""
    try:
        config = load_config(config_path)
        return config, Store.open(config.store.path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
