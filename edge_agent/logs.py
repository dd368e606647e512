"""The agent's logger: :mod:`wire.logs`'s logfmt on stdout, under the name ``voyant``.

``voyant.probe`` and the agent's other child loggers write through it.
"""

from __future__ import annotations

from wire.logs import Component

AGENT = Component("voyant")
LOGGER = AGENT.logger
log = AGENT.log
setup_logging = AGENT.setup
