"""French (default) and English, every string through gettext catalogs.

The catalogs are the ``.po`` files in ``hub/locale/<lang>/LC_MESSAGES/`` (one per
area of the interface, merged), read with Babel at start (no build step, no
compiled ``.mo`` to forget). Source strings are English. The
language comes from the ``lang`` cookie (set by the language switch), else the
browser's ``Accept-Language``, else French.

In templates: ``{{ _("Rooms") }}``; in Python: ``translate(request, "Rooms")``
(:mod:`hub.web.templating`) or, with no request at hand, mark with
``N_("Rooms")`` and translate later. Every literal of these three forms must
have a French entry in some ``hub/locale/fr/LC_MESSAGES/*.po`` (tests/test_i18n.py).
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("fr", "en")
DEFAULT = "fr"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The merged catalogs of ``lang`` (English falls back to the source strings)."""
    table: dict[Any, str] = {}
    for path in sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        table.update({
            message.id: message.string for message in catalog
            if isinstance(message.id, str) and isinstance(message.string, str) and message.string
        })
    out = Translations()
    out._catalog = table  # gettext's own table: msgid -> msgstr
    return out


def N_(message: str) -> str:
    """Mark ``message`` for translation where no request is at hand; translate it later.

    ``raise AccountError("password", N_("at least {n} characters"), n=10)``: the page
    shows ``translate(request, exc.message).format(**exc.params)``; the catalog test
    (tests/test_i18n.py) finds the literals marked so, as it finds those of ``_()``.
    """
    return message


def language(request: Request) -> str:
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT


def gettext_for(request: Request) -> gettext.NullTranslations:
    return translations(language(request))
