"""Stores made before schema versions are upgraded by opening them, and lose nothing.

The fixtures were written by the hub code of commits 8d84035 and 453228c (before
versions) and f553621 (version 1, before the hash chain) (``tests/data/make_hub_store.py``,
see ``tests/data/README.md``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.chain.verify import report, verify
from hub.cli import main
from hub.db import migrations
from hub.db.connection import connect
from hub.db.store import Store
from hub.errors import StoreError
from hub.events import workflow
from tests.hub_factory import JOURNAL_2, T0, batch, core, reading
from tests.web_helpers import login, make_app
from wire.chain import try_hash
from wire.contract import READINGS

DATA = Path(__file__).resolve().parent / "data"
#: The records of each fixture kept as received by a hub with the chain: (with their hash
#: and body, of which with a link). Before the chain, none.
CHAINED = {"hub_a6c646b.db": (54, 3)}
#: What ``verify`` finds in each fixture: the break and the conflict its hub recorded.
VERIFY_FINDS = {"hub_a6c646b.db": ["seq 63 changes: prev is not the hash of seq 62",
                                   "seq 62 changes: conflict"]}
#: Each fixture and the schema version its hub wrote.
VERSIONS = {"hub_8d84035.db": 0, "hub_453228c.db": 0, "hub_f553621.db": 1,
            "hub_a6c646b.db": 2}
FIXTURES = tuple(VERSIONS)


def _open(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing beside a fixture (no ``-wal``/``-shm`` in tests/data)."""
    if path.parent == DATA:
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    return sqlite3.connect(path)


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """Every row of ``table`` (those columns), in a fixed order whatever the storage's."""
    names = ", ".join(f'"{c}"' for c in columns)
    return [tuple(r) for r in conn.execute(f'SELECT {names} FROM "{table}" ORDER BY {names}')]


def _snapshot(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    conn = _open(path)
    try:
        return {t: (cols, _rows(conn, t, cols))
                for t in _tables(conn) for cols in [_columns(conn, t)]}
    finally:
        conn.close()


def _sql(text: str | None) -> str:
    """A statement's text without its layout, quoting nor ``IF NOT EXISTS``."""
    text = re.sub(r"\s+", " ", (text or "").replace('"', "")).strip()
    return text.replace("IF NOT EXISTS ", "").replace("( ", "(").replace(" )", ")")


def structure(path: Path) -> dict[str, Any]:
    """The schema as SQLite uses it: tables with their columns (name, type, not null,
    default, key), indexes with their columns, uniqueness and condition, triggers."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        for table in _tables(conn):
            columns = [tuple(r)[1:] for r in conn.execute(f'PRAGMA table_xinfo("{table}")')]
            indexes = {}
            for _seq, name, unique, origin, partial in conn.execute(
                    f'PRAGMA index_list("{table}")'):
                cols = [tuple(r) for r in conn.execute(f'PRAGMA index_xinfo("{name}")')]
                where = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                     [name]).fetchone()
                condition = _sql(where[0]).split(" WHERE ", 1)[1] if partial else None
                key = name if not name.startswith("sqlite_autoindex") else f"auto:{cols}"
                indexes[key] = (unique, origin, cols, condition)
            checks = re.findall(r"CHECK \([^()]*(?:\([^()]*\)[^()]*)*\)", _sql(
                conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                             [table]).fetchone()[0]))
            out[f"table {table}"] = (columns, indexes, sorted(checks))
        for name, table, sql in conn.execute(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"):
            out[f"trigger {name}"] = (table, _sql(sql))
        out["views"] = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'view'").fetchone()[0]
        return out
    finally:
        conn.close()


def _user_version(path: Path) -> int:
    conn = _open(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fresh") / "hub.db"
    Store.open(path).close()
    return path


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copyfile(DATA / name, target)
    return target


@pytest.mark.parametrize("name", FIXTURES)
def test_the_fixture_is_a_store_of_an_earlier_version(name: str) -> None:
    path = DATA / name
    assert path.stat().st_size < (200_000 if VERSIONS[name] < 2 else 256_000)
    assert _user_version(path) == VERSIONS[name] < migrations.LATEST
    empty = [t for t, (_c, rows) in _snapshot(path).items() if not rows]
    assert not empty, f"{name}: tables without a row: {empty}"


def _fixture_tables() -> list[tuple[str, str]]:
    out = []
    for name in FIXTURES:
        conn = _open(DATA / name)
        try:
            out += [(name, t) for t in _tables(conn)]
        finally:
            conn.close()
    return out


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each fixture, copied and opened once by the hub (``Store.open`` migrates)."""
    out = {}
    for name in FIXTURES:
        path = _copy(name, tmp_path_factory.mktemp(name.removesuffix(".db")))
        Store.open(path).close()
        out[name] = path
    return out


@pytest.mark.parametrize(("name", "table"), _fixture_tables())
def test_no_row_is_lost_nor_changed(name: str, table: str, upgraded: dict[str, Path]) -> None:
    columns, before = _snapshot(DATA / name)[table]
    conn = sqlite3.connect(upgraded[name])
    try:
        assert set(columns) <= set(_columns(conn, table)), "a column was dropped"
        after = _rows(conn, table, columns)
    finally:
        conn.close()
    assert len(after) == len(before)
    assert after == before


@pytest.mark.parametrize("name", FIXTURES)
def test_records_stored_before_the_chain_keep_no_hash(name: str,
                                                      upgraded: dict[str, Path]) -> None:
    """A record received before the chain was never hashed: its row says so (NULL), and
    nothing is made up for it by the upgrade."""
    before = _snapshot(DATA / name)
    conn = sqlite3.connect(upgraded[name])
    try:
        received = conn.execute("SELECT count(*), count(hash), count(prev), count(body)"
                                " FROM received").fetchone()
        unhashed = conn.execute("SELECT count(*) FROM received WHERE hash IS NULL"
                                " AND prev IS NULL AND body IS NULL").fetchone()[0]
        columns, rows = before["received"]
        hashed_before = (sum(1 for row in rows if row[columns.index("hash")] is not None)
                         if "hash" in columns else 0)
        quarantined = conn.execute("SELECT item, hash FROM quarantine ORDER BY id").fetchall()
    finally:
        conn.close()
    hashed, linked = CHAINED.get(name, (0, 0))  # as the hub with the chain kept them
    assert received == (len(before["received"][1]), hashed, linked, hashed)
    assert hashed_before == hashed and unhashed == received[0] - hashed > 0
    assert len(quarantined) == len(before.get("quarantine", ([], []))[1])
    # A quarantined record was kept as received: its hash is taken from what was kept.
    assert [h for _i, h in quarantined] == [try_hash(json.loads(i)) for i, _h in quarantined]


@pytest.mark.parametrize("name", FIXTURES)
def test_verify_finds_an_upgraded_store_intact(name: str, tmp_path: Path) -> None:
    """Records quarantined before the upgrade are not 'altered': their hash is filled from
    the record as received, and one the chain cannot hash is not compared."""
    path = _copy(name, tmp_path)
    conn = sqlite3.connect(path)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'quarantine'").fetchone():
        conn.execute("INSERT INTO quarantine (device, site, room, journal, seq, kind,"
                     " received_at, reason, item, counted) SELECT device, site, room,"
                     " journal, 9000, kind, received_at, 'NaN',"
                     " '{\"seq\":9000,\"cpm\":NaN}', 0 FROM quarantine LIMIT 1")
    conn.commit()
    conn.close()
    Store.open(path).close()
    conn = sqlite3.connect(path)
    try:
        lines, status = report(verify(conn))
    finally:
        conn.close()
    broken = [line for line in lines if line.startswith("BROKEN")]
    expected = VERIFY_FINDS.get(name, [])
    assert status == (1 if expected else 0), lines
    assert len(broken) == len(expected) and all(
        f in line for f, line in zip(expected, broken, strict=True)), lines


@pytest.mark.parametrize("name", FIXTURES)
def test_the_upgraded_schema_is_a_new_stores(name: str, upgraded: dict[str, Path],
                                             fresh: Path) -> None:
    assert _user_version(upgraded[name]) == migrations.LATEST == _user_version(fresh)
    have, want = structure(upgraded[name]), structure(fresh)
    assert sorted(have) == sorted(want)
    for key in want:
        assert have[key] == want[key], key


def test_the_structure_sees_a_difference(fresh: Path, tmp_path: Path) -> None:
    """The comparison above can fail: a missing index, a trigger, a CHECK all show."""
    for change in ("DROP INDEX idx_readings_unsynced", "DROP TRIGGER reports_signed_frozen",
                   "ALTER TABLE users ADD COLUMN extra TEXT"):
        copy = tmp_path / "copy.db"
        shutil.copyfile(fresh, copy)
        conn = sqlite3.connect(copy)
        conn.execute(change)
        conn.close()
        assert structure(copy) != structure(fresh), change


@pytest.mark.parametrize("name", FIXTURES)
def test_a_second_opening_changes_nothing(name: str, tmp_path: Path) -> None:
    path = _copy(name, tmp_path)
    Store.open(path).close()
    conn = sqlite3.connect(path)
    dump = list(conn.iterdump())
    conn.close()
    store = Store.open(path)
    assert migrations.migrate(store.conn) == []
    store.close()
    conn = sqlite3.connect(path)
    assert list(conn.iterdump()) == dump
    conn.close()


@pytest.mark.parametrize("name", FIXTURES)
def test_an_upgrade_is_logged_the_making_of_a_store_is_not(
        name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The administrator sees in the hub's log that a store was upgraded, from which
    version to which; a new store, made by the same steps, is not an upgrade."""
    caplog.set_level(logging.INFO, logger="voyant.hub")
    path = _copy(name, tmp_path)
    Store.open(path).close()
    Store.open(path).close()  # already upgraded: nothing to say
    Store.open(tmp_path / "new.db").close()
    lines = [(r.getMessage(), getattr(r, "fields", {})) for r in caplog.records
             if r.getMessage() == "store_migrated"]
    assert lines == [("store_migrated", {"store": str(path), "from_version": VERSIONS[name],
                                         "to_version": migrations.LATEST})]


@pytest.mark.parametrize("command", [["quarantine", "list"], ["journal", "list"]])
def test_a_command_that_upgrades_the_store_says_so(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The store commands migrate as the service would (they need today's tables), and say
    it on stderr: their log is not the service's. Once: the next command finds it done."""
    path = _copy("hub_8d84035.db", tmp_path)
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\npath = "{path}"\n', encoding="utf-8")
    assert main([*command, "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"{path}: store upgraded from schema version 0 to {migrations.LATEST}" in err
    assert main([*command, "--config", str(config)]) == 0
    assert "upgraded" not in capsys.readouterr().err


def test_a_new_store_is_made_at_the_latest_version(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    assert migrations.migrate(conn) == [m[0] for m in migrations.MIGRATIONS]
    assert migrations.version(conn) == migrations.LATEST
    conn.close()


def test_a_store_from_a_newer_hub_is_refused(fresh: Path, tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    shutil.copyfile(fresh, path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.execute("CREATE TABLE from_the_future (x)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(migrations.StoreTooNew, match="newer hub") as raised:
        Store.open(path)
    assert isinstance(raised.value, StoreError)  # what the ingest and the commands report
    conn = connect(path)
    with pytest.raises(migrations.StoreTooNew):
        migrations.migrate(conn)
    conn.close()
    assert path.read_bytes() == before
    assert _user_version(path) == migrations.LATEST + 1


def test_a_failed_step_leaves_the_store_as_it_was(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(FIXTURES[0], tmp_path)
    before = _snapshot(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrations, "MIGRATIONS", ((1, "broken", broken),))
    with pytest.raises(StoreError, match="disk I/O error"):
        Store.open(path)
    assert _user_version(path) == 0
    assert _snapshot(path) == before


@pytest.mark.parametrize("name", FIXTURES)
def test_the_hub_works_over_an_upgraded_store(name: str, tmp_path: Path) -> None:
    path = _copy(name, tmp_path)
    store = Store.open(path)
    ingest = core(store, now=T0)
    messages = [batch(READINGS, [reading(s) for s in range(1, 6)], device="chu-nord.salle-9",
                      room="salle-9", journal=JOURNAL_2)]
    [ack] = ingest.handle_batch(messages, T0 + 200)
    assert (ack.device, ack.upto) == ("chu-nord.salle-9", 5)
    store.close()
    conn = connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM readings WHERE device = 'chu-nord.salle-9'"
                            ).fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM points WHERE device = 'chu-nord.salle-9'"
                            ).fetchone()[0] == 1  # the probe point's trigger still fires
        listed = workflow.list_events(conn, workflow.Filters(), date(2026, 4, 2))
        old = {e["kind"] for e in listed if e["device"] == "chu-nord.salle-3"}
        assert "data_gap" in old
        closed = [e for e in listed if e["state"] == "closed"]
        assert closed and closed[0]["esr"] and closed[0]["declaration_ref"] == "ESR-2026-0042"
    finally:
        conn.close()


@pytest.mark.parametrize("name", FIXTURES)
def test_the_pages_read_an_upgraded_store(name: str, tmp_path: Path) -> None:
    shutil.copyfile(DATA / name, tmp_path / "hub.db")
    app = make_app(tmp_path)  # prepares the store: the migrations run here
    assert _user_version(tmp_path / "hub.db") == migrations.LATEST
    with TestClient(app) as client:
        login(client, "viewer")
        assert client.get("/events").status_code == 200
        assert client.get("/rooms/chu-nord.salle-3").status_code == 200
        chart = client.get("/api/rooms/chu-nord.salle-3/readings",
                           params={"range": "7d", "end": "2026-01-06T00:00:00Z"}).json()
        stored = _snapshot(DATA / name)["readings"][1]
        assert sum(p["n"] for p in chart["points"]) == len(stored) and chart["complete"]
        reports = client.get("/api/reports").json()["reports"]
        assert {r["status"] for r in reports} == {"signed", "draft"}
