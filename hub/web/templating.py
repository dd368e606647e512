"""Jinja2 templates (autoescaped) with gettext: ``{{ _("Rooms") }}``, the user, the language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub.web.i18n import gettext_for, language
from wire import kinds

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """Render ``name`` in the request's language, with ``user``, ``lang`` and ``csrf_token``."""
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
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code)


def translate(request: Request, message: str) -> str:
    """A string of Python code in the request's language (error messages, flash lines)."""
    return gettext_for(request).gettext(message)
