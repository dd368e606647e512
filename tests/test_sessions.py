"""Server-side sessions: a copied cookie opens nothing once its session is ended.

Each way a session ends (logout, a password change, a deactivation, the
user's or an admin's "end sessions", idle and absolute expiry) is checked
with a copy of the cookie taken before, replayed from another client, as a
thief would. A store made before the ``sessions`` table gets it at start and
its old cookies are refused.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.web import audit, session_store
from hub.web.session import COOKIE
from tests.web_helpers import PASSWORD, add_account, api_token, bearer, csrf, login, make_app

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Any:
    with TestClient(app) as client:
        yield client


def copy_of(client: TestClient) -> TestClient:
    """Another client holding a copy of ``client``'s session cookie (a stolen one)."""
    thief = TestClient(client.app)
    cookie = client.cookies.get(COOKIE)
    assert cookie is not None
    thief.cookies.set(COOKIE, cookie)
    return thief


def opens(client: TestClient) -> bool:
    """Does the client's cookie open the rooms page (not the login page)?"""
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def audit_rows(app: FastAPI, action: str) -> list[dict[str, Any]]:
    conn = connect(app.state.store_path)
    try:
        return audit.entries(conn, action=action)
    finally:
        conn.close()


def sql(app: FastAPI, statement: str, params: list[Any] | None = None) -> list[sqlite3.Row]:
    conn = connect(app.state.store_path)
    try:
        return list(conn.execute(statement, params or []))
    finally:
        conn.close()


def test_the_store_keeps_only_a_hash_of_the_session_id(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    sid = app.state.sessions.serializer.loads(client.cookies[COOKIE])["sid"]
    rows = sql(app, "SELECT * FROM sessions")
    assert len(rows) == 1 and sid not in str(tuple(rows[0]))
    assert rows[0]["ip"] == "testclient" and rows[0]["user_agent"] == "testclient"
    assert rows[0]["revoked_at"] is None


def test_a_cookie_copied_before_logout_opens_nothing_after(app: FastAPI,
                                                           client: TestClient) -> None:
    login(client, "pcr")
    thief = copy_of(client)
    assert opens(thief)
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert not opens(thief) and thief.get("/api/me").status_code == 401
    assert sql(app, "SELECT revoked_why FROM sessions")[0][0] == "logout"


def test_logging_in_again_in_the_same_browser_ends_the_session_before(
        app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    before = copy_of(client)
    add_account(app, "pcr", "marie")
    again = client.post("/login", data={"username": "marie", "password": PASSWORD,
                                        "csrf_token": csrf(client)}, follow_redirects=False)
    assert again.status_code == 303 and client.get("/api/me").json()["username"] == "marie"
    assert not opens(before)


def test_a_password_change_ends_the_other_sessions_only(app: FastAPI,
                                                        client: TestClient) -> None:
    login(client, "pcr")
    with TestClient(app) as laptop:
        login(laptop, "pcr")
        thief = copy_of(laptop)
        wrong = client.post("/account/password", data={
            "current": "not my password", "new": NEW_PASSWORD, "new2": NEW_PASSWORD,
            "csrf_token": csrf(client)})
        assert wrong.status_code == 400 and 'id="current-error"' in wrong.text
        assert opens(thief)  # nothing changed
        done = client.post("/account/password", data={
            "current": PASSWORD, "new": NEW_PASSWORD, "new2": NEW_PASSWORD,
            "csrf_token": csrf(client)}, follow_redirects=False)
        assert done.status_code == 303
        assert opens(client)  # the session asking stays open
        assert not opens(laptop) and not opens(thief)
    assert audit_rows(app, "user.password")[0]["detail"] == {"sessions_ended": 1}
    with TestClient(app) as fresh:  # the new password is the one that works
        token = csrf(fresh)
        for password, status in ((PASSWORD, 401), (NEW_PASSWORD, 303)):
            response = fresh.post("/login", data={"username": "pcr", "password": password,
                                                   "csrf_token": token}, follow_redirects=False)
            assert response.status_code == status


@pytest.mark.parametrize("new,new2,field,message", [
    ("short", "short", "new", "au moins 10 caractères"),
    (NEW_PASSWORD, "something else", "new2", "Les deux mots de passe diffèrent."),
    (PASSWORD, PASSWORD, "new", "doit différer"),
])
def test_a_refused_new_password_says_why_next_to_the_field(
        app: FastAPI, client: TestClient, new: str, new2: str, field: str,
        message: str) -> None:
    login(client, "viewer")
    response = client.post("/account/password", data={
        "current": PASSWORD, "new": new, "new2": new2, "csrf_token": csrf(client)})
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in response.text
    assert not audit_rows(app, "user.password")


def test_a_deactivation_ends_every_session_for_good(app: FastAPI, client: TestClient) -> None:
    login(client, "admin")
    with TestClient(app) as jeanne:
        login(jeanne, "pcr", "jeanne")
        thief = copy_of(jeanne)
        uid = jeanne.get("/api/me").json()["id"]
        for action in ("deactivate", "activate"):
            client.post(f"/admin/users/{uid}/{action}", data={"csrf_token": csrf(client)})
        assert not opens(thief) and not opens(jeanne)  # reactivating brings none back
    assert audit_rows(app, "user.deactivate")[0]["detail"] == {"sessions_ended": 1}


def test_an_admin_ends_one_accounts_sessions_then_everyones_but_their_own(
        app: FastAPI, client: TestClient) -> None:
    login(client, "admin")
    with TestClient(app) as paul, TestClient(app) as marie:
        login(paul, "viewer", "paul")
        login(marie, "pcr", "marie")
        paul_copy, marie_copy = copy_of(paul), copy_of(marie)
        page = client.get("/admin/users")
        assert 'data-user="paul">1' in page.text
        uid = paul.get("/api/me").json()["id"]
        response = client.post(f"/admin/users/{uid}/sessions/end",
                               data={"csrf_token": csrf(client)})
        assert "Sessions de paul fermées\u202f: 1." in response.text
        assert not opens(paul_copy) and opens(marie_copy)
        response = client.post("/admin/sessions/end-all", data={"csrf_token": csrf(client)})
        assert "Sessions fermées\u202f: 1 (" in response.text  # marie and her copy: one session
        assert not opens(marie_copy) and not opens(marie) and opens(client)
    assert audit_rows(app, "session.end_user")[0]["target"] == "user:paul"
    assert audit_rows(app, "session.end_all")[0]["detail"] == {"sessions_ended": 1}


def test_the_admin_api_ends_sessions_and_keeps_tokens(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer", "paul")
    thief = copy_of(client)
    paul_token = api_token(app, "viewer", "paul")
    admin = bearer(api_token(app, "admin", "root"))
    uid = client.get("/api/me").json()["id"]
    ended = client.post(f"/api/users/{uid}/sessions/end", headers=admin)
    assert ended.status_code == 200 and ended.json() == {"sessions_ended": 1}
    assert not opens(thief)
    assert client.get("/api/me", headers=bearer(paul_token)).status_code == 200
    assert client.post("/api/users/999/sessions/end", headers=admin).status_code == 404
    assert client.post(f"/api/users/{2**64}/sessions/end", headers=admin).status_code == 422
    assert client.post("/api/sessions/end-all", headers=bearer(paul_token)).status_code == 403
    assert client.post("/api/sessions/end-all", headers=admin).json() == {"sessions_ended": 0}


def test_a_user_sees_and_ends_their_own_sessions(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    with TestClient(app) as laptop, TestClient(app) as other:
        login(laptop, "pcr")
        login(other, "viewer", "someone")
        mine = client.get("/api/me/sessions").json()
        assert len(mine) == 2 and sum(s["current"] for s in mine) == 1
        page = client.get("/account")
        assert "cette session" in page.text and page.text.count("/sessions/") >= 2
        theirs = other.get("/api/me/sessions").json()[0]["id"]
        refused = client.post(f"/account/sessions/{theirs}/end", data={"csrf_token": csrf(client)})
        assert refused.status_code == 404 and opens(other)
        laptop_id = next(s["id"] for s in mine if not s["current"])
        client.post(f"/account/sessions/{laptop_id}/end", data={"csrf_token": csrf(client)})
        assert not opens(laptop) and opens(client)
        login(laptop, "pcr")
        client.post("/account/sessions/end-others", data={"csrf_token": csrf(client)})
        assert not opens(laptop) and opens(client)
        current = client.get("/api/me/sessions").json()[0]["id"]
        response = client.post(f"/account/sessions/{current}/end",
                               data={"csrf_token": csrf(client)}, follow_redirects=False)
        assert response.headers["location"] == "/login" and not opens(client)
    assert [r["action"] for r in audit_rows(app, "session.")] == [
        "session.end", "session.end_others", "session.end"]


def test_idle_and_absolute_expiry(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    now = time.time()
    idle = app.state.sessions.policy.idle_s
    stale = session_store.iso(now - session_store.TOUCH_EVERY_S - 5)
    sql(app, "UPDATE sessions SET last_seen_at = ?", [stale])
    assert opens(client)  # used again: last seen moves
    seen = sql(app, "SELECT last_seen_at FROM sessions")[0][0]
    assert seen > stale
    conn = connect(app.state.store_path)
    conn.execute("UPDATE sessions SET last_seen_at = ?", [session_store.iso(now - idle - 1)])
    conn.close()
    assert not opens(client)  # idle too long
    login(client, "viewer")
    sql(app, "UPDATE sessions SET expires_at = ? WHERE revoked_at IS NULL",
        [session_store.iso(now - 1)])
    assert not opens(client)  # past its absolute end, however busy


def test_a_store_from_before_sessions_refuses_old_cookies(tmp_path: Path) -> None:
    """The table is added at start; a cookie of the old kind ({"uid": ...}) opens nothing."""
    path = tmp_path / "hub.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE
            COLLATE NOCASE, display_name TEXT NOT NULL DEFAULT '', role TEXT NOT NULL,
            password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL);
        CREATE TABLE web_meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO web_meta VALUES ('session_secret', 'the secret of an older hub');
    """)
    conn.close()
    app = make_app(tmp_path, store={"path": str(path)})
    assert sql(app, "SELECT count(*) FROM sessions")[0][0] == 0
    user = add_account(app, "admin", "legacy")
    old = app.state.sessions.serializer.dumps({"uid": user.id, "csrf": "x" * 32})
    with TestClient(app) as client:
        client.cookies.set(COOKIE, old)
        assert not opens(client) and client.get("/api/me").status_code == 401
        login(client, "admin", "legacy")  # logging in again works
        assert opens(client)
