"""The agent's exceptions: one root, each also the builtin it resembles."""

from __future__ import annotations


class VoyantError(Exception):
    """Root of every error Voyant raises on purpose."""


class ConfigError(VoyantError, ValueError):
    """The agent's configuration is invalid; the message names the key."""


class ScenarioError(VoyantError, ValueError):
    """A scenario file is invalid; the message names file, key and expectation."""


class ProbeError(VoyantError, OSError):
    """The probe link cannot be opened or read."""


class JournalError(VoyantError, RuntimeError):
    """The local journal cannot be opened or written."""
