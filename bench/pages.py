"""Bench: server time of the hub's pages on a store of 50 rooms with a year of history.

Run by hand::

    .venv/bin/python bench/pages.py [--store PATH] [--rooms 50] [--raw-days 14]
        [--requests 60] [--regenerate]

Target of issue 4 (2 cores): p95 below 150 ms for the rooms overview, a room
page with its quarter chart, and the events inbox.

**The store.** ``--store`` (default ``/tmp/voyant-bench-pages/hub.db``) is
generated when missing, and reused afterwards (``--regenerate`` starts over).
It holds ``--rooms`` rooms of one site, each with one journal covering the
year up to now at one reading every 10 s (sequence numbers as if every
reading of the year had been sent):

* ``readings``: raw 10 s readings for the last ``--raw-days`` days of every
  room (default 14: 50 x 120,960 = 6.0 million rows, about 1.8 GB), written
  by SQL (a recursive CTE per room, one transaction each,
  ``synchronous=OFF``); the dose rate is a noisy background with bursts in
  working hours;
* ``rollup_minute`` / ``rollup_hour`` (:mod:`hub.db.rollups`, what the
  room page's charts read): for the raw days, computed by the rooms' own
  :func:`hub.db.rollups.refresh` from the raw readings; for the rest of the
  year, generated directly (six readings a minute, same dose-rate model), so
  the charts see a full year (50 x 525,600 minute rows);
* ``exposures``: the whole year, about 16 per room per working day (8:00 to
  18:00 Paris-ish, UTC here), of which a few per mille unrequested;
* ``events``: the whole year, about three per room per month (alarm kinds,
  data gaps, offline periods), older ones acknowledged or closed, some
  qualified as ESR; a handful open in the last days;
* ``devices``, ``journals``, ``live``: one row per room, every room online
  with a fresh live state.

**Why not the whole year of raw readings.** Measured on this machine
(2 vCPU, SQLite WAL, ``synchronous=OFF``, SQL-generated rows in one
transaction per room): about 188,000 readings/s and about 300 bytes per
reading with its ``(device, start)`` index. The full year, 50 x 3,153,600 =
158 million readings, would take about 14 minutes and **47 GB**. The pages
never scan a year of raw readings (the room page's quarter chart reads the
rollups: no page may read 780,000 rows per room per request), and a B-tree
of 6 million rows answers an indexed lookup at the same depth within one
level as one of 158 million; so the raw readings cover the recent days and
the rollups the year. ``--raw-days 365`` generates the full year anyway if
the disk allows.

**What is timed.** The FastAPI app built by :func:`hub.web.app.create_app`
on that store (ingest off), called in-process through Starlette's
``TestClient`` (the ASGI app with no network: server time, including
routing, authentication, SQL and template rendering), logged in as a PCR.
Each page is requested ``--requests`` times after a few warm-up requests
(the first room page of a room warms SQLite's page cache for that room, as
any visited page would); the rooms are taken in turn. p50 and p95 of the
wall time of each call are printed, with PASS/FAIL against 150 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.config import parse_config  # noqa: E402
from hub.db import rollups  # noqa: E402
from hub.timefmt import iso  # noqa: E402
from hub.web.app import create_app, prepare_store  # noqa: E402

TARGET_P95_MS = 150.0
SITE = "chu"
STEP_S = 10
DAY_S = 86_400
YEAR_S = 365 * DAY_S
BENCH_USER, BENCH_PASSWORD = "bench-pcr", "bench-password-123"
CALIBRATION = "sbm20/Cs-137"
EVENT_KINDS = ("unsolicited_emission", "door_open_during_emission", "emission_light_fault",
               "dose_rate_high", "probe_fault", "request_stuck", "data_gap", "device_offline")


def device_of(index: int) -> tuple[str, str, str]:
    room = f"salle-{index + 1:02d}"
    return f"{SITE}.{room}", room, hashlib.md5(room.encode()).hexdigest()


# -- generation --------------------------------------------------------------------------


def generate(path: Path, rooms: int, raw_days: int, end: int) -> None:
    """Write the store described in the module docstring at ``path`` (must not exist)."""
    started = time.monotonic()
    prepare_store(str(path))  # every table: the ingest's and the web's
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -500000")
    start = end - YEAR_S
    raw_start = end - raw_days * DAY_S
    n_year = YEAR_S // STEP_S
    rng = random.Random(4)
    for index in range(rooms):
        t = time.monotonic()
        device, room, journal = device_of(index)
        _meta(conn, device, room, journal, start, end, n_year)
        _raw_readings(conn, device, room, journal, start, raw_start, end)
        _old_rollups(conn, device, start, raw_start)
        _exposures(conn, device, room, journal, start, end, rng)
        _events(conn, device, room, journal, start, end, rng)
        print(f"  {device}: {time.monotonic() - t:.1f} s", flush=True)
    t = time.monotonic()
    refreshed = rollups.refresh(conn)
    print(f"  rollups.refresh over the raw readings: {refreshed} in "
          f"{time.monotonic() - t:.1f} s", flush=True)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size / 1e9
    print(f"generated {path} in {time.monotonic() - started:.0f} s ({size:.1f} GB)", flush=True)


def _meta(conn: sqlite3.Connection, device: str, room: str, journal: str, start: int,
          end: int, n_year: int) -> None:
    now = iso(end)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO devices (device, site, room, journal, acked_upto, last_seen, online,"
                 " status_state, status_at, heartbeat_s, agent) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 [device, SITE, room, journal, n_year, now, 1, "online", now, 30.0, "0.1.0"])
    conn.execute("INSERT INTO journals (device, journal, upto, started_at) VALUES (?,?,?,?)",
                 [device, journal, n_year, iso(start)])
    live = {"v": 1, "device": device, "site": SITE, "room": room, "at": now,
            "inputs": {"generator_powered": True, "light.powered": True, "request": False,
                       "emission": False, "light.emission": False, "door.corridor": False},
            "alarms": [], "exposure_open": False, "dose_rate_usv_h": 0.1,
            "calibration": CALIBRATION, "interlock_open": None, "outbox": 0}
    conn.execute("INSERT INTO live (device, site, room, payload, at) VALUES (?,?,?,?,?)",
                 [device, SITE, room, json.dumps(live), now])
    conn.execute("COMMIT")


#: A reading's mean dose rate (µSv/h) from its time ``ts`` (epoch s): background, and in
#: working hours (8 to 18 UTC, Monday to Friday) an exposure in about 3 % of intervals.
_BUSY = ("(CAST(strftime('%H', ts, 'unixepoch') AS INTEGER) BETWEEN 8 AND 17"
         " AND strftime('%w', ts, 'unixepoch') NOT IN ('0', '6')"
         " AND abs(random() % 100) < 3)")


def _raw_readings(conn: sqlite3.Connection, device: str, room: str, journal: str,
                  start: int, raw_start: int, end: int) -> None:
    first = (raw_start - start) // STEP_S  # index of the first raw reading in the year
    count = (end - raw_start) // STEP_S
    conn.execute("BEGIN")
    conn.execute(f"""
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?),
        r AS (SELECT i, ? + i * {STEP_S} AS ts FROM s),
        v AS (SELECT i, ts, CASE WHEN {_BUSY} THEN 50.0 + abs(random() % 900) ELSE 0.0 END
                  AS burst, abs(random() % 7) AS c FROM r)
        INSERT INTO readings (device, site, room, journal, seq, run, start, "end", counts,
            seconds_covered, cpm, dose_usv, mean_usv_h, mean_sigma_usv_h, max_usv_h,
            max_sigma_usv_h, saturated, calibration, frames, frames_lost)
        SELECT ?, ?, ?, ?, ? + i + 1, 1,
            strftime('%Y-%m-%dT%H:%M:%S.000Z', ts, 'unixepoch'),
            strftime('%Y-%m-%dT%H:%M:%S.000Z', ts + {STEP_S}, 'unixepoch'),
            c + CAST(burst AS INTEGER), {STEP_S}.0, (c + burst) * 6.0,
            (0.1 + burst / 10.0) * {STEP_S} / 3600.0, 0.1 + burst / 10.0, 0.03,
            0.1 + burst, 0.05, 0, '{CALIBRATION}', 100, 0
        FROM v""", [count - 1, raw_start, device, SITE, room, journal, first])
    conn.execute("COMMIT")


def _old_rollups(conn: sqlite3.Connection, device: str, start: int, raw_start: int) -> None:
    """Minute and hour rollups of the year before the raw readings, as if computed."""
    minutes = (raw_start - start) // 60
    conn.execute("BEGIN")
    conn.execute(f"""
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?),
        r AS (SELECT ? + i * 60 AS ts FROM s),
        v AS (SELECT ts, CASE WHEN {_BUSY} THEN 50.0 + abs(random() % 900) ELSE 0.0 END
                  AS burst FROM r)
        INSERT OR IGNORE INTO rollup_minute (device, bucket, n, seconds, sum_mean, max_mean,
            max_max, dose, saturated, cal_min, cal_max)
        SELECT ?, strftime('%Y-%m-%dT%H:%M', ts, 'unixepoch'), 6, 60.0,
            0.6 + burst / 10.0, 0.1 + burst / 10.0, 0.2 + burst,
            (0.6 + burst / 10.0) * {STEP_S} / 3600.0, 0, '{CALIBRATION}', '{CALIBRATION}'
        FROM v""", [minutes - 1, start, device])
    conn.execute("""
        INSERT OR IGNORE INTO rollup_hour
        SELECT device, substr(bucket, 1, 13), sum(n), total(seconds), total(sum_mean),
               max(max_mean), max(max_max), total(dose), max(saturated), min(cal_min),
               max(cal_max)
        FROM rollup_minute WHERE device = ? AND bucket < ?
        GROUP BY substr(bucket, 1, 13)""",
                 [device, datetime.fromtimestamp(raw_start, UTC).strftime("%Y-%m-%dT%H")])
    conn.execute("COMMIT")


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` keeping only the columns the table has (its schema may grow)."""
    if not rows:
        return
    have = set(_columns(conn, table))
    cols = [c for c in rows[0] if c in have]
    names = ", ".join(f'"{c}"' for c in cols)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in cols)})"
    conn.executemany(sql, [[row.get(c) for c in cols] for row in rows])


def _exposures(conn: sqlite3.Connection, device: str, room: str, journal: str, start: int,
               end: int, rng: random.Random) -> None:
    rows: list[dict[str, Any]] = []
    number = 0
    first_day = start - start % DAY_S + DAY_S
    for day in range(first_day, end, DAY_S):
        if datetime.fromtimestamp(day, UTC).weekday() >= 5:
            continue
        for _ in range(rng.randint(10, 22)):
            number += 1
            t0 = day + rng.randint(8 * 3600, 18 * 3600 - 600)
            fluoro = rng.random() < 0.6
            duration = rng.uniform(5, 120) if fluoro else rng.uniform(0.1, 1.0)
            rate = rng.uniform(100, 1200)
            requested = rng.random() > 0.002
            at = iso(t0 + duration + 1)
            rows.append({
                "device": device, "site": SITE, "room": room, "journal": journal, "run": 1,
                "number": number, "last_seq": number, "event": "closed", "state": "closed",
                "start": iso(t0), "end": iso(t0 + duration), "duration_s": duration,
                "requested": int(requested), "resumed": 0, "interrupted": 0,
                "procedure": number // 15 + 1, "pulses": int(duration * 15) if fluoro else 1,
                "doors_open": "[]", "emission_light_ok": 1, "max_dose_rate_usv_h": rate,
                "dose_usv": rate * duration / 3600, "saturated": 0,
                "alarms": "[]" if requested else '["unsolicited_emission"]',
                "calibration": CALIBRATION, "first_seen": at, "updated": at})
    conn.execute("BEGIN")
    _insert(conn, "exposures", rows)
    conn.execute("COMMIT")


def _events(conn: sqlite3.Connection, device: str, room: str, journal: str, start: int,
            end: int, rng: random.Random) -> None:
    rows: list[dict[str, Any]] = []
    for month in range(12):
        for _ in range(rng.randint(1, 5)):
            t0 = start + month * 30 * DAY_S + rng.randint(0, 30 * DAY_S)
            if t0 >= end:
                continue
            recent = end - t0 < 3 * DAY_S
            kind = rng.choice(EVENT_KINDS)
            esr = kind == "unsolicited_emission" and rng.random() < 0.5
            state = "open" if recent else rng.choice(("acknowledged", "closed", "closed"))
            opened, cleared = iso(t0), iso(t0 + rng.randint(5, 600))
            rows.append({
                "kind": kind, "device": device, "site": SITE, "room": room,
                "ref": f"{journal}:1:{len(rows) + 1}" if kind not in ("data_gap",
                                                                     "device_offline") else "",
                "opened_at": opened, "closed_at": None if state != "closed" else cleared,
                "state": state,
                "detail": json.dumps({"journal": journal, "subject": None}),
                "severity": "critical" if kind in ("unsolicited_emission",
                                                   "door_open_during_emission") else "warning",
                "condition_cleared_at": cleared,
                "acknowledged_at": None if state == "open" else cleared,
                "acknowledged_by": None if state == "open" else "pcr",
                "closed_by": "pcr" if state == "closed" else None,
                "esr": int(esr), "esr_qualified_at": cleared if esr else None,
                "esr_qualified_by": "pcr" if esr else None,
                "declaration_due": iso(t0 + 4 * DAY_S)[:10] if esr else None,
                "updated_at": cleared})
    conn.execute("BEGIN")
    _insert(conn, "events", rows)
    conn.execute("COMMIT")


# -- timing --------------------------------------------------------------------------------


def _login(client: Any, store: Path) -> None:
    from hub.db.connection import connect
    from hub.web.accounts import AccountError, add_user

    conn = connect(store)
    try:
        add_user(conn, BENCH_USER, BENCH_PASSWORD, "pcr")
    except AccountError:
        pass  # kept from an earlier run
    finally:
        conn.close()
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.web_helpers import csrf

    response = client.post("/login", data={"username": BENCH_USER, "password": BENCH_PASSWORD,
                                           "csrf_token": csrf(client)}, follow_redirects=False)
    if response.status_code >= 400:
        raise SystemExit(f"bench: login failed ({response.status_code}): {response.text[:300]}")


def _time(client: Any, urls: Callable[[int], str], requests: int, warmup: int
          ) -> tuple[list[float], str]:
    for k in range(warmup):
        client.get(urls(k))
    samples = []
    last = ""
    for k in range(requests):
        url = urls(k)
        t = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"bench: GET {url} -> {response.status_code}: {response.text[:300]}")
        last = url
    return samples, last


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench(store: Path, rooms: int, requests: int, room_url: str, overview_url: str,
          events_url: str) -> bool:
    from fastapi.testclient import TestClient

    config = parse_config({"store": {"path": str(store)}}, "bench")
    app = create_app(config, ingest=False)
    ok = True
    with TestClient(app) as client:
        _login(client, store)
        pages: list[tuple[str, Callable[[int], str]]] = [
            ("overview", lambda k: overview_url),
            ("room page (quarter chart)",
             lambda k: room_url.format(device=device_of(k % rooms)[0],
                                       room=device_of(k % rooms)[1], site=SITE)),
            ("events inbox", lambda k: events_url),
        ]
        print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  verdict  (last URL)")
        for name, urls in pages:
            samples, last = _time(client, urls, requests, warmup=3)
            p50, p95 = statistics.median(samples), _percentile(samples, 0.95)
            verdict = "PASS" if p95 < TARGET_P95_MS else "FAIL"
            ok = ok and verdict == "PASS"
            print(f"{name:28} {p50:8.1f} {p95:8.1f} {max(samples):8.1f}  {verdict}     ({last})",
                  flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/voyant-bench-pages/hub.db"))
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--raw-days", type=int, default=14)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--overview-url", default="/")
    parser.add_argument("--room-url", default="/rooms/{device}?range=quarter",
                        help="{device}, {site}, {room} are replaced")
    parser.add_argument("--events-url", default="/events")
    args = parser.parse_args(argv)
    store: Path = args.store
    if args.regenerate and store.parent.exists() and store.parent.name.startswith("voyant-"):
        shutil.rmtree(store.parent)
    if not store.exists():
        store.parent.mkdir(parents=True, exist_ok=True)
        end = int(time.time()) // 60 * 60
        print(f"generating {args.rooms} rooms x 1 year ({args.raw_days} days of raw readings) "
              f"into {store} ...", flush=True)
        generate(store, args.rooms, args.raw_days, end)
    else:
        print(f"reusing {store} ({store.stat().st_size / 1e9:.1f} GB)")
    if args.generate_only:
        return 0
    ok = bench(store, args.rooms, args.requests, args.room_url, args.overview_url,
               args.events_url)
    print(f"target: p95 < {TARGET_P95_MS:g} ms on each page: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
