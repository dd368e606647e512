"""Helpers for the web tests: an app on a temporary store, a logged-in client, CSRF tokens.

Stable signatures (other areas' tests use them)::

    app = make_app(tmp_path)                       # FastAPI, ingest off, store in tmp_path
    app = make_app(tmp_path, web={"login_free_attempts": 3})   # config overrides
    app.state.jobs = {"controls"}                  # background jobs to run (none by default)
    with TestClient(app) as client:                # runs the lifespan
        login(client, "pcr")                       # a "pcr" account, logged in
        client.post("/x", data={"csrf_token": csrf(client)})
        client.post("/x", headers={"X-CSRF-Token": csrf(client)})
    token = api_token(app, "viewer")               # for Authorization: Bearer
    user = add_account(app, "admin")               # an account, not logged in

``login`` gives the account the username of its role (``"viewer"``, ``"pcr"``,
``"admin"``) unless ``username=`` is given, and the password :data:`PASSWORD`.
Calling it again logs in as another account in the same client (the cookie jar
holds one session).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.cli import web_server_config
from hub.config import parse_config
from hub.db.connection import connect
from hub.web.accounts import add_user, new_token
from hub.web.app import create_app
from hub.web.auth import Role, User
from hub.web.session import COOKIE
from sim.broker import free_port
from tests.polling import wait_until

PASSWORD = "correct horse battery staple"


def make_app(tmp_path: Path, **config: Any) -> FastAPI:
    """A hub web app on ``tmp_path/hub.db`` without the MQTT ingest.

    Keyword arguments are configuration tables merged over the defaults:
    ``make_app(tmp_path, web={"session_hours": 1})``.
    """
    data: dict[str, Any] = {"store": {"path": str(Path(tmp_path) / "hub.db")}}
    for table, values in config.items():
        data[table] = {**data.get(table, {}), **values}
    return create_app(parse_config(data, "make_app"), ingest=False)


def _app_of(target: FastAPI | TestClient) -> FastAPI:
    app = target.app if isinstance(target, TestClient) else target
    assert isinstance(app, FastAPI)
    return app


def add_account(target: FastAPI | TestClient, role: Role, username: str | None = None,
                password: str = PASSWORD, display_name: str = "") -> User:
    """An active account of ``role`` (reused when the username exists already)."""
    app = _app_of(target)
    username = username or role
    conn = connect(app.state.store_path)
    try:
        row = conn.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
        uid = int(row["id"]) if row is not None else add_user(
            conn, username, password, role, display_name)
        return User(uid, username, role, display_name)
    finally:
        conn.close()


def csrf(client: TestClient) -> str:
    """The CSRF token of the client's current session (a pre-session one if logged out)."""
    app = _app_of(client)
    raw = client.cookies.get(COOKIE)
    if raw is None:
        client.get("/login")  # issues the pre-session cookie
        raw = client.cookies.get(COOKIE)
    assert raw is not None, "the hub set no session cookie"
    data = app.state.sessions.serializer.loads(raw)
    return str(data["csrf"])


def login(client: TestClient, role: Role, username: str | None = None) -> None:
    """Create an account of ``role`` (username = the role unless given) and log the client in."""
    user = add_account(client, role, username)
    client.cookies.clear()
    token = csrf(client)
    response = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "csrf_token": token, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text[:500])


def api_token(target: FastAPI | TestClient, role: Role, username: str | None = None) -> str:
    """A fresh API token of an account of ``role`` (send it as ``Authorization: Bearer``)."""
    app = _app_of(target)
    user = add_account(app, role, username)
    conn = connect(app.state.store_path)
    try:
        return new_token(conn, user.id, "test")
    finally:
        conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


#: Who walks a store: nobody, each role logged in, and an API token.
ROLES = ("anonymous", "viewer", "pcr", "admin", "token")


@contextmanager
def clients_by_role(app: FastAPI, token: str) -> Iterator[dict[str, TestClient]]:
    """A client per entry of :data:`ROLES` on ``app`` (the token's client shows ``token``),
    each kept open for the block: the walks of every route use them all."""
    with ExitStack() as stack:
        out = {}
        for role in ROLES:
            client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
            if role in ("viewer", "pcr", "admin"):
                login(client, role)  # type: ignore[arg-type]
            elif role == "token":
                client.headers.update(bearer(token))
            out[role] = client
        yield out


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` behind uvicorn as ``voyant-hub run`` sets it up, on a free loopback port: for
    what only a real HTTP server shows (a browser, the client's address)."""
    config = web_server_config(app)
    config.port = free_port()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "uvicorn to start", 20)
    assert server.started, "uvicorn stopped before it started"
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(20)
