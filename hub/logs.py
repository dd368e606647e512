"""The hub's logger: :mod:`wire.logs`'s logfmt on stdout, under the name ``voyant.hub``."""

from __future__ import annotations

from wire.logs import Component

HUB = Component("voyant.hub")
LOGGER = HUB.logger
log = HUB.log
setup_logging = HUB.setup
