"""The shared configuration kernel: strict models, TOML reading, one line per mistake.

The agent's, the hub's and the simulator's files are read the same way: a
missing or unreadable file, text that is not UTF-8 and TOML that does not
parse each give one line naming the file (and for TOML the line and column);
a document that breaks the model gives one line per broken key, as
``file: dotted.key: what was expected``. Stdlib and pydantic only, so that the
hub never imports the agent's hardware libraries through it.
"""

from __future__ import annotations

import ipaddress
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wire.errors import ConfigError, VoyantError
from wire.logs import writable

#: A configuration, a devices file or a scenario is a few kilobytes; this is far above.
MAX_TEXT_BYTES = 1 << 20
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A configuration table: an unknown key is an error (a typo must not pass silently),
    and a loaded configuration cannot be changed behind the code that checked it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_errors(exc: ValidationError, source: str) -> str:
    """One line per mistake: ``source: dotted.key: what was expected``."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})"
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
    return "\n".join(lines)


def summarize_errors(exc: ValidationError) -> str:
    """The first three broken rules of a payload, on one line, each ``dotted.path: why``
    (what a refused message or record is stored and logged with: a key the sender made of a
    lone surrogate is written as its escape, :func:`~wire.logs.writable`)."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return writable("; ".join(parts) + (f" (and {more} more)" if more > 0 else ""))


def toml_error_line(message: str) -> int | None:
    """The line number in a ``tomllib`` error message, if it gives one."""
    match = _TOML_LINE.search(message)
    return int(match.group(1)) if match else None


def read_text(path: str | Path, what: str = "configuration",
              error: type[VoyantError] = ConfigError) -> str:
    """The file's UTF-8 text, or ``error`` naming the file and why it cannot be read.

    Only a regular file of at most :data:`MAX_TEXT_BYTES`: a FIFO or a device would block
    or never end (a hub re-reading its devices file on SIGHUP would stall)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: cannot read the {what}: not a regular file")
        if info.st_size > MAX_TEXT_BYTES:
            raise error(f"{path}: cannot read the {what}: {info.st_size} bytes,"
                        f" more than {MAX_TEXT_BYTES}")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: expected UTF-8 text: {exc.reason}") from None


def parse_toml(text: str, source: str | Path,
               error: type[VoyantError] = ConfigError) -> dict[str, Any]:
    """The TOML document, or ``error`` as ``source:line: not valid TOML: ...``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = toml_error_line(str(exc))
        where = f"{source}:{line}" if line else str(source)
        raise error(f"{where}: not valid TOML: {exc}") from None


def validate(model: type[M], data: Any, source: str) -> M:
    """``data`` as ``model``, or :class:`ConfigError` with one line per broken key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source)) from None


def load_toml(model: type[M], path: str | Path) -> M:
    """Read, parse and validate a TOML configuration file as ``model``."""
    return validate(model, parse_toml(read_text(path), path), str(path))


def one_network(value: str, everyone: str) -> str:
    """An address or a network of a setting (``10.0.0.5``, ``10.0.0.0/24``), never every
    address: ``everyone`` says why that one is refused (what it would let in)."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or network "
                         f"(e.g. \"10.0.0.5\" or \"10.0.0.0/24\"): {exc}") from None
    if network.prefixlen == 0:
        raise ValueError(f"{value!r} {everyone}")
    return str(network)
