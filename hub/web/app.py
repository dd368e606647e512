"""The hub's web application: pages, JSON API, live updates, with the ingest in its lifespan.

``create_app(config)`` builds the FastAPI app; ``voyant-hub run`` serves it
with uvicorn, and its lifespan runs the MQTT ingest (:class:`hub.ingest.Ingest`)
in the same event loop, so one process holds the one writer of the store.
Tests build it with ``ingest=False`` and a store they fill themselves.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.config import HubConfig
from hub.ingest import Ingest
from hub.store import Store
from hub.web import routes_admin, routes_auth, routes_events, routes_rooms
from hub.web.accounts import create_schema
from hub.web.auth import LoginRequired
from hub.web.db import connect, write
from hub.web.session import Sessions, install

STATIC = Path(__file__).resolve().parent / "static"
ROUTERS = (routes_auth, routes_rooms, routes_events, routes_admin)


def create_app(config: HubConfig, *, ingest: bool = True) -> FastAPI:
    store_path = config.store.path
    prepare_store(store_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if ingest:
            app.state.ingest = Ingest(config)
            task = asyncio.create_task(app.state.ingest.run(), name="ingest")
        try:
            yield
        finally:
            if task is not None:
                app.state.ingest.stop()
                await task

    app = FastAPI(title="Voyant hub", version="1", lifespan=lifespan,
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.config = config
    app.state.store_path = store_path
    app.state.ingest = None
    install(app, Sessions(session_secret(store_path), int(config.web.session_hours * 3600),
                          config.web.secure_cookie))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for the supervisor: no session needed, nothing disclosed."""
        return {"status": "ok"}

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    return app


def prepare_store(path: str) -> None:
    """Create the ingest's tables and the web's own (accounts, tokens) if missing."""
    Store.open(path).close()
    conn = connect(path)
    try:
        create_schema(conn)
    finally:
        conn.close()


def session_secret(path: str) -> str:
    """The key that signs session cookies: drawn once, kept in the store (survives restarts)."""
    conn = connect(path)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS web_meta (key TEXT PRIMARY KEY, value TEXT)")
        with write(conn):
            conn.execute("INSERT OR IGNORE INTO web_meta VALUES ('session_secret', ?)",
                         [secrets.token_urlsafe(48)])
        return str(conn.execute(
            "SELECT value FROM web_meta WHERE key = 'session_secret'").fetchone()[0])
    finally:
        conn.close()
