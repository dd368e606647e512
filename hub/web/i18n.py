"""French (default) and English, every string through gettext catalogs.

The catalogs are the ``.po`` files in ``hub/locale/<lang>/LC_MESSAGES/`` (one per
area of the interface, merged), read strictly with Babel at start and compiled in
memory through its public API (no build step, no ``.mo`` file to forget; a broken
catalog stops the hub instead of losing strings silently). Source strings are
English. The language comes from the ``lang`` cookie (set by the language switch),
else the browser's ``Accept-Language`` by its q-values (Babel negotiates), else French.

In templates: ``{{ _("Rooms") }}``; in Python: ``translate(request, "Rooms")``
(:mod:`hub.web.templating`) or, with no request at hand, mark with
``N_("Rooms")`` (:mod:`hub.messages`) and translate later. Every literal of these
three forms must have a French entry in some ``hub/locale/fr/LC_MESSAGES/*.po``
(tests/test_i18n.py).
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations
from fastapi import Request

from hub.errors import CatalogError

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("fr", "en")
DEFAULT = "fr"
#: At most this many entries of an ``Accept-Language`` header are considered.
MAX_RANGES = 32


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The merged catalogs of ``lang`` (English falls back to the source strings)."""
    merged = Translations()
    for path in sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
        try:
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=lang, abort_invalid=True)
        except (OSError, PoFileError) as exc:
            raise CatalogError(f"{path}: cannot read the catalog: {exc}") from None
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        merged.merge(Translations(compiled))  # a later file's entry wins (name order)
    return merged


def preferred(header: str) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, highest q-value first.

    A range with ``q=0`` is refused by the browser, so it is dropped; a range whose
    q-value does not parse is dropped too (RFC 9110 allows 0 to 1, three decimals);
    equal q-values keep the header's order.
    """
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:MAX_RANGES]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if tag and 0.0 < quality <= 1.0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(header: str) -> str:
    """The interface language for an ``Accept-Language`` header; French if none fits."""
    match = Locale.negotiate(preferred(header), LANGUAGES, sep="-")
    return match.language if match is not None and match.language in LANGUAGES else DEFAULT


def language(request: Request) -> str:
    """The explicit choice (the ``lang`` cookie) first, else the browser's preference."""
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language", ""))


def gettext_for(request: Request) -> gettext.NullTranslations:
    return translations(language(request))
