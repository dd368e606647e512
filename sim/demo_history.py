"""The demo's history: the last full quarter and the current one, made once and kept.

``voyant-sim demo`` calls :func:`ensure_history` after writing its files and
before starting the hub. The first time, it plays the history
(:mod:`sim.demo_history_play`: each room's box makes its records with the
agent's own code, its publisher sends them, the hub's own ingest takes them),
then the PCR's season of work (:mod:`sim.demo_history_pcr`), and keeps the
store and the journals in ``<demo dir>/history/`` with the key they depend
on (:func:`cache_key`). The next starts copy them back and play only the
hours since, as the boxes would have lived them (a new run of each box: a
restart), so the charts reach the present without a hole. A key that
changed (a new version of the history, a new quarter, other rooms, another
reading period) or a copy too old to top up (:data:`MAX_TOP_UP_S`) makes it
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hub import jobs
from hub.config import load_config
from hub.db.connection import connect
from hub.reports.quarters import last_ended_quarter, quarter_of
from sim.demo_files import ADMIN_USERNAME, PCR_USERNAME, SITE, DemoFiles, DemoRoom, library_path
from sim.demo_history_pcr import (
    name_places,
    prepare_reports,
    record_verifications,
    review_events,
)
from sim.demo_history_plan import INCIDENTS, Incident
from sim.demo_history_play import make_rooms, play
from sim.demo_history_wire import HubSide
from sim.scenario import load_scenario

#: Bump when what the history holds changes: every kept copy is made again.
HISTORY_VERSION: Final = 4
#: The boxes' reading interval over the history (``[rules] reading_interval_s``); the
#: live rooms read every 10 s.
READING_PERIOD_S: Final = 900.0
#: A kept history older than this is made again rather than topped up.
MAX_TOP_UP_S: Final = 3 * 86_400.0
CACHE_DIR: Final = "history"
#: Room the history's working copies need in memory (the store of two quarters and the
#: journals, with room to spare).
MEMORY_NEEDED: Final = 400 * 1024 * 1024
KEY_FILE: Final = "key.json"


@dataclass(frozen=True)
class History:
    """What :func:`ensure_history` did: made or reused, from when to when, how long it took."""

    made: bool
    start: float
    end: float
    seconds: float
    stats: dict[str, int]


def cache_key(rooms: Sequence[DemoRoom], now: float, since: float | None = None
              ) -> dict[str, Any]:
    """What the history depends on: kept copies with another key are made again."""
    moment = datetime.fromtimestamp(now, UTC)
    made_from = hashlib.sha256(repr(INCIDENTS).encode())  # the story: a change remakes it
    for room in rooms:
        made_from.update(library_path(room.scenario).read_bytes())
    return {"version": HISTORY_VERSION, "quarter": quarter_of(moment).code,
            "rooms": [[r.room, r.scenario] for r in rooms], "period_s": READING_PERIOD_S,
            "since": since, "made_from": made_from.hexdigest()}


def _kept(files: DemoFiles, rooms: Sequence[DemoRoom]) -> list[tuple[Path, Path]]:
    """(live file, kept copy) of the store and of each room's journal."""
    cache = files.directory / CACHE_DIR
    pairs = [(files.store, cache / "hub.db")]
    pairs += [(files.journal(r), cache / "rooms" / r.room / "journal.db") for r in rooms]
    return pairs


def read_key(files: DemoFiles) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(
            (files.directory / CACHE_DIR / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found


def ensure_history(files: DemoFiles, rooms: Sequence[DemoRoom], broker_port: int,
                   now: Callable[[], float] = time.time,
                   out: Callable[[str], None] = print, since: float | None = None,
                   incidents: Sequence[Incident] = INCIDENTS) -> History:
    """Put the history in place in the demo folder (see the module docstring); ``since``
    (UTC seconds) starts it later than the last full quarter (the tests' short history)."""
    began = time.monotonic()
    key = cache_key(rooms, now(), since)
    kept = read_key(files)
    usable = (kept is not None and {k: v for k, v in kept.items() if k != "end"} == key
              and now() - float(kept["end"]) < MAX_TOP_UP_S
              and all(copy.exists() for _, copy in _kept(files, rooms)))
    if usable:
        assert kept is not None
        for live, copy in _kept(files, rooms):
            live.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(f"{live}{suffix}").unlink(missing_ok=True)
            _copy_db(copy, live)
        start = float(kept["end"])
        out(f"  history: reusing {files.directory / CACHE_DIR} (made for {key['quarter']}),"
            " playing the hours since")
        with workspace(files, rooms) as copies:
            stats = play_span(files, rooms, broker_port, start, now(), copies, incidents)
        return History(False, start, now(), time.monotonic() - began, stats)
    out(f"  history: making the last full quarter and this one ({key['quarter']}), "
        f"readings every {READING_PERIOD_S:g} s (once; kept in {files.directory / CACHE_DIR})")
    moment = datetime.fromtimestamp(now(), UTC)
    start = float(last_ended_quarter(moment).bounds()[0]) if since is None else since
    end = now()
    with workspace(files, rooms) as copies:
        for live in copies:
            if live != files.store:
                live.unlink(missing_ok=True)  # a journal left by a run without history
                copies[live].unlink(missing_ok=True)
        stats = play_span(files, rooms, broker_port, start, end, copies, incidents)
        _season(files, copies[files.store], end)
    _keep(files, rooms, {**key, "end": end})
    return History(True, start, end, time.monotonic() - began, stats)


@contextlib.contextmanager
def workspace(files: DemoFiles, rooms: Sequence[DemoRoom]) -> Iterator[dict[Path, Path]]:
    """The store and the journals copied into a folder in memory (``/dev/shm`` when there
    is one: the journal commits each record, and a disk's syncs would cost minutes), and
    copied back when the work is done. Yields {live file: its working copy}."""
    with tempfile.TemporaryDirectory(prefix="voyant-demo-", dir=_memory_folder()) as work:
        copies = {live: Path(work) / live.relative_to(files.directory)
                  for live, _ in _kept(files, rooms)}
        for live, copy in copies.items():
            copy.parent.mkdir(parents=True, exist_ok=True)
            if live.exists():
                _copy_db(live, copy)
        yield copies
        for live, copy in copies.items():
            live.parent.mkdir(parents=True, exist_ok=True)
            _copy_db(copy, live)


def _memory_folder() -> str | None:
    """``/dev/shm`` when it is there, writable and has room for a store of a few quarters
    (a container's is often 64 MB); else none: the system's temporary folder."""
    fast = Path("/dev/shm")
    try:
        if fast.is_dir() and shutil.disk_usage(fast).free > MEMORY_NEEDED:
            with tempfile.TemporaryFile(dir=fast):
                return str(fast)
    except OSError:
        pass
    return None


def play_span(files: DemoFiles, rooms: Sequence[DemoRoom], broker_port: int, start: float,
              end: float, copies: dict[Path, Path],
              incidents: Sequence[Incident] = INCIDENTS) -> dict[str, int]:
    """Play ``[start, end)`` into the working copies of the store and the journals; the
    ingest's counters at the end."""
    from sim.demo_files import room_settings

    last = last_ended_quarter(datetime.fromtimestamp(end, UTC))
    quarters = (float(last.bounds()[0]), float(last.next().bounds()[0]))
    specs = []
    for spec in rooms:
        settings = room_settings(files, spec, broker_port)
        specs.append((spec.room, load_scenario(library_path(spec.scenario)),
                      dict(settings.device), dict(settings.mqtt), copies[settings.journal]))
    boxes = make_rooms(specs, quarters, start, end, READING_PERIOD_S, incidents)
    hub = HubSide(files.hub_config, copies[files.store], start)
    try:
        play(boxes, hub, start, end)
        stats = hub.stats()
    finally:
        hub.close()
        for box in boxes:
            box.link.close()
            if box.journal is not None:
                box.journal.close()
    _refresh_rollups(copies[files.store])
    return stats


def _refresh_rollups(store: Path) -> None:
    """The chart's rollups, as the hub's job makes them: ready before the first page."""
    while not jobs.refresh_rollups_step(str(store)).complete:
        pass


def _season(files: DemoFiles, store: Path, end: float) -> None:
    """The PCR's season of work (:mod:`sim.demo_history_pcr`) on the store just made."""
    config = load_config(files.hub_config)
    now = datetime.fromtimestamp(end, UTC)
    last = last_ended_quarter(now)
    conn = connect(store)
    try:
        name_places(conn, ADMIN_USERNAME, SITE)
        review_events(conn, PCR_USERNAME, last, now)
        record_verifications(conn, config, PCR_USERNAME, SITE, now)
        prepare_reports(conn, config, PCR_USERNAME, last, now)
    finally:
        conn.close()


def _keep(files: DemoFiles, rooms: Sequence[DemoRoom], key: dict[str, Any]) -> None:
    """Copy the store and the journals into the cache, then write the key (last: a copy
    interrupted halfway has no key and is made again)."""
    cache = files.directory / CACHE_DIR
    (cache / KEY_FILE).unlink(missing_ok=True)
    for live, copy in _kept(files, rooms):
        copy.parent.mkdir(parents=True, exist_ok=True)
        _copy_db(live, copy)
    (cache / KEY_FILE).write_text(json.dumps(key, indent=1), encoding="utf-8")


def _copy_db(source: Path, target: Path) -> None:
    """A SQLite file copied whole, with its write-ahead log if one is left (every
    connection is closed by now: the last one to close folds the log in)."""
    for suffix in ("", "-wal"):
        found = Path(f"{source}{suffix}")
        if found.exists():
            shutil.copyfile(found, f"{target}{suffix}")
        else:
            Path(f"{target}{suffix}").unlink(missing_ok=True)
