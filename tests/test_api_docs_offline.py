"""``/api/docs`` on a hub cut off from the internet, and the favicon.

Swagger UI's script and style sheet come from the hub itself (the ``fastapi-offline``
package, behind the login like the page); the page names no other host. In Chromium,
with every request to another host refused, the page still lists the API's operations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright import sync_api

from tests import chromium
from tests.web_helpers import PASSWORD, add_account, login, make_app, serving

WAIT_MS = 20_000
#: Every address an HTML attribute or a script of the page loads from.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


def test_the_docs_page_loads_only_from_the_hub(client: TestClient) -> None:
    login(client, "viewer")
    page = client.get("/api/docs")
    assert page.status_code == 200
    urls = references(page.text)
    assert "/api/docs/swagger-ui-bundle.js" in urls and "/api/docs/swagger-ui.css" in urls
    assert "/api/openapi.json" in urls
    assert not [u for u in urls if urlsplit(u).netloc or u.startswith("//")], urls
    assert not re.search(r"https?://", page.text), "the page names another host"
    assert '"validatorUrl": null' in page.text  # the badge would send the schema's address out
    types = {".js": "text/javascript", ".css": "text/css", ".json": "application/json",
             ".svg": "image/svg+xml"}
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] == types[Path(url).suffix], url
        assert len(answer.content) > 0, url
    assert b"SwaggerUIBundle" in client.get("/api/docs/swagger-ui-bundle.js").content


def test_the_assets_are_behind_the_login_and_only_the_named_ones(client: TestClient) -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/api/docs/{asset}").status_code == 401
    login(client, "viewer")
    for other in ("redoc.standalone.js", "favicon.png", "core.py", "..%2Fcore.py", "%2e%2e"):
        assert client.get(f"/api/docs/{other}").status_code == 404, other


def test_the_favicon_answers_without_a_session(client: TestClient) -> None:
    for url in ("/favicon.ico", "/static/favicon.svg"):
        icon = client.get(url, follow_redirects=False)
        assert icon.status_code == 200, url
        assert icon.headers["content-type"].startswith("image/svg+xml"), url
        assert icon.content.startswith(b"<svg") and b"<script" not in icon.content
        assert not re.search(rb"(?:href|src)\s*=", icon.content), "an icon loads nothing"


# --- in Chromium, with no internet -------------------------------------------------------------




def test_swagger_ui_renders_the_operations_with_no_internet(app: FastAPI) -> None:
    add_account(app, "viewer")
    refused: list[str] = []

    def only_the_hub(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with serving(app) as url, chromium.launched() as browser:
        page = browser.new_page(locale="en-GB")
        page.set_default_timeout(WAIT_MS)
        page.route("**/*", only_the_hub)
        page.goto(f"{url}/login")
        page.fill("#username", "viewer")
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/api/docs")
        expect = sync_api.expect
        operation = page.locator(".opblock-summary-path[data-path='/api/rooms']")
        expect(operation.first).to_be_visible(timeout=WAIT_MS)
        assert page.locator(".opblock").count() >= 10
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Voyant hub")
        assert page.title() == "Voyant hub API"
        assert page.locator(".errors-wrapper").count() == 0
        # The guard works: a request out is refused (and recorded), as with no network.
        out = page.evaluate("""() => fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/')
                               .then(() => 'reached', () => 'refused')""")
        assert out == "refused"
        assert refused == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"], refused

