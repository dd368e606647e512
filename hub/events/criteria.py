"""The guide n°11 criteria an ESR is qualified under: data the site can update.

The regulator revises its guide; a site replaces the packaged list
(``guide11_criteria.toml``) by its own file (``[events] esr_criteria_file``), checked at
start: every mistake is named, one line each. A qualification names one criterion of the
list in force and is stored with the list's ``version``, so that an ESR qualified under
an older list still says which one it was.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

CODE_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.-]{0,15}$")
VERSION_MAX: Final = 120
LABEL_MAX: Final = 200
_KEYS: Final = {"code", "label_fr", "label_en"}


@dataclass(frozen=True, slots=True)
class Criterion:
    code: str
    label_fr: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_fr if lang == "fr" else self.label_en


@dataclass(frozen=True, slots=True)
class Criteria:
    """A list of criteria and the version of the guide it transcribes."""

    version: str
    items: tuple[Criterion, ...]

    def get(self, code: str) -> Criterion | None:
        return next((c for c in self.items if c.code == code), None)

    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.items)


def _text(value: Any, where: str, most: int, mistakes: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        mistakes.append(f"{where}: a non-empty text is required")
        return ""
    if len(value.strip()) > most:
        mistakes.append(f"{where}: at most {most} characters")
    return value.strip()


def parse(data: dict[str, Any]) -> Criteria:
    """A decoded criteria file as :class:`Criteria`; :class:`ValueError` listing every
    mistake, one a line."""
    mistakes = [f"{key}: unknown key (expected version, criteria)"
                for key in data if key not in ("version", "criteria")]
    version = _text(data.get("version"), "version", VERSION_MAX, mistakes)
    found = data.get("criteria")
    if not isinstance(found, list) or not found:
        mistakes.append("criteria: at least one [[criteria]] table is required")
        found = []
    items: list[Criterion] = []
    for n, entry in enumerate(found, start=1):
        where = f"criteria[{n}]"
        if not isinstance(entry, dict):
            mistakes.append(f"{where}: a table (code, label_fr, label_en) is expected")
            continue
        mistakes += [f"{where}.{key}: unknown key (expected code, label_fr, label_en)"
                     for key in entry if key not in _KEYS]
        code = entry.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            mistakes.append(f"{where}.code: 1 to 16 letters, digits, '.' or '-' are expected")
            code = ""
        elif any(c.code == code for c in items):
            mistakes.append(f"{where}.code: {code!r} is listed twice")
        items.append(Criterion(code, _text(entry.get("label_fr"), f"{where}.label_fr",
                                           LABEL_MAX, mistakes),
                               _text(entry.get("label_en"), f"{where}.label_en",
                                     LABEL_MAX, mistakes)))
    if mistakes:
        raise ValueError("\n".join(mistakes))
    return Criteria(version, tuple(items))


def read(path: str | Path) -> Criteria:
    """The criteria file at ``path``; :class:`ValueError` naming the file and each mistake."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a TOML file ({exc})") from None
    try:
        return parse(data)
    except ValueError as exc:
        raise ValueError("\n".join(f"{path}: {line}" for line in str(exc).splitlines())) \
            from None


@cache
def packaged() -> Criteria:
    """The list shipped with the hub (``hub/events/guide11_criteria.toml``)."""
    text = resources.files("hub.events").joinpath("guide11_criteria.toml").read_text("utf-8")
    return parse(tomllib.loads(text))


@cache
def _site(path: str) -> Criteria:
    return read(path)


def in_force(path: str | Path | None) -> Criteria:
    """The site's list if it has one, else the packaged one; read once (the configuration's
    check at start reads it first): a changed file is taken at the next start."""
    return packaged() if path is None else _site(str(path))
