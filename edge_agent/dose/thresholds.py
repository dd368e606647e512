"""The detectors' CUSUM thresholds at start, without numpy: table, disk cache, plain Python.

Exact thresholds (:mod:`edge_agent.dose.arl`) take numpy a quarter of a
second per detector and plain Python 4 to 25 s on a PC; a Pi Zero 2 W is
5-10 times slower again, and the box does not install numpy. So the thresholds of the
built-in configurations (every built-in tube's reference calibration, the
backgrounds a room may measure, both default ``dose_rate_high`` levels; see
:mod:`edge_agent.dose.make_arl_table`) ship precomputed in
``arl_table.json``, keyed by the exact inputs of each computation. Anything
else is computed once by :mod:`edge_agent.dose.arl_pure`, which a log line
says, and kept in ``thresholds-cache.json`` in the folder :func:`cache_in`
names (the journal's), keyed the same way, so that the next start is quick.
Both files carry the search's constants: a file from another version of the
computation is not used.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from edge_agent.dose import arl_core, arl_pure
from edge_agent.logs import log

TABLE = Path(__file__).with_name("arl_table.json")
CACHE_NAME = "thresholds-cache.json"


class Engine(Protocol):
    """What computes thresholds: :mod:`edge_agent.dose.arl_pure` on the box; the simulator,
    the tests and the table's generator may hand :mod:`edge_agent.dose.arl` (numpy)."""

    def shared_thresholds(self, rate0_cps: float, rates1_cps: tuple[float, ...],
                          mtbfa_s: float, frame_s: float) -> tuple[float, ...]: ...

    def threshold_for(self, rate0_cps: float, rate1_cps: float, mtbfa_s: float,
                      frame_s: float, true_cps: float) -> float: ...


class _State:
    """Where computed thresholds are kept, what computes them, whether stored ones count."""

    cache_dir: Path | None = None
    engine: Engine = arl_pure
    stored: bool = True


def constants() -> dict[str, float]:
    """The constants that fix what the computation returns (a stored result is valid only
    for the same)."""
    names = ("RTOL", "CHECK_EVERY", "MAX_FRAMES", "H_FLOOR", "H_TOL", "ARL_TOL", "EDGE_MARGIN",
             "POISSON_EXTRA")
    return {name: float(getattr(arl_core, name)) for name in names}


def shared_key(rate0_cps: float, rates1_cps: tuple[float, ...], mtbfa_s: float,
               frame_s: float) -> str:
    """The exact inputs of a bank's thresholds (``repr`` keeps every bit of each float)."""
    rates = ",".join(repr(float(r)) for r in rates1_cps)
    return (f"bank r0={float(rate0_cps)!r} r1={rates} mtbfa={float(mtbfa_s)!r}"
            f" frame={float(frame_s)!r}")


def single_key(rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float,
               true_cps: float) -> str:
    """The exact inputs of one CUSUM's threshold."""
    return (f"one r0={float(rate0_cps)!r} r1={float(rate1_cps)!r} mtbfa={float(mtbfa_s)!r}"
            f" frame={float(frame_s)!r} at={float(true_cps)!r}")


def cache_in(folder: str | Path | None) -> None:
    """Keep thresholds computed at start in ``folder`` (None: compute them at every start)."""
    _State.cache_dir = None if folder is None else Path(folder)


def use(engine: Engine, *, stored: bool = True) -> None:
    """Compute what is not stored with ``engine``; ``stored=False`` ignores the table and
    the disk cache (the table's generator). Forgets the thresholds this process has."""
    _State.engine, _State.stored = engine, stored
    shared_thresholds.cache_clear()
    threshold_for.cache_clear()


@lru_cache(maxsize=1)
def _table() -> dict[str, list[float]]:
    return _read(TABLE, "table")


def _read(path: Path, what: str) -> dict[str, list[float]]:
    """A file's thresholds, or nothing if it is missing, unreadable or of another engine."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log("thresholds_file_unreadable", logging.WARNING, file=str(path), what=what,
            error=str(exc))
        return {}
    if not isinstance(data, dict) or data.get("engine") != constants():
        log("thresholds_file_ignored", logging.WARNING, file=str(path), what=what,
            reason="made by another version of the computation")
        return {}
    found = data.get("thresholds")
    if not isinstance(found, dict):
        return {}
    return {k: [float(x) for x in v] for k, v in found.items()
            if isinstance(v, list) and v and all(isinstance(x, float) and x > 0.0 for x in v)}


def _write_cache(folder: Path, key: str, values: list[float]) -> None:
    """Add one result to the cache file (atomically: a crash leaves the old file whole)."""
    path = folder / CACHE_NAME
    known = _read(path, "cache")
    known[key] = values
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"engine": constants(), "thresholds": known}, indent=0),
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log("thresholds_cache_not_written", logging.WARNING, file=str(path), error=str(exc))


def _lookup(key: str, size: int, compute: Callable[[Engine], list[float]]) -> list[float]:
    """Stored thresholds for ``key`` (``size`` of them), else ``compute``'s, then stored."""
    found = _table().get(key) if _State.stored else None
    if found is not None and len(found) == size:
        return found
    folder = _State.cache_dir if _State.stored else None
    if folder is not None:
        found = _read(folder / CACHE_NAME, "cache").get(key)
        if found is not None and len(found) == size:
            log("thresholds_from_cache", file=str(folder / CACHE_NAME), inputs=key)
            return found
    log("thresholds_computing", logging.WARNING, inputs=key,
        engine=getattr(_State.engine, "__name__", type(_State.engine).__name__),
        note="not in the precomputed table: plain Python takes minutes on a Pi Zero"
             + ("" if folder is None else f"; kept in {folder / CACHE_NAME}"))
    start = time.monotonic()
    values = compute(_State.engine)
    log("thresholds_computed", seconds=round(time.monotonic() - start, 1), inputs=key)
    if folder is not None:
        _write_cache(folder, key, values)
    return values


@lru_cache(maxsize=256)
def shared_thresholds(
    rate0_cps: float, rates1_cps: tuple[float, ...], mtbfa_s: float, frame_s: float
) -> tuple[float, ...]:
    """A bank's thresholds (:func:`edge_agent.dose.arl_core.shared_thresholds`)."""
    return tuple(_lookup(
        shared_key(rate0_cps, rates1_cps, mtbfa_s, frame_s), len(rates1_cps),
        lambda e: list(e.shared_thresholds(rate0_cps, rates1_cps, mtbfa_s, frame_s)),
    ))


@lru_cache(maxsize=256)
def threshold_for(
    rate0_cps: float, rate1_cps: float, mtbfa_s: float, frame_s: float, true_cps: float
) -> float:
    """One CUSUM's threshold (:func:`edge_agent.dose.arl_core.threshold_for`)."""
    return _lookup(
        single_key(rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps), 1,
        lambda e: [e.threshold_for(rate0_cps, rate1_cps, mtbfa_s, frame_s, true_cps)],
    )[0]
