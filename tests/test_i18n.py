"""Every string of the interface has a French translation in the merged catalogs.

Extracts the literals of ``_("...")``, ``N_("...")`` and ``translate(request, "...")``
from hub/web/templates/**/*.html and hub/web/**/*.py (a regular expression,
adjacent Python literals joined), and looks each up in the merged French catalog
(hub/locale/fr/LC_MESSAGES/*.po, one file per area).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import PoFileError, read_po
from fastapi.testclient import TestClient

from hub.errors import CatalogError
from hub.web.i18n import LOCALE_DIR, negotiate, preferred, translations
from tests.web_helpers import make_app

WEB = Path(__file__).resolve().parent.parent / "hub" / "web"
_LITERAL = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
_LITERALS = rf"((?:\s*{_LITERAL})+)"
PATTERNS = (
    re.compile(rf"(?<![\w.])N?_\({_LITERALS}\s*[,)]"),
    re.compile(rf"(?<![\w.])translate\(\s*\w+\s*,{_LITERALS}\s*[,)]"),
    re.compile(rf"(?<![\w.])ngettext\({_LITERALS}\s*,{_LITERALS}"),
)


def _value(literals: str) -> str:
    try:
        value = ast.literal_eval("(" + literals.strip() + ")")
    except (SyntaxError, ValueError):
        return literals.strip()[1:-1]
    return str(value)


def extracted() -> dict[str, set[str]]:
    """msgid -> the files using it."""
    found: dict[str, set[str]] = {}
    files = sorted(WEB.glob("templates/**/*.html")) + sorted(WEB.glob("**/*.py"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            for match in pattern.finditer(text):
                for group in match.groups():
                    if group is not None:
                        found.setdefault(_value(group), set()).add(
                            str(path.relative_to(WEB.parent.parent)))
    return found


def test_the_extraction_finds_strings_of_each_kind() -> None:
    found = extracted()
    assert "Log in" in found  # a template's _()
    assert "Wrong username or password." in found  # translate(request, ...)
    assert "at least {n} characters" in found  # N_()
    assert any(m.startswith("This form has expired") and m.endswith("try again.")
               for m in found)  # adjacent literals joined


def test_every_catalog_parses() -> None:
    """``abort_invalid``: without it Babel skips what it cannot read, and the test could
    not fail."""
    for path in sorted((LOCALE_DIR / "fr" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            read_po(handle, locale="fr", abort_invalid=True)


def test_a_broken_catalog_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "broken.po"
    broken.write_text('msgid "Rooms"\nmsgstr "Salles"\nSalles sans guillemets\n',
                      encoding="utf-8")
    with broken.open("rb") as handle, pytest.raises(PoFileError):
        read_po(handle, locale="fr", abort_invalid=True)


def plurals() -> dict[str, str]:
    """The plural msgid of each ``ngettext`` call -> its singular msgid."""
    pattern = PATTERNS[2]
    return {_value(plural): _value(singular)
            for path in sorted(WEB.glob("templates/**/*.html")) + sorted(WEB.glob("**/*.py"))
            for singular, plural in pattern.findall(path.read_text(encoding="utf-8"))}


def _translated(french: Any, message: str, pairs: dict[str, str]) -> bool:
    """A msgid, or the plural of an ``ngettext`` pair, has its French entry."""
    if message in pairs:
        return french.ngettext(pairs[message], message, 2) != message
    return french.gettext(message) != message or _same_in_french(message)


def test_every_string_has_a_french_translation() -> None:
    french, pairs = translations("fr"), plurals()
    missing = {message: files for message, files in extracted().items()
               if message and not _translated(french, message, pairs)}
    report = "\n".join(f"  {message!r}  ({', '.join(sorted(files))})"
                       for message, files in sorted(missing.items()))
    assert not missing, (f"{len(missing)} string(s) without a French translation in "
                         f"hub/locale/fr/LC_MESSAGES/*.po:\n{report}")


def _same_in_french(message: str) -> bool:
    """Strings that are the same in French (an explicit entry msgstr == msgid also counts)."""
    for path in (LOCALE_DIR / "fr" / "LC_MESSAGES").glob("*.po"):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="fr")
        entry = catalog.get(message)
        if entry is not None and entry.string:
            return True
    return False


def test_placeholders_survive_translation() -> None:
    french = translations("fr")
    for message in extracted():
        names = set(re.findall(r"\{(\w*)\}", message))
        assert set(re.findall(r"\{(\w*)\}", french.gettext(message))) == names, message


def test_the_interface_is_french_by_default_and_english_on_request(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        page = client.get("/login")
        assert '<html lang="fr">' in page.text and "Mot de passe" in page.text
        english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert '<html lang="en">' in english.text and "Password" in english.text
        client.cookies.set("lang", "en")
        assert "Password" in client.get("/login").text


# --- the language: the cookie, else Accept-Language by q-values, else French -----------------


@pytest.mark.parametrize(("header", "lang"), [
    ("en;q=0.9, fr;q=0.8", "en"),
    ("fr;q=0.1, en", "en"),  # q-values, not the order of the header
    ("fr;q=0.8, en;q=0.9", "en"),
    ("de", "fr"),  # no catalog: the default
    ("de, en;q=0.5", "en"),
    ("en-GB,en;q=0.8", "en"),
    ("fr-CA", "fr"),
    ("EN", "en"),
    ("garbage", "fr"),
    (";;, ,q=", "fr"),
    ("", "fr"),
    ("*", "fr"),
    ("en;q=0", "fr"),  # q=0: "not this one"
    ("en;q=0, fr;q=0.1", "fr"),
    ("en;q=abc, fr;q=0.2", "fr"),  # a q-value that does not parse drops its range
])
def test_accept_language_is_negotiated_by_q_values(header: str, lang: str) -> None:
    assert negotiate(header) == lang


def test_q_zero_is_excluded_and_ties_keep_the_header_order() -> None:
    assert preferred("de;q=0.5, en;q=0, es;q=0.5, it") == ["it", "de", "es"]


def test_the_cookie_wins_over_the_browser(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        assert '<html lang="en">' in client.get(
            "/login", headers={"Accept-Language": "fr;q=0.1, en"}).text
        client.cookies.set("lang", "fr")
        assert '<html lang="fr">' in client.get(
            "/login", headers={"Accept-Language": "en"}).text


def test_the_catalogs_are_read_strictly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's own reading refuses a broken catalog too, not only this test file's."""
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "broken.po").write_text('msgid "Rooms"\nmsgstr "Salles"\nnot a line\n',
                                      encoding="utf-8")
    monkeypatch.setattr("hub.web.i18n.LOCALE_DIR", tmp_path)
    translations.cache_clear()
    try:
        with pytest.raises(CatalogError, match=r"broken\.po: cannot read the catalog"):
            translations("fr")
        # ... and the hub does not start (it read them at start, not at its first page)
        with pytest.raises(CatalogError):
            make_app(tmp_path / "hub")
    finally:
        monkeypatch.undo()
        translations.cache_clear()
