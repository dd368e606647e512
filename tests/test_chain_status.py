"""The chain badge (hub/chain/status.py): intact, gap or broken, per journal and overall,
with the place, the records before the chain and the head; shown on the room page and in
its JSON."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.chain.status import device_status
from hub.db.connection import connect
from tests.web_helpers import api_token, bearer, login, make_app
from wire.chain import GENESIS

DEVICE, SITE, ROOM = "chu.salle-1", "chu", "salle-1"
J1, J2 = "4f1c" + "0" * 28, "9a9a" + "1" * 28
STAMP = "2026-01-05T07:00:00.000Z"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def conn(app: FastAPI) -> Iterator[sqlite3.Connection]:
    with TestClient(app):  # the lifespan makes the store's tables
        pass
    db = connect(app.state.store_path)
    db.execute("INSERT INTO devices (device, site, room, journal, acked_upto, online)"
               " VALUES (?, ?, ?, ?, 0, 1)", [DEVICE, SITE, ROOM, J1])
    yield db
    db.close()


def journal(db: sqlite3.Connection, name: str, upto: int, seqs: range, chained_from: int,
            started: str = STAMP) -> None:
    """A journal holding ``seqs``: those below ``chained_from`` received before the chain."""
    db.execute("INSERT INTO journals VALUES (?, ?, ?, ?)", [DEVICE, name, upto, started])
    for seq in seqs:
        prev = None if seq < chained_from else (GENESIS if seq == chained_from else f"{seq:064x}")
        db.execute("INSERT INTO received VALUES (?, ?, ?, 'readings', ?, ?, ?, '{}')",
                   [DEVICE, name, seq, STAMP, f"{seq + 1:064x}", prev])


def add(db: sqlite3.Connection, table: str, **row: Any) -> None:
    db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES"
               f" ({', '.join('?' for _ in row)})", list(row.values()))


def test_an_intact_chain_gives_its_head_and_the_records_before_it(
        conn: sqlite3.Connection) -> None:
    journal(conn, J1, 10, range(1, 11), chained_from=4)
    status = device_status(conn, DEVICE)
    assert status.state == "intact" and status.place is None and status.journal is None
    assert status.before_chain == 3
    (only,) = status.journals
    assert (only.journal, only.head_seq, only.head_hash) == (J1, 10, f"{11:064x}")


def test_a_device_with_nothing_is_intact_with_no_journal(conn: sqlite3.Connection) -> None:
    status = device_status(conn, DEVICE)
    assert (status.state, status.journals, status.before_chain) == ("intact", [], 0)


def test_a_declared_lost_range_is_a_gap_with_its_place(conn: sqlite3.Connection) -> None:
    journal(conn, J1, 20, range(1, 21), chained_from=1)
    for first, last in ((15, 16), (8, 9)):
        add(conn, "events", kind="data_gap", device=DEVICE, site=SITE, room=ROOM,
            ref=f"{J1}:{first}", opened_at=STAMP, detail=json.dumps(
                {"journal": J1, "first": first, "last": last, "missing": 2, "lost": True}))
    add(conn, "events", kind="data_gap", device=DEVICE, site=SITE, room=ROOM, ref=f"{J1}:3",
        opened_at=STAMP, condition_cleared_at=STAMP,
        detail=json.dumps({"journal": J1, "first": 3, "last": 3, "missing": 1}))  # filled
    status = device_status(conn, DEVICE)
    assert status.state == "gap" and status.journal == J1
    assert status.place is not None
    assert (status.place.seq, status.place.last, status.place.reason) == (8, 9, "lost")


def test_a_hole_still_open_is_a_gap_from_the_first_missing(conn: sqlite3.Connection) -> None:
    journal(conn, J1, 5, range(1, 6), chained_from=1)
    conn.execute("INSERT INTO received VALUES (?, ?, 9, 'readings', ?, ?, ?, '{}')",
                 [DEVICE, J1, STAMP, "a" * 64, "b" * 64])
    status = device_status(conn, DEVICE)
    assert status.state == "gap" and status.place is not None
    assert (status.place.seq, status.place.reason) == (6, "missing")


def test_a_break_or_a_conflict_is_broken_at_the_lowest_place(
        conn: sqlite3.Connection) -> None:
    journal(conn, J1, 30, range(1, 31), chained_from=1)
    journal(conn, J2, 3, range(1, 4), chained_from=1, started="2026-02-01T00:00:00.000Z")
    add(conn, "events", kind="data_gap", device=DEVICE, site=SITE, room=ROOM, ref=f"{J2}:9",
        opened_at=STAMP, detail=json.dumps({"journal": J2, "first": 9, "last": 9,
                                            "lost": True}))
    add(conn, "chain_breaks", device=DEVICE, site=SITE, room=ROOM, journal=J1, seq=25,
        reason="prev", found_at=STAMP)
    add(conn, "record_conflicts", device=DEVICE, site=SITE, room=ROOM, journal=J1, seq=12,
        kind="readings", received_at=STAMP, hash="c" * 64, stored_hash="d" * 64, body="{}")
    status = device_status(conn, DEVICE)
    assert status.state == "broken" and status.journal == J1
    assert status.place is not None
    assert (status.place.seq, status.place.reason) == (12, "conflict")
    by_journal = {j.journal: j for j in status.journals}
    assert by_journal[J1].breaks == 2 and by_journal[J2].state == "gap"
    assert [j.journal for j in status.journals] == [J2, J1]  # the newest journal first


def test_a_break_in_a_journal_the_hub_lists_nowhere_still_counts(
        conn: sqlite3.Connection) -> None:
    add(conn, "chain_breaks", device=DEVICE, site=SITE, room=ROOM, journal="lost-journal",
        seq=7, reason="genesis", found_at=STAMP)
    status = device_status(conn, DEVICE)
    assert status.state == "broken" and status.journal == "lost-journal"


def test_the_room_page_and_its_json_show_the_badge(app: FastAPI,
                                                   conn: sqlite3.Connection) -> None:
    journal(conn, J1, 40, range(1, 41), chained_from=3)
    add(conn, "chain_breaks", device=DEVICE, site=SITE, room=ROOM, journal=J1, seq=1234,
        reason="prev is not the hash of seq 1233", found_at=STAMP)
    with TestClient(app) as client:
        login(client, "viewer")
        french = client.get(f"/rooms/{DEVICE}")
        assert french.status_code == 200
        assert 'data-testid="chain-badge" data-state="broken"' in french.text
        assert "Chaîne rompue" in french.text
        assert "à la séquence 1234 du journal" in french.text
        assert "il ne porte pas l&#39;empreinte" in french.text
        assert f'<code title="{J1}">4f1c0000…</code>' in french.text
        assert "2 enregistrements antérieurs à la chaîne" in french.text
        assert f"{41:064x}"[:12] + "…" in french.text  # the head, 12 hex shown
        english = client.get(f"/rooms/{DEVICE}", headers={"Accept-Language": "en"})
        assert "Chain broken" in english.text and "at sequence 1234 of journal" in english.text
        body = client.get(f"/api/rooms/{DEVICE}", headers=bearer(api_token(app, "viewer")))
        chain = body.json()["chain"]
        assert chain["state"] == "broken" and chain["place"]["seq"] == 1234
        assert chain["journals"][0]["head_hash"] == f"{41:064x}"
        assert chain["before_chain"] == 2


def test_an_intact_badge_in_both_languages(app: FastAPI, conn: sqlite3.Connection) -> None:
    journal(conn, J1, 4, range(1, 5), chained_from=1)
    with TestClient(app) as client:
        login(client, "viewer")
        assert "Chaîne intègre" in client.get(f"/rooms/{DEVICE}").text
        english = client.get(f"/rooms/{DEVICE}", headers={"Accept-Language": "en"}).text
        assert 'data-state="intact"' in english and "Chain intact" in english
