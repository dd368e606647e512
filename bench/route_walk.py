"""Every GET route over one store, before and after a change: what a refactor changed.

Run by hand, not by the suite (issue 13: "a walk of every route over the fixture store
gives the same pages"). ``dump`` requests every GET route of the app's route table, with
each stored id and absent and malformed ones (the walk of tests/test_pages_survive.py), as
anonymous, viewer, pcr, admin and an API token, in French and in English, and writes each
body and an index. ``compare`` diffs two dumps, ignoring what changes on every run (CSRF
tokens, the calendar's DTSTAMP, today's instants, metric values measured in seconds).

    # the store: filled once by the older code, then copied under both
    git worktree add /tmp/base <older commit>
    cd /tmp/base && PYTHONPATH=/tmp/base python /path/to/bench/route_walk.py \\
        dump /tmp/walk/before --store /tmp/walk/fixture.db
    cd /work/main && python bench/route_walk.py dump /tmp/walk/after --store /tmp/walk/fixture.db
    python bench/route_walk.py compare /tmp/walk/before /tmp/walk/after

With ``--store`` naming a missing file, ``dump`` fills a store as the pages-survive test
does (hypothesis at a fixed seed, the ingest, an older hub's rows, a signed report) and
keeps it there; an existing one is copied and opened by the app (migrated if older).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path.cwd()))  # the checkout being measured comes first

#: (pattern, replacement) of what differs between two runs of the same code.
NOISE = [
    (rb'content="[A-Za-z0-9_-]{32}"', b"CSRF"), (rb'"X-CSRF-Token": "[^"]*"', b"CSRF"),
    (rb'value="[A-Za-z0-9_-]{32}"', b"CSRF"), (rb"DTSTAMP:\d+T\d+Z", b"DTSTAMP"),
    (rb"(seconds|_s|bytes)(\{[^}]*\})? [0-9.e+]+", b"MEASURED"),
]


ROLES = ("anonymous", "viewer", "pcr", "admin", "token")
#: Where the values of a path parameter are found in the store (besides ``device``).
ID_TABLES = {"event_id": "events", "report_id": "reports", "point_id": "points",
             "user_id": "users", "token_id": "api_tokens",
             "measurement_id": "report_measurements"}
#: Values no store holds, and values no store can hold, for every path parameter.
ABSENT, MALFORMED = ("999999", "no.such.device"), ("0", "-1", "abc", "9" * 40)


def _routes(app: Any) -> list[Any]:
    """The GET routes (those of included routers too, whatever the FastAPI version), but
    the never-ending live stream."""
    try:
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: include_router copied the routes into app.routes
        routes = list(app.routes)
    return [r for r in routes if "GET" in (getattr(r, "methods", None) or ())
            and r.path != "/live/stream"]


def _paths(conn: sqlite3.Connection, route: Any) -> list[str]:
    """The route's path with each parameter set to every stored value, absent and
    malformed ones (the others at their first stored value)."""
    names = list(route.param_convertors)
    if not names:
        return [route.path]
    values: dict[str, list[str]] = {}
    for name in names:
        table = "devices" if name == "device" else ID_TABLES.get(name)
        column = "device" if name == "device" else "id"
        stored = [str(r[0]) for r in conn.execute(
            f"SELECT {column} FROM {table} ORDER BY {column}")] if table else []
        values[name] = stored + list(ABSENT) + list(MALFORMED)
    out = []
    for name in names:
        for value in values[name]:
            path = route.path
            for other in names:
                chosen = value if other == name else values[other][0]
                path = re.sub(r"\{" + other + r"(:[a-z]+)?\}", chosen, path)
            out.append(path)
    return out


def dump(out: Path, store: Path | None) -> None:
    from fastapi.testclient import TestClient

    from tests.web_helpers import api_token, bearer, login, make_app

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    if store is not None and store.exists():
        shutil.copy(store, tmp / "hub.db")
        app = make_app(tmp)
    else:
        import tests.test_pages_survive as ps  # the pages-survive fill, today's tree only

        app = ps.fill(tmp)
        if store is not None:
            conn = sqlite3.connect(tmp / "hub.db")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM INTO ?", [str(store)])
            conn.close()
    clients = {}
    for role in ROLES:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        # Accounts of the walk's own (a stored account of the same name has its password).
        if role in ("viewer", "pcr", "admin"):
            login(client, role, f"walk-{role}")
        elif role == "token":
            client.headers.update(bearer(api_token(app, "pcr", "walk-robot")))
        clients[role] = client
    conn = sqlite3.connect(tmp / "hub.db")
    paths = [path for route in _routes(app) for path in _paths(conn, route)]
    conn.close()
    index = {}
    for path in paths:
        for role in ROLES:
            for lang in ("fr", "en"):
                response = clients[role].get(path, follow_redirects=False,
                                             headers={"Accept-Language": lang})
                key = f"{role} {lang} {path}"
                name = hashlib.sha1(key.encode()).hexdigest()[:16]
                (out / name).write_bytes(response.content)
                index[key] = {"status": response.status_code, "file": name,
                              "type": response.headers.get("content-type"),
                              "location": response.headers.get("location")}
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    print(f"{len(index)} requests written to {out}")


def _quiet(body: bytes) -> bytes:
    # Instants of the walk itself (logins, audit, "generated at", windows ending now).
    days = [(datetime.now(UTC) + timedelta(days=d)).date().isoformat() for d in (-1, 0, 1)]
    now = [(day.encode() + rb"[T ]\d\d:\d\d(:\d\d)?(\.\d+)?Z?", b"NOW") for day in days]
    for pattern, replacement in NOISE + now:
        body = re.sub(pattern, replacement, body)
    return body


def compare(a: Path, b: Path, show: int) -> int:
    before = json.loads((a / "index.json").read_text())
    after = json.loads((b / "index.json").read_text())
    differ = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before or key not in after:
            differ.append(f"only {'after' if key in after else 'before'}: {key}")
        elif (before[key]["status"], before[key]["type"], before[key]["location"]) != (
                after[key]["status"], after[key]["type"], after[key]["location"]):
            differ.append(f"status {before[key]['status']} -> {after[key]['status']}: {key}")
        elif _quiet((a / before[key]["file"]).read_bytes()) != _quiet(
                (b / after[key]["file"]).read_bytes()):
            differ.append(f"body: {key}")
    print(f"{len(differ)} of {len(before | after)} requests differ")
    for line in differ[:show]:
        print(" ", line[:160])
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="request every GET route, write the bodies to DIR")
    d.add_argument("out", type=Path)
    d.add_argument("--store", type=Path, help="the store to walk (filled there if missing)")
    c = sub.add_parser("compare", help="the requests whose answer differs between two dumps")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--show", type=int, default=40)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.store)
        return 0
    return compare(args.before, args.after, args.show)


if __name__ == "__main__":
    sys.exit(main())
