"""Jinja2 templates (autoescaped) with gettext: ``{{ _("Rooms") }}``, the user, the language.

Every page's header shows how many critical events nobody has acknowledged yet
(``open_critical``): read here, once per render, so that no route can forget it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub.web import names, timeshow
from hub.web.deps import RequestDb
from hub.web.i18n import gettext_for, language
from hub.web.room_alerts import open_critical
from wire import kinds

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


@dataclass(frozen=True, slots=True)
class OpenCritical:
    """The header's count of critical events not acknowledged, and the newest one's id
    (the page's script compares it with the last it saw to notice a new one)."""

    count: int
    latest: int


def _open_critical(request: Request) -> OpenCritical | None:
    """For a signed-in reader only (the login page shows nothing), on the request's one
    connection; none when the store cannot say (an error page must still render)."""
    holder = getattr(request.state, "db", None)
    if getattr(request.state, "user", None) is None or not isinstance(holder, RequestDb):
        return None
    try:
        return OpenCritical(*open_critical(holder.get()))
    except sqlite3.Error:
        log.warning("cannot count the open critical events", exc_info=True)
        return None


class SiteNames:
    """The site's names for one render (``point_label``, ``subject_label`` in templates),
    read at first use only: most pages name no point and no door."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._loaded: tuple[names.Names, dict[int, str]] | None = None

    def _load(self) -> tuple[names.Names, dict[int, str]] | None:
        holder = getattr(self.request.state, "db", None)
        if self._loaded is None and isinstance(holder, RequestDb):
            try:
                conn = holder.get()
                self._loaded = (names.load(conn), {int(i): str(d) for i, d in conn.execute(
                    "SELECT id, device FROM points")})
            except sqlite3.Error:
                log.warning("cannot read the display names", exc_info=True)
        return self._loaded

    def point(self, point_id: object, name: object) -> str:
        """A measurement point's site name, else its own name."""
        fallback = "" if name is None else str(name)
        if not isinstance(point_id, int) or (loaded := self._load()) is None:
            return fallback
        device = loaded[1].get(point_id)
        return fallback if device is None else loaded[0].point(device, fallback)

    def subject(self, device: object, about: object) -> str:
        """What an alarm is about (a door, a lamp) by the site's name, else as stored."""
        text = "" if about is None else str(about)
        loaded = self._load()
        label = None if loaded is None else loaded[0].subject(str(device), text)
        return label or text


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """Render ``name`` in the request's language, with ``user``, ``lang``, ``csrf_token``
    and ``open_critical`` (:class:`OpenCritical`, none when nobody is signed in)."""
    translations = gettext_for(request)
    lang = language(request)
    ctx = {
        "_": translations.gettext,  # per request, not on the shared environment: thread-safe
        "ngettext": translations.ngettext,
        "user": getattr(request.state, "user", None),
        "lang": lang,
        # An alarm's or event's name in the reader's language, from the one vocabulary.
        "alarm_label": lambda kind: kinds.label(str(kind or ""), lang),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "open_critical": _open_critical(request),
        # A stored UTC time as Paris wall time, to the minute.
        "paris_time": timeshow.paris,
        "point_label": (site := SiteNames(request)).point,
        "subject_label": site.subject,
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code)


def translate(request: Request, message: str) -> str:
    """A string of Python code in the request's language (error messages, flash lines)."""
    return gettext_for(request).gettext(message)
