"""Login throttling: a back-off that slows guessers and never locks the real user out.

And the client address it counts by: ``X-Forwarded-For`` is read only from a
peer named in ``[web] trusted_proxies``, in the app and through the real
HTTP server (uvicorn, configured as ``voyant-hub run`` configures it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.config import parse_config
from hub.db.connection import connect
from hub.web import audit
from hub.web.client import client_address, networks
from hub.web.ratelimit import LoginLimiter
from tests.web_helpers import PASSWORD, add_account, csrf, make_app, serving
from wire.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def post_login(client: TestClient, username: str, password: str,
               headers: dict[str, str] | None = None) -> Any:
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf(client)},
                       headers=headers or {}, follow_redirects=False)


def from_address(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, client=(ip, 50000))


def audit_ips(app: FastAPI, action: str) -> list[str]:
    conn = connect(app.state.store_path)
    try:
        return [row["ip"] for row in audit.entries(conn, action=action)]
    finally:
        conn.close()


# --- the back-off -------------------------------------------------------------------------


def test_the_wait_doubles_up_to_the_cap_and_a_success_resets_it() -> None:
    clock = Clock()
    limiter = LoginLimiter(free=3, max_s=10, clock=clock)
    waits = []
    for _ in range(9):
        limiter.failed("10.0.0.1", "alice")
        waits.append(limiter.retry_after("10.0.0.1", "alice") or 0)
        clock.now += waits[-1]  # wait exactly as told: the next attempt is allowed
        assert limiter.retry_after("10.0.0.1", "alice") is None
    assert waits == [0, 0, 1, 2, 4, 8, 10, 10, 10]
    limiter.failed("10.0.0.2", "ALICE ")  # another address, the same account
    limiter.succeeded("10.0.0.1", "alice")
    limiter.failed("10.0.0.1", "alice")
    assert limiter.retry_after("10.0.0.1", "alice", known=True) is None  # free again
    # The other address's failures stay: with 4 more the username has used its 2 x 3 free,
    # which slows new addresses, not the one it logged in from.
    for _ in range(4):
        limiter.failed("10.0.0.2", "alice")
    assert limiter.retry_after("10.0.0.3", "alice") == 1
    assert limiter.retry_after("10.0.0.1", "alice", known=True) is None


def test_an_address_trying_many_accounts_is_slowed_too() -> None:
    limiter = LoginLimiter(free=2, max_s=300, clock=Clock())
    for n in range(8):  # 4 x 2 free for an address
        limiter.failed("10.0.0.1", f"user{n}")
    assert limiter.retry_after("10.0.0.1", "someone-else", known=True) == 1
    assert limiter.retry_after("10.0.0.2", "someone-else") is None


def test_counters_are_forgotten_after_a_quiet_hour() -> None:
    clock = Clock()
    limiter = LoginLimiter(free=1, max_s=60, clock=clock)
    for _ in range(5):
        limiter.failed("10.0.0.1", "bob")
    assert limiter.retry_after("10.0.0.1", "bob") == 16
    clock.now += limiter.forget_s() + 1
    assert limiter.retry_after("10.0.0.1", "bob") is None


# --- through the login page -----------------------------------------------------------------


def test_the_real_admin_logs_in_from_a_known_address_while_others_spray(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.state.login_limiter.clock = Clock()  # time stands still: no wait ever runs out
    add_account(app, "admin")
    with from_address(app, "10.0.0.1") as desk:
        assert post_login(desk, "admin", PASSWORD).status_code == 303  # a known address now
    statuses = []
    for n in range(4):
        with from_address(app, f"192.0.2.{n}") as sprayer:
            statuses += [post_login(sprayer, "admin", f"guess {i}").status_code
                         for i in range(5)]
    # 3 free guesses from each of the first two; then the username has used its 2 x 3
    # free for unknown addresses, and the next ones wait from their first guess.
    assert statuses == [401] * 3 + [429] * 2 + [401] * 3 + [429] * 2 + [429] * 10
    with from_address(app, "198.51.100.7") as stranger:  # a new address waits its turn
        refused = post_login(stranger, "admin", PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Trop de tentatives échouées\u202f: attendez" in refused.text
    with from_address(app, "10.0.0.1") as desk:
        assert post_login(desk, "admin", PASSWORD).status_code == 303


def test_a_throttled_attempt_checks_no_password_and_the_wait_grows(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"login_free_attempts": 2, "login_backoff_max_s": 60})
    clock = Clock()
    app.state.login_limiter.clock = clock
    add_account(app, "viewer", "v")
    with from_address(app, "10.0.0.5") as client:
        for _ in range(2):
            assert post_login(client, "v", "wrong password").status_code == 401
        refused = post_login(client, "v", PASSWORD)  # even the right password waits
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        clock.now += 1
        assert post_login(client, "v", "wrong again").status_code == 401
        assert post_login(client, "v", PASSWORD).headers["retry-after"] == "2"
        clock.now += 2
        assert post_login(client, "v", PASSWORD).status_code == 303
    assert audit_ips(app, "login.failure") == ["10.0.0.5"] * 3  # a 429 is no attempt


def test_a_wrong_current_password_is_throttled_like_a_login(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"login_free_attempts": 1})
    app.state.login_limiter.clock = Clock()
    add_account(app, "pcr", "pierre")
    with from_address(app, "10.0.0.5") as client:
        assert post_login(client, "pierre", PASSWORD).status_code == 303
        data = {"current": "a guess 123", "new": "another passphrase", "new2":
                "another passphrase", "csrf_token": csrf(client)}
        assert client.post("/account/password", data=data).status_code == 400
        refused = client.post("/account/password", data={**data, "current": PASSWORD})
        assert refused.status_code == 429 and "retry-after" in refused.headers


# --- the client address ------------------------------------------------------------------------

PROXIES = networks(["127.0.0.1", "10.1.0.0/16"])


@pytest.mark.parametrize("peer,header,expected", [
    ("203.0.113.9", ["10.9.9.9"], "203.0.113.9"),  # an untrusted peer: the header is ignored
    ("127.0.0.1", [], "127.0.0.1"),  # a proxy that sent no header
    ("127.0.0.1", ["6.6.6.6, 198.51.100.4"], "198.51.100.4"),  # what the client claimed: left
    ("127.0.0.1", ["198.51.100.4, 10.1.2.3"], "198.51.100.4"),  # two proxies
    ("127.0.0.1", ["6.6.6.6", "198.51.100.4"], "198.51.100.4"),  # the header twice
    ("127.0.0.1", ["not-an-ip, 10.1.2.3"], "10.1.2.3"),  # garbage: the last trusted hop
    ("127.0.0.1", ["10.1.2.3"], "10.1.2.3"),  # only proxies
    ("::ffff:127.0.0.1", ["198.51.100.4"], "198.51.100.4"),  # a dual-stack peer
    ("testclient", ["198.51.100.4"], "testclient"),
])
def test_the_client_is_the_rightmost_address_not_a_trusted_proxy(
        peer: str, header: list[str], expected: str) -> None:
    assert client_address(peer, header, PROXIES) == expected
    assert client_address(peer, header, ()) == peer  # no proxy configured: the peer


def test_forwarded_for_from_loopback_is_ignored_unless_configured(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.state.login_limiter.clock = Clock()
    with from_address(app, "127.0.0.1") as local:
        statuses = [post_login(local, "admin", "guess", {"X-Forwarded-For": f"203.0.113.{n}"}
                               ).status_code for n in range(6)]
    assert statuses == [401] * 3 + [429] * 3  # one address, whatever the header says
    assert set(audit_ips(app, "login.failure")) == {"127.0.0.1"}
    (tmp_path / "b").mkdir()
    proxied = make_app(tmp_path / "b", web={"trusted_proxies": ["127.0.0.1"]})
    with from_address(proxied, "127.0.0.1") as proxy:
        post_login(proxy, "admin", "guess", {"X-Forwarded-For": "6.6.6.6, 198.51.100.4"})
    with from_address(proxied, "203.0.113.50") as direct:  # not the proxy: header ignored
        post_login(direct, "admin", "guess", {"X-Forwarded-For": "198.51.100.4"})
    assert audit_ips(proxied, "login.failure") == ["203.0.113.50", "198.51.100.4"]


@pytest.mark.parametrize("web,message", [
    ({"trusted_proxies": ["10.0.0.1", "proxy.lan"]},
     "web.trusted_proxies.1: 'proxy.lan' is not an IP address or network"),
    ({"trusted_proxies": ["10.0.0.5/24"]}, "10.0.0.5/24 has host bits set"),
    ({"trusted_proxies": ["0.0.0.0/0"]}, "trusts every address"),
    ({"login_attempts_per_minute": 5}, "web: login_attempts_per_minute: replaced by"),
    ({"session_hours": 48}, "session_max_hours (24.0) must not be below session_hours"),
])
def test_web_settings_are_checked_at_start(web: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"web": web}, "hub.toml")
    assert message in str(error.value)


# --- through the real HTTP server ------------------------------------------------------------




def test_the_real_server_does_not_trust_forwarded_for_from_loopback(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with serving(app) as url, httpx.Client(base_url=url) as http:
        http.get("/login")
        token = app.state.sessions.serializer.loads(http.cookies["voyant_session"])["csrf"]
        response = http.post("/login", data={"username": "x", "password": "guess",
                                             "csrf_token": token},
                             headers={"X-Forwarded-For": "203.0.113.77"})
        assert response.status_code == 401
    assert audit_ips(app, "login.failure") == ["127.0.0.1"]
