"""The scenario library for the tests: where it is, its files, each read once per process.

Four test modules choose their cases from the library's TOML at collection, and each of
the suite's workers collects every module: read apart, the 34 files were parsed in seven
passes in each (0.4 s of every worker's start, issue 18)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from sim.pulsed import LIBRARY

__all__ = ["FILES", "LIBRARY", "by_probe", "duration_s", "probe"]

FILES = sorted(LIBRARY.glob("*.toml"))


@functools.cache
def _table(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def duration_s(path: Path) -> float:
    """The scenario's ``duration_s`` (0 when it has none: the loader refuses it)."""
    return float(_table(path).get("duration_s", 0.0))


def by_probe(kind: str) -> list[Path]:
    """The library's files whose probe is read as ``kind`` (``serial``, ``gpio``)."""
    return [path for path in FILES if probe(path) == kind]


def probe(path: Path) -> str:
    """How the room's probe is read: ``serial``, ``gpio`` (or '' when not said)."""
    room = _table(path).get("room", {})
    return str(room.get("probe", "")) if isinstance(room, dict) else ""
