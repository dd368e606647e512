"""Make a small hub store with the hub code of the commit it is run from (see README.md).

Every row is written by that commit's own code: its ingest core (batches of records,
statuses and live states, a refused message, its ticks), its accounts, audit and
session functions, its events workflow, its control calendar, its points and quarterly
reports (prepared, measured, signed, corrected), its rollups; the tables are created
by its own ``prepare_store``. What a commit lacks is skipped (the quarantine, the
accepted jumps and the sessions table exist from 453228c, not at 8d84035), so the
store is exactly what that hub wrote. Run it with ``PYTHONPATH`` at the old
checkout (stdlib + that checkout's packages only)::

    cd /tmp/old && PYTHONPATH=/tmp/old python tests/data/make_hub_store.py out.db
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

# Imports of the commit it runs with (the flat hub of 8d84035 and 453228c, the hub in
# packages of f553621), and below a copy of tests/hub_factory.py's batch builder: this
# script must run against those commits' code, not today's, so it shares nothing with
# today's tree.
from hub.config import Controls, Ingest, Zoning
from hub.reports import points
from hub.timefmt import iso
from hub.web import accounts, audit
from hub.web.app import prepare_store, session_secret
from wire.contract import (
    ALARMS,
    EXPOSURES,
    LIVE,
    READINGS,
    STATUS,
    AlarmItem,
    ExposureItem,
    Live,
    ReadingItem,
    Status,
    batch_payload,
    topic,
)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _attr(attr: str, *modules: str) -> Any:
    """``attr`` from the first of ``modules`` that has it: the layout moved between the
    commits (the flat hub of 8d84035 and 453228c, the packages of f553621)."""
    for name in modules:
        module = _module(name)
        if module is not None and hasattr(module, attr):
            return getattr(module, attr)
    raise ImportError(f"{attr} is in none of {modules}")


class _Functions:
    """A module-like view of functions found by :func:`_attr` across layouts."""

    def __init__(self, **found: Any) -> None:
        self.__dict__.update(found)


_CONTROLS = ("hub.controls.store", "hub.controls.actions", "hub.controls.overdue")
controls = _Functions(**{name: _attr(name, *_CONTROLS) for name in (
    "set_room", "add_type", "record_done", "check_overdue")})
_QUARTERLY = ("hub.reports.quarterly", "hub.reports.preparation", "hub.reports.quarters")
quarterly = _Functions(**{name: _attr(name, *_QUARTERLY) for name in (
    "prepare_quarter", "parse_quarter", "add_measurement", "get_report", "sign", "correct")})
events = _Functions(**{name: _attr(name, "hub.events", "hub.events.workflow") for name in (
    "acknowledge", "qualify_esr", "declare", "close")})
render_both = _attr("render_both", "hub.reports.render", "hub.web.report_document")
rollups = _Functions(refresh=_attr("refresh", "hub.web.rollups", "hub.db.rollups"))
IngestCore = _attr("IngestCore", "hub.core", "hub.ingest.core")
Store = _attr("Store", "hub.store", "hub.db.store")
connect = _attr("connect", "hub.web.db", "hub.db.connection")
write = _attr("write", "hub.web.db", "hub.db.connection")


class ProvisionedRooms:
    """The rooms the hub knows (453228c's ingest asks; 8d84035's took every room)."""

    def __init__(self, devices: dict[tuple[str, str], str]) -> None:
        self.devices = devices

    def device_for(self, site: str, room: str) -> str | None:
        return self.devices.get((site, room))
HAS = {"hub.intake": bool(_module("hub.intake") or _module("hub.ingest.intake")),
       "hub.jumps": bool(_module("hub.jumps") or _module("hub.ingest.jumps")),
       "hub.web.session_store": _module("hub.web.session_store") is not None}

T0 = 1_767_596_400.0  # 2026-01-05T07:00:00Z, in 2026-Q1
SITE, ROOM = "chu-nord", "salle-3"
DEVICE = f"{SITE}.{ROOM}"
JOURNAL = "0123456789abcdef0123456789abcdef"
PCR = "marie"
NOW = datetime(2026, 4, 2, 8, tzinfo=UTC)  # after Q1: its report is due


def reading(seq: int) -> dict[str, Any]:
    return ReadingItem.model_validate(dict(
        seq=seq, run=1, start=iso(T0 + 60 * seq), end=iso(T0 + 60 * seq + 60), counts=12,
        seconds_covered=60.0, cpm=12.0, dose_usv=0.002 + seq / 1e5, mean_usv_h=0.1 + seq / 1e3,
        mean_sigma_usv_h=0.03, max_usv_h=0.2 + seq / 1e3, max_sigma_usv_h=0.05,
        saturated=False, calibration="sbm20/Cs-137", frames=100, frames_lost=0,
    )).model_dump(mode="json")


def batch(kind: str, items: list[dict[str, Any]]) -> tuple[str, bytes]:
    return topic(SITE, ROOM, kind), batch_payload(kind, DEVICE, SITE, ROOM, JOURNAL,
                                                  iso(T0 + 7200), items)


def status(at: float) -> tuple[str, bytes]:
    message = Status(v=1, device=DEVICE, site=SITE, room=ROOM, state="online",  # type: ignore[arg-type]
                     at=iso(at), journal=JOURNAL, agent="voyant-edge 0.1.0", heartbeat_s=10.0)
    return topic(SITE, ROOM, STATUS), message.to_bytes()


def live(at: float, emission: bool) -> tuple[str, bytes]:
    message = Live(v=1, device=DEVICE, site=SITE, room=ROOM, at=iso(at),
                   inputs={"emission": emission, "door.corridor": not emission}, alarms=[],
                   exposure_open=emission, dose_rate_usv_h=0.1)  # type: ignore[arg-type]
    return topic(SITE, ROOM, LIVE), message.to_bytes()


def ingest(path: Path) -> None:
    """Records, presence, live states, a refused message, a gap and (453228c) a
    quarantined record and an accepted jump, through the commit's ingest core."""
    store = Store.open(path)
    if "rooms" in inspect.signature(IngestCore).parameters:  # 453228c: provisioned rooms
        core = IngestCore(store, Ingest(), T0, ProvisionedRooms({(SITE, ROOM): DEVICE}))
    else:
        core = IngestCore(store, Ingest(), T0)
    exposure = ExposureItem.model_validate(dict(
        seq=31, event="closed", run=1, number=1, start=iso(T0 + 1805), end=iso(T0 + 1808),
        duration_s=3.0, requested=True, procedure=1, pulses=3, doors_open=["corridor"],
        emission_light_ok=True, alarms=["door_open_during_emission"], dose_usv=0.01,
        max_dose_rate_usv_h=12.5, saturated=False, calibration="sbm20/Cs-137",
    )).model_dump(mode="json")
    alarm = AlarmItem.model_validate(dict(
        seq=32, event="cleared", run=1, number=1, kind="door_open_during_emission",
        subject="corridor", at=iso(T0 + 1806), since=iso(T0 + 1806), cleared=iso(T0 + 1809),
    )).model_dump(mode="json")
    now = T0 + 7200
    core.handle_batch([status(now), live(now, False), live(now + 1, True),
                       batch(READINGS, [reading(s) for s in range(1, 31)]),
                       batch(EXPOSURES, [exposure]), batch(ALARMS, [alarm]),
                       (topic(SITE, ROOM, READINGS), b"{not json")], now)
    # seq 33..40 missing: a gap, then more readings (and, at 453228c, one refused record)
    later = [reading(s) for s in range(41, 61)]
    if HAS["hub.intake"]:
        later[5] = {**later[5], "counts": -1}  # invalid: quarantined whole, the rest stored
    core.handle_batch([batch(READINGS, later), live(now + 30, False)], now + 30)
    if _module("wire.chain") is not None:  # a6c646b: input changes, the hash chain
        _changes(core, now + 40)
    core.tick(now + 200)  # the gap outlives its timeout: data_gap; the device is silent
    if HAS["hub.jumps"]:
        config = path.with_suffix(".toml")
        config.write_text(f'[store]\npath = "{path}"\n', encoding="utf-8")
        jumps = _module("hub.jumps") or _module("hub.ingest.jumps")
        assert jumps.journal_main(["accept-jump", "--config", str(config), DEVICE, JOURNAL,
                                   "41", "--by", "admin", "--reason", "box replaced"]) == 0
        config.unlink()
    core.tick(now + 400)  # applies the accepted jump (453228c); offline by now
    store.close()


def web(path: Path) -> None:
    """Accounts, tokens, sessions, audit, the events workflow, the calendar, points,
    reports and rollups, through the commit's functions, as its pages would."""
    session_secret(str(path))
    conn = connect(path)
    admin = accounts.add_user(conn, "admin", "correct horse battery", "admin", "Admin")
    pcr = accounts.add_user(conn, PCR, "correct horse battery", "pcr", "Marie C.", actor="admin")
    accounts.new_token(conn, pcr, "scanner", "calendar", actor="admin")
    if HAS["hub.web.session_store"]:
        sessions = importlib.import_module("hub.web.session_store")
        with write(conn):
            sessions.start(conn, admin, "192.0.2.7", "Firefox", sessions.Policy(3600, 86400),
                           NOW.timestamp())
    found = [dict(r) for r in conn.execute("SELECT id, kind FROM events ORDER BY id")]
    assert {e["kind"] for e in found} >= {"data_gap"}, found
    first = found[0]["id"]
    with write(conn):
        events.acknowledge(conn, first, PCR, "seen, the box was moved", NOW)
        audit.record(conn, PCR, "event.acknowledge", f"event:{first}", {"comment": "seen"})
    with write(conn):
        events.qualify_esr(conn, first, PCR, "to be declared", NOW)
        events.declare(conn, first, PCR, date(2026, 4, 2), "ESR-2026-0042", "sent", NOW)
        events.close(conn, first, PCR, "declared and closed", NOW)
    settings = Controls()
    with write(conn):
        controls.set_room(conn, settings, PCR, SITE, ROOM, "fixed", "2025-01-10", "2025-02-01",
                          None, NOW)
        controls.add_type(conn, settings, "admin", "leak_test", "Leak test", 12, 6, [], NOW)
        controls.record_done(conn, settings, PCR, SITE, ROOM, "ambient_internal",
                             "2026-03-20", "ok", "PCR M. Curie", "all fine", "DOC-7", NOW)
    controls.check_overdue(conn, NOW, settings)
    zoning = Zoning()
    [report] = quarterly.prepare_quarter(conn, quarterly.parse_quarter("2026-Q1"), NOW, zoning)
    with write(conn):
        manual = points.add_manual_point(conn, DEVICE, "console", PCR)
        quarterly.add_measurement(conn, report, {
            "kind": "passive_dosimeter", "point_id": manual.id, "measured_on": "2026-01-02",
            "period_end": "2026-03-31", "value": 12.0, "measured_by": "lab"}, PCR, NOW)
    content = quarterly.get_report(conn, report)
    with write(conn):
        quarterly.sign(conn, report, "Marie Curie", PCR, NOW, render_both,
                       content["content_sha256"])
        quarterly.correct(conn, report, PCR, NOW)
    rollups.refresh(conn)
    conn.close()


def _change(seq: int, value: bool, prev: str) -> dict[str, Any]:
    contract = _module("wire.contract")
    return contract.ChangeItem.model_validate(dict(
        seq=seq, run=1, signal="generator_powered", value=value, first=iso(T0 + 3000 + seq),
        last=iso(T0 + 3000 + seq), count=1, origin="edge", clock_synced=True, prev=prev,
    )).model_dump(mode="json")


def _changes(core: Any, at: float) -> None:
    """Two chained input changes; the second sent again, different (a conflict, kept
    whole); then one whose link names no record the hub holds (a break of the chain)."""
    chain, contract = _module("wire.chain"), _module("wire.contract")
    kind = contract.CHANGES
    where = topic(SITE, ROOM, contract.RECORD_TOPIC[kind])

    def send(items: list[dict[str, Any]], when: float) -> None:
        core.handle_batch([(where, batch_payload(kind, DEVICE, SITE, ROOM, JOURNAL, iso(when),
                                                 items))], when)

    first = _change(61, True, chain.GENESIS)
    send([first, _change(62, False, chain.record_hash(first))], at)
    send([_change(62, True, chain.record_hash(first))], at + 1)
    send([_change(63, True, "f" * 64)], at + 2)


def main(out: str) -> int:
    path = Path(out).resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    prepare_store(str(path))
    ingest(path)
    web(path)
    conn = connect(path)
    # Smaller pages (a file of ~80 tables and indexes, most of them one page): the schema
    # and the rows are untouched; the store goes back to WAL as the hub keeps it.
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA page_size = 1024")
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode = WAL")
    counts = {str(r[0]): conn.execute(f'SELECT count(*) FROM "{r[0]}"').fetchone()[0]
              for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                    " ORDER BY name")}
    conn.close()
    print(json.dumps(counts, indent=1))
    empty = sorted(t for t, n in counts.items() if n == 0)
    if empty:
        print(f"tables left empty: {empty}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
