"""Structured log lines on stdout (logfmt), for journald; one format for agent, hub and sim.

``level=warning event=message_rejected topic=voyant/v1/a/b/readings reason="..."``:
one line per event, whatever its fields hold (a newline in a value is escaped,
a traceback is one quoted field). Each component binds a :class:`Component`
to its logger name. Never log a secret: fields are written as given.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def writable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (what JSON's ``\\ud800`` escape
    decodes to, from a hostile payload) written as that escape, since no UTF-8 log line,
    file or SQLite text can hold one; any other text as it is."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def logfmt_value(value: Any) -> str:
    """A value as logfmt writes it: quoted and escaped when it holds a space, ``=``,
    a quote or a newline (or is empty), bare otherwise."""
    text = writable(str(value))
    if text == "" or any(c in text for c in ' ="\n'):
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return '"' + text + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """``level``, ``event`` (the message), then the record's ``fields`` in their order."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"level": record.levelname.lower(), "event": record.getMessage()}
        fields.update(getattr(record, "fields", {}))
        line = " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())
        if record.exc_info:
            line += " traceback=" + logfmt_value(self.formatException(record.exc_info))
        return line


class Component:
    """The logger of one component (``voyant`` for the agent, ``voyant.hub`` for the hub)."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def setup(self, level: str = "info") -> None:
        """Write this component's events on stdout in logfmt from ``level`` up, and only
        there (no propagation: journald would get each line twice)."""
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(LogfmtFormatter())
        self.logger.handlers[:] = [handler]
        self.logger.setLevel(level.upper())
        self.logger.propagate = False

    def log(self, event: str, level: int = logging.INFO, exc_info: bool = False,
            **fields: Any) -> None:
        """Log one event with its fields (built only if the level is enabled)."""
        if self.logger.isEnabledFor(level):
            self.logger.log(level, event, extra={"fields": fields}, exc_info=exc_info)
