"""The hub hashes passwords with argon2's production parameters; the rest of the suite uses
cheap ones (tests/conftest.py, through :func:`hub.web.accounts.use_hasher`), so this is
the one place that pays for and checks the real ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters

from hub.db.connection import connect
from hub.db.store import Store
from hub.web import accounts

PASSWORD = "a long enough passphrase 7"


@pytest.fixture
def production() -> Iterator[None]:
    """The production hasher for one test, the suite's cheap one back after it."""
    cheap = accounts.HASHER
    accounts.use_hasher(accounts.PRODUCTION_HASHER)
    try:
        yield
    finally:
        accounts.use_hasher(cheap)


def test_production_parameters_are_argon2id_rfc_9106_low_memory() -> None:
    hasher = accounts.PRODUCTION_HASHER
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)
    assert hasher.type.name == "ID"
    assert PasswordHasher().hash_len == hasher.hash_len >= 32
    assert hasher.salt_len >= 16


def test_the_suite_runs_with_the_cheap_parameters() -> None:
    cheap = accounts.HASHER
    assert cheap is not accounts.PRODUCTION_HASHER
    assert (cheap.time_cost, cheap.memory_cost, cheap.parallelism) == (1, 1024, 1)
    assert extract_parameters(accounts.dummy_hash()).memory_cost == 1024  # the same cost


@pytest.mark.usefixtures("production")
def test_an_account_is_stored_and_checked_at_production_cost(tmp_path: Path) -> None:
    Store.open(tmp_path / "hub.db").close()
    conn = connect(tmp_path / "hub.db")
    try:
        accounts.add_user(conn, "pcr", PASSWORD, "pcr")
        stored = conn.execute("SELECT password_hash FROM users").fetchone()[0]
        params = extract_parameters(stored)
        assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
        assert extract_parameters(accounts.dummy_hash()) == params  # unknown users cost the same
        user = accounts.authenticate(conn, "pcr", PASSWORD)
        assert user is not None and user.username == "pcr"
        assert accounts.authenticate(conn, "pcr", PASSWORD + "x") is None
        assert accounts.authenticate(conn, "nobody", PASSWORD) is None
    finally:
        conn.close()
