"""The hub's web application: pages, JSON API, live updates, with the ingest in its lifespan.

``create_app(config)`` builds the FastAPI app; ``voyant-hub run`` serves it
with uvicorn, and its lifespan runs the MQTT ingest (:class:`hub.ingest.service.Ingest`)
in the same event loop, so one process holds the one writer of the store.
Tests build it with ``ingest=False`` and a store they fill themselves.

Routes: HTML pages, forms and downloads in :mod:`hub.web.pages` and the JSON
API under ``/api`` in :mod:`hub.web.api`, one module per resource, plus the
live stream (:mod:`hub.web.live`); :data:`ROUTERS` lists them in the order
they are matched. The lifespan also runs the background jobs
(:mod:`hub.jobs`: reports, calendar check, rollups) beside the ingest.

Access (see docs/hub.md, "Access and accounts"): the session middleware
(:mod:`hub.web.session`) identifies each request and gives it its one store
connection, the CSRF middleware (:mod:`hub.web.csrf`) refuses unsafe requests
without the session's token, and every route but ``/login``, ``/lang``,
``/static``, ``/favicon.ico`` and ``/healthz`` takes a role dependency of :mod:`hub.web.deps`
(a test walks them all; ``/metrics`` checks its bearer token itself). If the
ingest stops on an error, ``app.state.ingest_error`` holds it and
``app.state.on_ingest_exit`` (set by ``voyant-hub run``) is called to stop the server.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastapi_offline
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles

from hub import jobs
from hub.config import HubConfig
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.ingest.service import Ingest
from hub.web import live
from hub.web.accounts import dummy_hash
from hub.web.api import account as api_account
from hub.web.api import admin as api_admin
from hub.web.api import calendar as api_calendar
from hub.web.api import events as api_events
from hub.web.api import metrics as api_metrics
from hub.web.api import points as api_points
from hub.web.api import reports as api_reports
from hub.web.api import rooms as api_rooms
from hub.web.auth import Forbidden, LoginRequired
from hub.web.client import networks
from hub.web.csrf import CsrfMiddleware
from hub.web.deps import Viewer
from hub.web.i18n import LANGUAGES, gettext_for, translations
from hub.web.pages import account as pages_account
from hub.web.pages import admin as pages_admin
from hub.web.pages import auth as pages_auth
from hub.web.pages import calendar as pages_calendar
from hub.web.pages import chart as pages_chart
from hub.web.pages import clinical as pages_clinical
from hub.web.pages import events as pages_events
from hub.web.pages import imaging as pages_imaging
from hub.web.pages import names as pages_names
from hub.web.pages import operators as pages_operators
from hub.web.pages import reconcile as pages_reconcile
from hub.web.pages import reports as pages_reports
from hub.web.pages import rooms as pages_rooms
from hub.web.ratelimit import LoginLimiter
from hub.web.session import Sessions, install
from hub.web.session_store import Policy
from hub.web.templating import render

STATIC = Path(__file__).resolve().parent / "static"
#: Swagger UI as the ``fastapi-offline`` package ships it (a dependency: the page of
#: ``/api/docs`` needs no CDN), and the files of it that ``/api/docs`` loads.
SWAGGER_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                  "swagger-ui.css": "text/css; charset=utf-8"}
#: Every router, in the order their routes are matched and listed in the API's schema.
ROUTERS = (pages_auth, live, pages_rooms, pages_chart, api_rooms, pages_events, api_events,
           pages_admin, pages_names, pages_imaging, api_admin, pages_account, api_account,
           pages_reports, api_reports, api_points, pages_calendar, api_calendar, api_metrics,
           pages_clinical, pages_operators, pages_reconcile)


def create_app(config: HubConfig, *, ingest: bool = True) -> FastAPI:
    store_path = config.store.path
    prepare_store(store_path)
    dummy_hash()  # now, not at the first unknown login: that one would take twice as long

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if ingest:
            app.state.ingest = Ingest(config)
            app.state.ingest.on_alarm = lambda: live.broadcaster(app).poke()
            task = asyncio.create_task(app.state.ingest.run(), name="ingest")
            task.add_done_callback(lambda done: _ingest_ended(app, done))
        try:
            jobs.start(app)
            yield
        finally:
            await jobs.stop(app)
            await live.stop(app)  # the SSE poller, before the loop closes
            if task is not None:
                if not task.done():
                    app.state.ingest.stop()
                await asyncio.wait([task])

    # The OpenAPI schema and its page are served below, behind the viewer role like the rest.
    app = FastAPI(title="Voyant hub", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.store_path = store_path
    app.state.ingest = None
    app.state.ingest_error = None
    app.state.on_ingest_exit = None
    app.state.started = api_metrics.Started.now()  # what /metrics counts the uptime from
    for lang in LANGUAGES:  # a broken catalog stops the hub here, not at its first page
        translations(lang)
    #: The background jobs to run: all of them beside the ingest; a test names its own.
    app.state.jobs = jobs.NAMES if ingest else frozenset()
    app.state.login_limiter = LoginLimiter(config.web.login_free_attempts,
                                           config.web.login_backoff_max_s)
    app.state.trusted_proxies = networks(config.web.trusted_proxies)
    app.add_middleware(CsrfMiddleware)  # inside the session middleware, added next
    policy = Policy(config.web.session_hours * 3600, config.web.session_max_hours * 3600)
    install(app, Sessions(session_secret(store_path), policy, config.web.secure_cookie))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for the supervisor: no session needed, nothing disclosed."""
        return {"status": "ok"}

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_schema(user: Viewer) -> dict[str, Any]:
        return app.openapi()

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(user: Viewer) -> HTMLResponse:
        """Swagger UI from the hub itself (no CDN: the page works on a network cut off from
        the internet); no validator badge, which would send the schema's address out."""
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json", title="Voyant hub API",
            swagger_js_url="/api/docs/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/api/docs/{asset}", include_in_schema=False)
    def api_docs_asset(asset: str, user: Viewer) -> Response:
        """Swagger UI's script and style sheet, from the ``fastapi-offline`` package (a
        fixed list of names: nothing else of the package's folder is reachable)."""
        if asset not in SWAGGER_ASSETS:
            raise HTTPException(404, "No such file.")
        return FileResponse(SWAGGER_DIR / asset, media_type=SWAGGER_ASSETS[asset],
                            headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """The warning lamp, for the browsers and tools that ask for ``/favicon.ico``
        whatever the page links (public, like ``/static``: an icon tells nothing)."""
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's own 422, with every value it quotes made JSON-safe: a body may hold
        ``NaN`` or ``Infinity`` (Python's JSON parser reads them, JSON has neither), and
        quoting one back would make the answer itself fail with a 500."""
        return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))},
                            status_code=422)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login?next=" + quote(here, safe="/")
        if request.headers.get("hx-request"):  # HTMX would swap the login page into a fragment
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/") or request.headers.get("hx-request"):
            return JSONResponse({"detail": exc.detail}, status_code=403)
        user = getattr(request.state, "user", None)
        if request.url.path == "/" and user is not None and user.role == "clinical":
            return RedirectResponse("/clinical/studies", status_code=303)  # its home
        _ = gettext_for(request).gettext
        role = {"viewer": _("viewer"), "pcr": _("pcr"), "admin": _("admin"),
                "clinical": _("clinical")}[exc.role]
        return render(request, "error.html", {
            "title": _("Refused"),
            "message": _("This page needs the {role} role.").format(role=role)},
            status_code=403)

    return app


def json_safe(value: Any) -> Any:
    """``value`` with each non-finite float written as text (``nan``, ``inf``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _ingest_ended(app: FastAPI, task: asyncio.Task[None]) -> None:
    """The ingest stopped by itself (an error): keep the error, let the server stop."""
    if task.cancelled():
        return
    app.state.ingest_error = task.exception()
    if app.state.ingest_error is not None and app.state.on_ingest_exit is not None:
        app.state.on_ingest_exit()


def prepare_store(path: str) -> None:
    """Bring the store to this hub's schema (:mod:`hub.db.migrations`, run by opening it:
    every table, the ingest's and the web's): once, at start, so that no request has to
    (a GET never writes). A store from a newer hub is refused (``StoreError``)."""
    Store.open(path).close()


def session_secret(path: str) -> str:
    """The key that signs session cookies: drawn once, kept in the store (survives restarts)."""
    conn = connect(path)
    try:
        with write(conn):
            conn.execute("INSERT OR IGNORE INTO web_meta VALUES ('session_secret', ?)",
                         [secrets.token_urlsafe(48)])
        return str(conn.execute(
            "SELECT value FROM web_meta WHERE key = 'session_secret'").fetchone()[0])
    finally:
        conn.close()
