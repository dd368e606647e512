"""Migration step 9 (#17 item 5) from a store at the step before it: ``users.role`` admits
``clinical`` (its accounts, sessions and tokens untouched), ``rdsr_patients`` and
``rdsr_purged`` made, the identities of the files stored before read from their bytes."""

from __future__ import annotations

import hashlib
import sqlite3
from io import BytesIO
from pathlib import Path

import pytest

from hub.db import migrations
from hub.db.connection import connect
from hub.db.store import Store
from tests import rdsr_builder as b
from tests.test_db_migrations import structure

STEP: int = 9
OLD_USERS = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('viewer', 'pcr', 'admin')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
)"""


def _before(path: Path) -> None:
    """A store made by the steps before 9, with an account, its session and token, and
    one RDSR file naming a patient, stored as step 8's hub stored it (no identity kept)."""
    conn = connect(path)
    try:
        # as the hubs before step 9 made it (step 1 keeps a table it finds)
        conn.execute(OLD_USERS)
        for number, _what, step in migrations.MIGRATIONS:
            if number >= STEP:
                break
            conn.execute("BEGIN IMMEDIATE")
            step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        conn.executescript("DROP TABLE rdsr_patients; DROP TABLE rdsr_purged;")  # step 9's
        ds = b.report(b.accumulated(b.num("113722", "0.01", "Gy.m2")), b.event())
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "LEROY^Anne", "IPP-9", "19710203"
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        raw = out.getvalue()
        conn.executescript(f"""
            INSERT INTO users (username, role, password_hash, created_at)
                VALUES ('claire', 'pcr', 'x', '2026-01-01T00:00:00Z');
            INSERT INTO sessions (user_id, sid_sha256, created_at, last_seen_at, expires_at)
                VALUES (1, 'abc', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z',
                        '2026-01-02T00:00:00Z');
            INSERT INTO api_tokens (user_id, name, token_sha256, created_at)
                VALUES (1, 'script', 'def', '2026-01-01T00:00:00Z');
            INSERT INTO rdsr_files (sop_instance_uid, sop_class, study_instance_uid,
                received_at, peer, size, sha256, events, raw)
                VALUES ('{ds.SOPInstanceUID}', '{b.RDSR}', '{ds.StudyInstanceUID}',
                        '2026-01-15T12:00:00.000Z', 'ARTIS@10.0.0.5', {len(raw)},
                        '{hashlib.sha256(raw).hexdigest()}', 1, X'{raw.hex()}');
        """)
    finally:
        conn.close()


def test_step_9_from_the_step_before(tmp_path: Path) -> None:
    assert [n for n, *_ in migrations.MIGRATIONS].index(STEP) >= 1
    path = tmp_path / "hub.db"
    _before(path)
    conn = connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO users (username, role, password_hash, created_at)"
                         " VALUES ('dr', 'clinical', 'x', 'now')")
    finally:
        conn.close()
    Store.open(path).close()  # migrates to the latest
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
        conn.execute("INSERT INTO users (username, role, password_hash, created_at)"
                     " VALUES ('dr', 'clinical', 'x', 'now')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO users (username, role, password_hash, created_at)"
                         " VALUES ('root', 'superuser', 'x', 'now')")
        assert [tuple(r) for r in conn.execute("SELECT user_id, name FROM api_tokens")] == [
            (1, "script")]
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [tuple(r)[2:] for r in conn.execute("SELECT * FROM rdsr_patients")] == [
            ("IPP-9", "LEROY^Anne", "19710203")]
    finally:
        conn.close()
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    assert structure(path) == structure(fresh)
    assert migrations.migrate(connect(path)) == []  # again: nothing to do


def test_a_users_table_without_a_role_check_needs_nothing(tmp_path: Path) -> None:
    from hub.db.migrate_clinical import _role_check

    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, role TEXT NOT NULL)")
    before = conn.execute("PRAGMA schema_version").fetchone()[0]
    _role_check(conn)
    assert conn.execute("PRAGMA schema_version").fetchone()[0] == before
    conn.close()
