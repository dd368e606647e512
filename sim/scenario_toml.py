"""Reading a scenario's TOML tables strictly, and pointing at the line of a mistake.

``tomllib`` gives dictionaries, not positions, so the line of a key is found
by a plain search of the text: the N-th ``[[exposure]]`` header, then the
``key =`` line below it. That is right for files written the way the spec
shows them, and when the search fails the message still names the file and
the key. Types are checked strictly because pydantic-style coercion would
take ``true`` or ``"5"`` for a number and a typo would pass silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from wire.errors import SimError

KeyPath = tuple[str | int, ...]


class ScenarioError(SimError, ValueError):
    """A scenario file is invalid; the message names file, line, key and expectation."""


_HEADER = re.compile(r"^\s*(\[\[?)\s*([\w.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")


# -- where a key is --------------------------------------------------------------------


def _headers(lines: Sequence[str]) -> list[tuple[int, str, bool]]:
    """(index, dotted name, is an array entry) of every table header."""
    found = []
    for index, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            name = re.sub(r"\s*\.\s*", ".", match.group(2)).replace('"', "").replace("'", "")
            found.append((index, name, match.group(1) == "[["))
    return found


def _span(lines: Sequence[str], name: str, nth: int | None) -> tuple[int, int] | None:
    """Line indices [start, end) of table ``name`` (its ``nth`` entry for ``[[name]]``)."""
    headers = _headers(lines)
    if not name:
        return 0, headers[0][0] if headers else len(lines)
    ends = [index for index, _, _ in headers[1:]] + [len(lines)] if headers else []
    seen = 0
    for (index, header, array), end in zip(headers, ends, strict=True):
        if header == name and array == (nth is not None):
            seen += 1
            if nth is None or seen == nth:
                return index, end
    return None


def _key_line(lines: Sequence[str], span: tuple[int, int], key: str) -> int | None:
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    return next((i for i in range(*span) if pattern.match(lines[i])), None)


def _nth_inline_table(lines: Sequence[str], start: int, nth: int) -> int | None:
    """The line of the ``nth`` ``{`` from ``start`` on (one inline table per line)."""
    seen = 0
    for index in range(start, len(lines)):
        seen += lines[index].split("#")[0].count("{")
        if seen >= nth:
            return index
    return None


def locate(lines: Sequence[str], path: KeyPath) -> int | None:
    """The 1-based line of ``path`` (``("exposure", 3, "at")``) by a plain search, or None.

    An index after a name is the entry of ``[[name]]``, else the inline table
    of that number in the array ``name = [...]`` (one per line, as we write them).
    """
    cut = next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))
    names = [str(part) for part in path[:cut]]
    if cut < len(path):
        span = _span(lines, ".".join(names), int(path[cut]))
        if span is not None:
            key = _key_line(lines, span, str(path[cut + 1])) if cut + 1 < len(path) else None
            return (span[0] if key is None else key) + 1
    for depth in range(len(names), -1, -1):
        span = _span(lines, ".".join(names[:depth]), None)
        if span is None or (depth == 0 and not names):
            continue
        if depth == len(names):
            return span[0] + 1
        line = _key_line(lines, span, names[depth])
        if line is not None and cut < len(path):
            line = _nth_inline_table(lines, line, int(path[cut]))
        if line is not None:
            return line + 1
        return span[0] + 1 if depth else None
    return None


# -- what went wrong -------------------------------------------------------------------


def key_name(path: KeyPath) -> str:
    """``("exposure", 3, "duration_s")`` → ``exposure[3].duration_s``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def show(value: object) -> str:
    """A value as the file wrote it, with its TOML type where that is the mistake."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f'"{value}" (a string)'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def fmt(t: float) -> str:
    """A time for a message, free of binary noise (``12.8``, not ``12.799999999999999``)."""
    return str(round(t, 6))


class Doc:
    """The file being read: points at a key when something is wrong."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def where(self, path: KeyPath) -> str:
        line = locate(self.lines, path)
        return f"{self.source}:{line}" if line else self.source

    def fail(self, path: KeyPath, message: str) -> NoReturn:
        raise ScenarioError(f"{self.where(path)}: {key_name(path)}: {message}")


# -- reading ---------------------------------------------------------------------------


def is_number(value: object) -> bool:
    """A finite TOML integer or float; a boolean is not a number."""
    real = isinstance(value, int | float) and not isinstance(value, bool)
    return real and math.isfinite(cast(float, value))


def check_number(doc: Doc, path: KeyPath, value: object, what: str, *, above: bool) -> float:
    """Refuse booleans, strings, NaN, infinities and negatives (and 0 when ``above``)."""
    number = cast(float, value) if is_number(value) else math.nan
    if not (number > 0 if above else number >= 0):
        bound = "> 0" if above else "≥ 0"
        doc.fail(path, f"expected {what} (a number {bound}), got {show(value)}")
    return float(number)


def entries(doc: Doc, value: object, path: KeyPath) -> list[object]:
    """An array of tables (``[[name]]`` entries), refusing a lone ``[name]`` table."""
    header = ".".join(str(p) for p in path)
    if not isinstance(value, list):
        got = f"one [{header}] table" if isinstance(value, dict) else show(value)
        doc.fail(path, f"expected [[{header}]] entries (an array of tables), got {got}")
    return list(value)


class Table:
    """One TOML table: unknown keys are refused at once, then each key read with its type."""

    def __init__(self, doc: Doc, data: object, path: KeyPath, keys: Sequence[str]) -> None:
        if not isinstance(data, dict):
            doc.fail(path, f"expected a table, got {show(data)}")
        self.doc, self.data, self.path = doc, cast(dict[str, Any], data), path
        for key in self.data:
            if key not in keys:
                doc.fail((*path, key), f"unknown key; expected one of {', '.join(keys)}")

    def at(self, key: str) -> KeyPath:
        return (*self.path, key)

    def raw(self, key: str) -> Any:
        if key not in self.data:
            self.doc.fail(self.at(key), "required key is missing")
        return self.data[key]

    def number(self, key: str, what: str, *, above: bool = False) -> float:
        """A non-negative number (TOML integers are fine, booleans are not)."""
        return check_number(self.doc, self.at(key), self.raw(key), what, above=above)

    def optional_number(self, key: str, what: str, *, above: bool = False) -> float | None:
        return self.number(key, what, above=above) if key in self.data else None

    def number_or(self, key: str, what: str, default: float) -> float:
        return self.number(key, what) if key in self.data else default

    def time(self, key: str, duration_s: float) -> float:
        """A time within the scenario: 0 to ``duration_s``."""
        t = self.number(key, "a time in seconds")
        if t > duration_s:
            self.doc.fail(
                self.at(key),
                f"expected a time within the scenario (0 to duration_s = {fmt(duration_s)}),"
                f" got {fmt(t)}",
            )
        return t

    def integer(self, key: str, what: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.doc.fail(self.at(key), f"expected {what} (an integer ≥ 0), got {show(value)}")
        return value

    def optional_integer(self, key: str, what: str) -> int | None:
        return self.integer(key, what) if key in self.data else None

    def text(self, key: str, choices: Sequence[str] = ()) -> str:
        value = self.raw(key)
        if choices and value not in choices:
            options = ", ".join(f'"{c}"' for c in choices)
            self.doc.fail(self.at(key), f"expected one of {options}, got {show(value)}")
        if not isinstance(value, str) or not value.strip():
            self.doc.fail(self.at(key), f"expected a non-empty string, got {show(value)}")
        return value
