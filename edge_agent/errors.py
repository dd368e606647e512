"""The agent's exceptions: under :class:`wire.errors.AgentError`, each also the builtin
it resembles (a configuration mistake is :class:`wire.errors.ConfigError`)."""

from __future__ import annotations

from wire.errors import AgentError


class ProbeError(AgentError, OSError):
    """The probe link cannot be opened or read."""


class JournalError(AgentError, RuntimeError):
    """The local journal cannot be opened or written."""
