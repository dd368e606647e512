"""French (default) and English, every string through gettext catalogs.

The catalogs are the ``.po`` files in ``hub/locale/<lang>/LC_MESSAGES/voyant.po``,
read with Babel at start (no build step, no compiled ``.mo`` to forget). The
language comes from the ``lang`` cookie (set by the language switch), else the
browser's ``Accept-Language``, else French.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("fr", "en")
DEFAULT = "fr"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (English falls back to the source strings)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "voyant.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    out = Translations()
    out._catalog = {  # gettext's own table: msgid -> msgstr
        message.id: message.string for message in catalog
        if isinstance(message.id, str) and isinstance(message.string, str) and message.string
    }
    return out


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
