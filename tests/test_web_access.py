"""Access to the hub's web page and API: login, sessions, CSRF, roles, tokens, audit.

The route walk checks every registered route (whoever added it) answers
nothing without a session or a token, and takes a role dependency of
:mod:`hub.web.deps` (the only place they are written).
"""

from __future__ import annotations

import hashlib
import html
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from hub.cli import main
from hub.db.connection import connect, write
from hub.web import audit
from hub.web.accounts import add_user
from hub.web.auth import ROLES, User
from hub.web.deps import Db, Viewer
from hub.web.pages.auth import safe_next
from tests.web_helpers import (
    PASSWORD,
    add_account,
    api_token,
    bearer,
    csrf,
    login,
    make_app,
)

PUBLIC = {"/login", "/lang", "/healthz", "/favicon.ico"}  # and /static (a mount)
#: Outside /api/ but for programs only: a 401 asking for a bearer token, never the login page.
BEARER_ONLY = {"/metrics"}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Any:
    with TestClient(app) as client:
        yield client


def audit_rows(app: FastAPI, action: str = "") -> list[dict[str, Any]]:
    conn = connect(app.state.store_path)
    try:
        return audit.entries(conn, action=action)
    finally:
        conn.close()


# --- the route walk -----------------------------------------------------------------------

DUMMY = {"int": "1", "float": "1.5", "path": "x/y", "str": "x", "uuid": str(uuid.uuid4())}


def _routes(app: FastAPI) -> list[Any]:
    """Every route, those of included routers too (FastAPI >= 0.16x keeps included routers
    whole in ``app.routes``: their effective routes, with the router's dependencies, come
    from ``iter_route_contexts``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: include_router copied the routes into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _original(route: Any) -> BaseRoute:
    return getattr(route, "original_route", route)  # type: ignore[no-any-return]


def _fill(route: Any) -> str:
    path = route.path
    for name, convertor in route.param_convertors.items():
        kind = type(convertor).__name__.removesuffix("Convertor").lower()
        path = path.replace("{" + name + ":" + kind + "}", DUMMY.get(kind, "1"))
        path = path.replace("{" + name + "}", DUMMY.get(kind, "1"))
    return path


def _requires(route: Any) -> list[str]:
    """The roles of the ``require`` dependencies anywhere in the route's dependency tree."""
    roles, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        role = getattr(dependant.call, "required_role", None)
        if role is not None:
            roles.append(role)
        stack.extend(dependant.dependencies)
    return roles


def _walk(app: FastAPI) -> list[tuple[str, str, Any]]:
    out = []
    for route in _routes(app):
        if isinstance(_original(route), Mount):
            assert route.path == "/static", f"unexpected mount {route.path}: check its access"
            continue
        assert isinstance(_original(route), Route), (
            f"{route!r}: a websocket or unknown route, check its access")
        if route.path in PUBLIC:
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, _fill(route), route))
    return out


def test_the_walk_sees_the_routes(app: FastAPI) -> None:
    paths = {path for _, path, _ in _walk(app)}
    assert {"/admin/users", "/audit", "/api/audit", "/api/openapi.json", "/api/docs",
            "/account/tokens", "/logout", "/metrics"} <= paths


def test_every_route_but_login_static_and_healthz_needs_a_session(app: FastAPI) -> None:
    failures = []
    with TestClient(app) as client:
        token = csrf(client)  # a pre-session token: CSRF passes, the route itself must refuse
        for method, path, _ in _walk(app):
            response = client.request(method, path, headers={"X-CSRF-Token": token},
                                       follow_redirects=False)
            if path.startswith("/api/") or path in BEARER_ONLY:
                ok = response.status_code == 401 and (
                    response.headers.get("www-authenticate") == "Bearer")
            else:
                ok = response.status_code == 303 and response.headers["location"].startswith(
                    "/login?next=")
            if not ok:
                failures.append(f"{method} {path}: {response.status_code}")
            # Without the CSRF token an unsafe request is refused too (never a 2xx).
            if method not in ("GET", "OPTIONS"):
                bare = client.request(method, path, follow_redirects=False)
                if bare.status_code < 300:
                    failures.append(f"{method} {path} without CSRF: {bare.status_code}")
    assert not failures, "answered without a session:\n" + "\n".join(failures)


def test_every_route_takes_a_role(app: FastAPI) -> None:
    missing = [f"{method} {route.path}" for method, _, route in _walk(app)
               if not isinstance(_original(route), APIRoute) or not _requires(route)]
    assert not missing, "routes without a role dependency (hub.web.deps):\n" + "\n".join(missing)


def _role_checks(route: Any) -> list[Any]:
    """The callables of the role dependencies in the route's dependency tree."""
    found, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        if getattr(dependant.call, "required_role", None) is not None:
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


def test_every_role_check_is_one_of_deps(app: FastAPI) -> None:
    """No route module writes its own role check: they all come from hub/web/deps.py (but
    /metrics' bearer-only check, whose refusal differs)."""
    strays = [f"{method} {route.path}: {check.__module__}.{check.__qualname__}"
              for method, path, route in _walk(app) if path not in BEARER_ONLY
              for check in _role_checks(route) if check.__module__ != "hub.web.deps"]
    assert not strays, "role checks outside hub.web.deps:\n" + "\n".join(strays)


def test_the_roles_are_those_the_routes_say(app: FastAPI) -> None:
    """A sample of the route table with the role each needs (a move must keep them)."""
    roles = {(method, route.path): max(_requires(route), key=_rank)
             for method, _, route in _walk(app)}
    assert {key: roles[key] for key in [
        ("GET", "/"), ("GET", "/api/rooms"), ("GET", "/live/stream"), ("GET", "/events"),
        ("POST", "/events/{event_id}/acknowledge"), ("POST", "/api/events/{event_id}/close"),
        ("GET", "/admin/users"), ("POST", "/api/sessions/end-all"), ("GET", "/audit"),
        ("GET", "/account/tokens"), ("GET", "/api/me/sessions"), ("POST", "/reports/prepare"),
        ("PUT", "/api/points/{point_id}/thresholds"), ("GET", "/calendar.ics"),
        ("POST", "/calendar/types"), ("POST", "/api/controls/records"),
        ("GET", "/api/openapi.json"), ("GET", "/clinical/studies"),
        ("GET", "/clinical/studies/{uid}"),
    ]} == {
        ("GET", "/"): "viewer", ("GET", "/api/rooms"): "viewer",
        ("GET", "/live/stream"): "viewer", ("GET", "/events"): "viewer",
        ("POST", "/events/{event_id}/acknowledge"): "pcr",
        ("POST", "/api/events/{event_id}/close"): "pcr", ("GET", "/admin/users"): "admin",
        ("POST", "/api/sessions/end-all"): "admin", ("GET", "/audit"): "admin",
        ("GET", "/account/tokens"): "viewer", ("GET", "/api/me/sessions"): "viewer",
        ("POST", "/reports/prepare"): "pcr", ("PUT", "/api/points/{point_id}/thresholds"): "pcr",
        ("GET", "/calendar.ics"): "viewer", ("POST", "/calendar/types"): "admin",
        ("POST", "/api/controls/records"): "pcr", ("GET", "/api/openapi.json"): "viewer",
        ("GET", "/clinical/studies"): "clinical", ("GET", "/clinical/studies/{uid}"): "clinical",
    }


def _rank(role: str) -> int:
    """A required role's place: ``member`` (any role) lowest, ``clinical`` apart (last)."""
    return ROLES.index(role) if role in ROLES else -1


#: What a role apart may reach: its own pages, and what every role may (its own account).
APART = {"clinical": {"clinical", "member"}}


def _allowed(role: str, required: list[str]) -> bool:
    """Whether ``role`` passes every role dependency of a route (as hub.web.auth.User.can)."""
    user = User(1, role, role, "")  # type: ignore[arg-type]
    return all(r == "member" or user.can(r) for r in required)


def test_the_clinical_role_reaches_its_pages_and_nothing_else(app: FastAPI) -> None:
    """Every route, every method, as a clinical user: refused (403) wherever a ranked role
    is needed, whatever the method; the patient doses pages and its own account answer.
    And the other way: no ranked role, admin included, passes a clinical page."""
    assert all(not _allowed(role, ["clinical"]) for role in ("viewer", "pcr", "admin"))
    assert _allowed("clinical", ["clinical"]) and not _allowed("clinical", ["viewer"])
    failures, reached = [], set()
    with TestClient(app) as client:
        login(client, "clinical")
        token = csrf(client)
        for method, path, route in _walk(app):
            required = _requires(route)
            if path in BEARER_ONLY or path.startswith("/live/"):
                continue  # a session is refused there anyway (401); the stream never ends
            allowed = set(required) <= APART["clinical"]
            if allowed and method != "GET":
                continue  # what it may do is tested on its pages (logging out ends the walk)
            response = client.request(method, path, headers={"X-CSRF-Token": token},
                                      follow_redirects=False)
            if allowed:
                reached.add(path)
                ok = response.status_code not in (401, 403) and not response.headers.get(
                    "location", "").startswith("/login")
            elif path == "/":
                ok = response.headers.get("location") == "/clinical/studies"  # its home
            else:
                ok = response.status_code == 403
            if not ok:
                failures.append(f"{method} {path} ({required}): {response.status_code}")
    assert not failures, "clinical access wrong:\n" + "\n".join(failures)
    assert {"/clinical/studies", "/clinical/studies/1"} <= reached


class _Opened:
    """Every SQLite connection opened while it is installed (sqlite3.connect wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[sqlite3.Connection] = []
        real = sqlite3.connect

        def opening(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            self.connections.append(conn)
            return conn

        monkeypatch.setattr(sqlite3, "connect", opening)

    def open(self) -> list[sqlite3.Connection]:
        still = []
        for conn in self.connections:
            try:
                conn.execute("SELECT 1")
            except sqlite3.ProgrammingError:  # closed
                continue
            still.append(conn)
        return still


@pytest.mark.parametrize("path", ["/api/me", "/events", "/", "/account", "/api/audit"])
def test_a_logged_in_request_opens_one_connection(app: FastAPI, client: TestClient,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   path: str) -> None:
    """The session lookup and the route share the request's connection, closed at its end."""
    login(client, "admin")
    opened = _Opened(monkeypatch)
    assert client.get(path).status_code == 200
    assert len(opened.connections) == 1 and not opened.open()
    token = api_token(app, "admin", "robot")
    opened.connections.clear()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert len(opened.connections) == 1 and not opened.open()


def test_a_request_without_a_store_read_opens_none(client: TestClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _Opened(monkeypatch)
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert opened.connections == []


def test_a_failing_request_closes_its_connection(app: FastAPI,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    @app.get("/api/test-failure")
    def failing(db: Db, user: Viewer) -> None:
        db.execute("SELECT 1")
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        login(client, "viewer")
        opened = _Opened(monkeypatch)
        assert client.get("/api/test-failure").status_code == 500
    assert len(opened.connections) == 1 and not opened.open()


def test_public_routes_answer_without_a_session(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/login").status_code == 200
    assert client.get("/static/voyant.css").status_code == 200


def test_an_invalid_or_revoked_token_is_refused(app: FastAPI, client: TestClient) -> None:
    assert client.get("/api/me", headers=bearer("vy_nonsense")).status_code == 401
    assert client.get("/api/me", headers=bearer("x")).status_code == 401


# --- login and logout ----------------------------------------------------------------------


def _post_login(client: TestClient, username: str, password: str, **extra: str) -> Any:
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf(client), **extra},
                       follow_redirects=False)


def test_login_then_logout(app: FastAPI, client: TestClient) -> None:
    add_account(app, "pcr", "marie")
    response = _post_login(client, "marie", PASSWORD, next="/account/tokens")
    assert response.status_code == 303 and response.headers["location"] == "/account/tokens"
    assert client.get("/api/me").json()["username"] == "marie"
    assert client.get("/account/tokens").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/api/me").status_code == 401
    actions = [row["action"] for row in audit_rows(app)]
    assert actions[:2] == ["logout", "login.success"]


def test_the_csrf_token_changes_at_login(app: FastAPI, client: TestClient) -> None:
    before = csrf(client)
    login(client, "viewer")
    assert csrf(client) != before


def test_a_wrong_password_is_refused_next_to_the_field(app: FastAPI,
                                                       client: TestClient) -> None:
    add_account(app, "viewer", "paul")
    response = _post_login(client, "paul", "not the password")
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.text
    assert 'id="password-error"' in response.text
    assert client.get("/api/me").status_code == 401
    failure = audit_rows(app, "login.failure")[0]
    assert failure["username"] == "paul" and failure["ip"] == "testclient"


def test_an_unknown_user_and_empty_fields(client: TestClient) -> None:
    assert _post_login(client, "nobody", "whatever pass").status_code == 401
    empty = _post_login(client, "", "")
    assert empty.status_code == 400
    assert "Saisissez votre identifiant." in empty.text
    assert "Saisissez votre mot de passe." in empty.text


def test_a_deactivated_account_cannot_log_in(app: FastAPI, client: TestClient) -> None:
    user = add_account(app, "viewer", "old")
    conn = connect(app.state.store_path)
    conn.execute("UPDATE users SET active = 0 WHERE id = ?", [user.id])
    conn.close()
    assert _post_login(client, "old", PASSWORD).status_code == 401


@pytest.mark.parametrize("target,expected", [
    ("/events?room=1", "/events?room=1"), ("https://evil.example/", "/"),
    ("//evil.example/", "/"), ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
    ("", "/"), ("/ok\r\nSet-Cookie: x", "/")])
def test_next_is_a_local_path_only(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_login_does_not_redirect_off_site(app: FastAPI, client: TestClient) -> None:
    add_account(app, "viewer", "v")
    response = _post_login(client, "v", PASSWORD, next="https://evil.example/")
    assert response.headers["location"] == "/"


def test_a_page_without_session_redirects_to_login_and_back(app: FastAPI,
                                                            client: TestClient) -> None:
    response = client.get("/audit?username=x", follow_redirects=False)
    assert response.headers["location"] == "/login?next=/audit%3Fusername%3Dx"
    page = client.get(response.headers["location"])
    assert 'name="next" value="/audit?username=x"' in page.text


def test_the_session_cookie_is_httponly_and_lax(app: FastAPI, client: TestClient) -> None:
    add_account(app, "viewer", "v")
    response = _post_login(client, "v", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_a_forged_cookie_is_no_session(app: FastAPI, client: TestClient) -> None:
    client.cookies.set("voyant_session", '{"uid": 1}')
    assert client.get("/api/me").status_code == 401


def test_language_switch(client: TestClient) -> None:
    response = client.post("/lang", data={"lang": "en", "next": "/login",
                                          "csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "Password" in client.get("/login").text
    evil = client.post("/lang", data={"lang": "fr", "next": "//evil.example",
                                      "csrf_token": csrf(client)}, follow_redirects=False)
    assert evil.headers["location"] == "/"


# --- rate limiting: tests/test_login_throttle.py ------------------------------------------------


# --- CSRF -------------------------------------------------------------------------------------


def test_csrf_refused_without_or_with_a_wrong_token(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    for data, headers in (({}, {}), ({"csrf_token": "forged"}, {}),
                          ({}, {"X-CSRF-Token": "forged"})):
        response = client.post("/account/tokens", data={"name": "n", **data}, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert not audit_rows(app, "token.create")


def test_csrf_accepted_in_the_form_or_the_header(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    assert client.post("/account/tokens", data={"name": "a", "csrf_token": csrf(client)}
                       ).status_code == 200
    assert client.post("/account/tokens", data={"name": "b"},
                       headers={"X-CSRF-Token": csrf(client)}).status_code == 200
    assert len(audit_rows(app, "token.create")) == 2


def test_csrf_in_a_multipart_form(client: TestClient) -> None:
    login(client, "viewer")
    response = client.post("/account/tokens", data={"name": "m", "csrf_token": csrf(client)},
                           files={"unused": ("f.txt", b"x")})
    assert response.status_code == 200


def test_csrf_on_the_api_json_answer(client: TestClient) -> None:
    login(client, "admin")
    response = client.post("/logout", headers={"HX-Request": "true"})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_login_needs_the_pre_session_token(app: FastAPI, client: TestClient) -> None:
    add_account(app, "viewer", "v")
    response = client.post("/login", data={"username": "v", "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 403
    fresh = TestClient(app)  # no cookie at all: a cross-site login attempt
    assert fresh.post("/login", data={"username": "v", "password": PASSWORD,
                                      "csrf_token": "guess"}).status_code == 403


def test_one_sessions_token_does_not_fit_another(app: FastAPI) -> None:
    with TestClient(app) as first, TestClient(app) as second:
        login(first, "viewer")
        login(second, "pcr")
        response = second.post("/account/tokens", data={"name": "x", "csrf_token": csrf(first)})
        assert response.status_code == 403


# --- roles --------------------------------------------------------------------------------------


def test_a_viewer_cannot_administer(app: FastAPI, client: TestClient) -> None:
    login(client, "viewer")
    page = client.get("/admin/users")
    assert page.status_code == 403 and "administrateur" in page.text
    assert client.get("/api/audit").status_code == 403
    response = client.post("/admin/users", data={
        "username": "x", "password": PASSWORD, "password2": PASSWORD, "role": "admin",
        "csrf_token": csrf(client)})
    assert response.status_code == 403


def test_a_pcr_cannot_administer(client: TestClient) -> None:
    login(client, "pcr")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/audit").status_code == 403
    assert client.get("/account/tokens").status_code == 200


def test_the_menu_follows_the_role(client: TestClient) -> None:
    login(client, "pcr")
    assert 'href="/admin/users"' not in client.get("/account/tokens").text
    login(client, "admin")
    assert 'href="/admin/users"' in client.get("/account/tokens").text


# --- accounts (admin) -----------------------------------------------------------------------


def test_admin_creates_and_deactivates_an_account(app: FastAPI, client: TestClient) -> None:
    login(client, "admin")
    response = client.post("/admin/users", data={
        "username": "jeanne", "display_name": "Jeanne D.", "role": "pcr",
        "password": PASSWORD, "password2": PASSWORD, "csrf_token": csrf(client)},
        follow_redirects=False)
    assert response.status_code == 303
    assert "Compte jeanne créé." in client.get(response.headers["location"]).text
    created = audit_rows(app, "user.create")[0]
    assert created["username"] == "admin" and created["target"] == "user:jeanne"
    assert created["detail"] == {"role": "pcr", "display_name": "Jeanne D."}
    conn = connect(app.state.store_path)
    uid = conn.execute("SELECT id FROM users WHERE username = 'jeanne'").fetchone()[0]
    conn.close()
    with TestClient(app) as jeanne:
        login(jeanne, "pcr", "jeanne")
        assert jeanne.get("/api/me").status_code == 200
        assert client.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": csrf(client)},
                           follow_redirects=False).status_code == 303
        assert jeanne.get("/api/me").status_code == 401  # at once
    assert audit_rows(app, "user.deactivate")[0]["target"] == "user:jeanne"


@pytest.mark.parametrize("fields,field,message", [
    ({"username": "a b"}, "username", "1 à 64 caractères, sans espace"),
    ({"password": "short", "password2": "short"}, "password", "au moins 10 caractères"),
    ({"password": "aaaaaaaaaaaa", "password2": "aaaaaaaaaaaa"}, "password", "trop facile"),
    ({"password2": "something else"}, "password2", "Les deux mots de passe diffèrent."),
    ({"role": "root"}, "role", "attendu\u202f: l'un de viewer, pcr, admin"),
    ({"username": "admin"}, "username", "admin est déjà pris"),
])
def test_account_form_errors_next_to_the_field(app: FastAPI, client: TestClient,
                                                fields: dict[str, str], field: str,
                                                message: str) -> None:
    login(client, "admin")
    data = {"username": "newone", "role": "viewer", "password": PASSWORD,
            "password2": PASSWORD, "csrf_token": csrf(client), **fields}
    response = client.post("/admin/users", data=data)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in html.unescape(response.text)
    conn = connect(app.state.store_path)
    count = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    conn.close()
    assert count == 1  # only the admin: nothing half-written
    assert not audit_rows(app, "user.create")[1:]  # the admin's own, made by the helper


def test_an_admin_cannot_deactivate_themself(app: FastAPI, client: TestClient) -> None:
    login(client, "admin")
    uid = client.get("/api/me").json()["id"]
    response = client.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": csrf(client)})
    assert response.status_code == 400
    assert "vous ne pouvez pas désactiver votre propre compte" in response.text


# --- API tokens -----------------------------------------------------------------------------------


def test_token_created_once_used_then_revoked(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    page = client.post("/account/tokens", data={"name": "script", "csrf_token": csrf(client)})
    assert page.headers["cache-control"] == "no-store"
    token = page.text.split('<code class="token">', 1)[1].split("<", 1)[0]
    assert token.startswith("vy_")
    assert token not in client.get("/account/tokens").text  # shown once
    with TestClient(app) as program:
        assert program.get("/api/me", headers=bearer(token)).json()["role"] == "pcr"
        assert program.get("/account/tokens", headers=bearer(token),
                           follow_redirects=False).status_code == 303  # pages ignore tokens
    conn = connect(app.state.store_path)
    stored = conn.execute("SELECT * FROM api_tokens").fetchone()
    conn.close()
    assert token not in json.dumps(dict(stored))
    response = client.post(f"/account/tokens/{stored['id']}/revoke",
                           data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    with TestClient(app) as program:
        assert program.get("/api/me", headers=bearer(token)).status_code == 401
    assert [r["action"] for r in audit_rows(app, "token.")][:2] == ["token.revoke",
                                                                   "token.create"]


def test_the_token_page_offers_and_lists_scopes(app: FastAPI, client: TestClient) -> None:
    login(client, "pcr")
    page = client.get("/account/tokens").text
    assert '<option value="api" selected>' in page and '<option value="calendar" ' in page
    made = client.post("/account/tokens", data={"name": "agenda", "scope": "calendar",
                                                 "csrf_token": csrf(client)})
    token = made.text.split('<code class="token">', 1)[1].split("<", 1)[0]
    feed = made.text.split('<code class="feed-url">', 1)[1].split("<", 1)[0]
    assert html.unescape(feed) == f"http://testserver/calendar.ics?token={token}"
    client.post("/account/tokens", data={"name": "script", "csrf_token": csrf(client)})
    listing = client.get("/account/tokens").text
    assert '<td data-scope="calendar">flux du calendrier seulement</td>' in listing
    assert '<td data-scope="api">API</td>' in listing
    conn = connect(app.state.store_path)
    scopes = dict(conn.execute("SELECT name, scope FROM api_tokens").fetchall())
    conn.close()
    assert scopes == {"agenda": "calendar", "script": "api"}
    assert audit_rows(app, "token.create")[1]["detail"]["scope"] == "calendar"
    with TestClient(app) as program:
        assert program.get("/api/me", headers=bearer(token)).status_code == 401
        assert program.get("/calendar.ics", params={"token": token}).status_code == 200


def test_an_unknown_scope_is_refused_next_to_the_field(app: FastAPI,
                                                      client: TestClient) -> None:
    login(client, "viewer")
    page = client.post("/account/tokens", data={"name": "x", "scope": "admin",
                                                "csrf_token": csrf(client)})
    assert page.status_code == 400
    assert 'id="scope-error"' in page.text and "api, calendar" in page.text
    assert '<code class="token">' not in page.text and not audit_rows(app, "token.create")


def test_an_older_store_gets_token_scopes(tmp_path: Path) -> None:
    """Tokens made before scopes keep their rights (api); starting again changes nothing."""
    path = tmp_path / "hub.db"
    token = "vy_made-by-an-older-hub"
    conn = sqlite3.connect(path)
    conn.executescript(f"""
        CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE
            COLLATE NOCASE, display_name TEXT NOT NULL DEFAULT '', role TEXT NOT NULL,
            password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL);
        CREATE TABLE api_tokens (id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL REFERENCES users (id), name TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT);
        INSERT INTO users (username, role, password_hash, created_at)
            VALUES ('legacy', 'pcr', 'x', '2025-01-01T00:00:00Z');
        INSERT INTO api_tokens (user_id, name, token_sha256, created_at)
            VALUES (1, 'before', '{hashlib.sha256(token.encode()).hexdigest()}',
                    '2025-01-01T00:00:00Z');
    """)
    conn.close()
    make_app(tmp_path, store={"path": str(path)})
    app = make_app(tmp_path, store={"path": str(path)})  # a second start: no error
    conn = connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(api_tokens)")]
    scopes = [row[0] for row in conn.execute("SELECT scope FROM api_tokens")]
    conn.close()
    assert columns.count("scope") == 1 and scopes == ["api"]
    with TestClient(app) as client:
        assert client.get("/api/me", headers=bearer(token)).json()["username"] == "legacy"
        assert client.get("/calendar.ics", params={"token": token}).status_code == 401


def test_someone_elses_token_cannot_be_revoked(app: FastAPI, client: TestClient) -> None:
    api_token(app, "admin")
    login(client, "viewer")
    response = client.post("/account/tokens/1/revoke", data={"csrf_token": csrf(client)})
    assert response.status_code == 404


def test_bearer_requests_need_no_csrf_but_keep_their_role(app: FastAPI,
                                                          client: TestClient) -> None:
    token = api_token(app, "viewer")
    assert client.get("/api/audit", headers=bearer(token)).status_code == 403
    admin = api_token(app, "admin", "root")
    rows = client.get("/api/audit", headers=bearer(admin)).json()
    assert rows[0]["action"] == "token.create"


def test_a_bearer_header_does_not_fall_back_on_the_cookie(app: FastAPI,
                                                          client: TestClient) -> None:
    login(client, "admin")
    assert client.get("/api/me", headers=bearer("vy_revoked")).status_code == 401


def test_api_docs_behind_login(client: TestClient) -> None:
    assert client.get("/api/openapi.json").status_code == 401
    login(client, "viewer")
    schema = client.get("/api/openapi.json").json()
    assert "/api/audit" in schema["paths"] and "/login" not in schema["paths"]
    assert client.get("/api/docs").status_code == 200


def test_api_bad_input_is_a_422_naming_the_field(client: TestClient) -> None:
    login(client, "admin")
    response = client.get("/api/audit", params={"limit": "0"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


# --- the audit log ------------------------------------------------------------------------------


def test_audit_page_filters(app: FastAPI, client: TestClient) -> None:
    add_account(app, "viewer", "v")
    _post_login(client, "v", "wrong password")
    login(client, "admin")
    page = client.get("/audit", params={"action": "login.failure"})
    assert page.status_code == 200 and "login.failure" in page.text
    assert "login.success" not in page.text.split("<tbody>", 1)[1]
    only_v = client.get("/api/audit", params={"username": "v"}).json()
    assert {row["username"] for row in only_v} == {"v"}
    assert client.get("/api/audit", params={"action": "login."}).json()[0]["action"] == (
        "login.success")


def test_audit_record_needs_the_callers_transaction(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        with pytest.raises(RuntimeError, match="inside the caller's write"):
            audit.record(conn, "x", "event.acknowledge", "event:1", {})
        with pytest.raises(sqlite3.OperationalError), write(conn):
            audit.record(conn, "x", "event.acknowledge", "event:1", {"note": "n"})
            conn.execute("INSERT INTO no_such_table VALUES (1)")
        assert audit.entries(conn, action="event.acknowledge") == []  # rolled back together
        with write(conn):
            audit.record(conn, "x", "event.acknowledge", "event:1", {"note": "é"})
        assert audit.entries(conn)[0]["detail"] == {"note": "é"}
    finally:
        conn.close()


# --- the command line ----------------------------------------------------------------------------


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "cli.db"}"\n', encoding="utf-8")
    return path


def test_cli_user_add_with_a_password_file(tmp_path: Path, capsys: Any) -> None:
    config = _config(tmp_path)
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    assert main(["user", "add", "alice", "--role", "admin", "--display-name", "Alice M",
                 "--password-file", str(secret), "--config", str(config)]) == 0
    assert "alice created" in capsys.readouterr().out
    app = make_app(tmp_path, store={"path": str(tmp_path / "cli.db")})
    with TestClient(app) as client:
        assert _post_login(client, "alice", PASSWORD).status_code == 303
        assert client.get("/api/me").json()["role"] == "admin"
    created = audit_rows(app, "user.create")[0]
    assert created["username"].startswith("cli")
    # the same name again, or a weak password: exit 2, the reason on stderr
    assert main(["user", "add", "ALICE", "--role", "viewer", "--password-file", str(secret),
                 "--config", str(config)]) == 2
    assert "taken" in capsys.readouterr().err
    secret.write_text("alice12345678\n", encoding="utf-8")
    assert main(["user", "add", "bob", "--role", "viewer", "--password-file", str(secret),
                 "--config", str(config)]) == 0
    secret.write_text("bob1234567\n", encoding="utf-8")
    assert main(["user", "add", "bob2", "--role", "viewer", "--password-file", str(secret),
                 "--config", str(config)]) == 0
    secret.write_text("short\n", encoding="utf-8")
    assert main(["user", "add", "carl", "--role", "viewer", "--password-file", str(secret),
                 "--config", str(config)]) == 2
    assert "password: at least 10 characters" in capsys.readouterr().err


def test_cli_user_add_prompts_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: Any) -> None:
    config = _config(tmp_path)
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["user", "add", "alice", "--role", "admin", "--config", str(config)]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["user", "add", "alice", "--role", "admin", "--config", str(config)]) == 0


def test_cli_token_add(tmp_path: Path, capsys: Any) -> None:
    config = _config(tmp_path)
    conn = connect(tmp_path / "cli.db")
    conn.close()
    app = make_app(tmp_path, store={"path": str(tmp_path / "cli.db")})
    conn = connect(app.state.store_path)
    add_user(conn, "robot", PASSWORD, "viewer")
    conn.close()
    assert main(["token", "add", "robot", "--name", "export", "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    with TestClient(app) as client:
        assert client.get("/api/me", headers=bearer(token)).json()["username"] == "robot"
    assert main(["token", "add", "nobody", "--name", "x", "--config", str(config)]) == 2


def test_cli_token_add_with_a_scope(tmp_path: Path, capsys: Any) -> None:
    config = _config(tmp_path)
    app = make_app(tmp_path, store={"path": str(tmp_path / "cli.db")})
    add_account(app, "viewer", "agenda")
    assert main(["token", "add", "agenda", "--name", "outlook", "--scope", "calendar",
                 "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    with TestClient(app) as client:
        assert client.get("/calendar.ics", params={"token": token}).status_code == 200
        assert client.get("/api/me", headers=bearer(token)).status_code == 401
    assert audit_rows(app, "token.create")[0]["detail"]["scope"] == "calendar"
    with pytest.raises(SystemExit):  # argparse: exit 2, the choices on stderr
        main(["token", "add", "agenda", "--name", "x", "--scope", "admin",
              "--config", str(config)])
    assert "invalid choice: 'admin'" in capsys.readouterr().err
