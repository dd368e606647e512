"""One exception root for agent, hub and simulator, a subclass per area.

Every error Voyant raises on purpose derives from :class:`VoyantError` and,
besides its area, from the builtin it resembles (``ValueError`` for bad input,
``OSError`` for a device or file, ``RuntimeError`` for a state), so that an
``except ValueError`` written before the root existed still means what it said.
Stdlib only: the agent, the hub and the simulator all import it.
"""

from __future__ import annotations


class VoyantError(Exception):
    """Root of every error Voyant raises on purpose."""


class ConfigError(VoyantError, ValueError):
    """A configuration file is missing, unreadable or invalid; the message names the
    file and the key (the agent's, the hub's and the simulator's read the same way)."""


class AgentError(VoyantError):
    """An error of the room's agent (``edge_agent``)."""


class HubError(VoyantError):
    """An error of the hub (``hub``)."""


class SimError(VoyantError):
    """An error of the simulator (``sim``)."""
