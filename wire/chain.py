"""The hash chain of a journal: each record carries the SHA-256 of the one before it.

One serialisation, pinned in ``docs/protocol.md`` and used by the agent (when
it journals a record), the hub (when it stores and verifies one) and the
inspector's script (which re-implements these few lines without Voyant): the
record as a JSON object — the record as sent, with its ``prev`` — written by
Python's ``json.dumps`` with sorted keys, no spaces, UTF-8 and no NaN. A
record's hash is the SHA-256 of those bytes, in lowercase hex; the next
record of the same journal (the next sequence number, whatever its kind)
carries it as ``prev``. The first record an upgraded agent journals carries
:data:`GENESIS`: the records before it carry no ``prev`` and are outside the
chain (they still have a hash, for comparing a copy sent twice).

Stdlib only, like the rest of ``wire/`` beside pydantic.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any, Final, cast

#: ``prev`` of the first record of a chain (a journal's first record after the upgrade).
GENESIS: Final = "0" * 64
#: What a hash looks like on the wire.
HASH_PATTERN: Final = r"^[0-9a-f]{64}$"


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is taken over (see the module docstring).

    Raises ValueError for what JSON cannot carry (NaN, infinities): such a record
    breaks the contract before it has a hash."""
    return _CANONICAL.encode(record).encode("utf-8")


#: ``json.dumps`` with these arguments builds this very encoder at every call: made once,
#: the same bytes cost a fifth less (every record is hashed by the box and by the hub).
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False, allow_nan=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical bytes, lowercase hex."""
    return hashlib.sha256(canonical(record)).hexdigest()


def _received_encoder() -> Callable[[Mapping[str, Any]], str]:
    """:data:`_CANONICAL`'s text of a record parsed from JSON, by one C encoder made once.

    ``JSONEncoder.encode`` builds a C encoder (and a dict to find cycles) at every call: a
    fifth of a reading's canonical bytes in the hub (issue 18 item 2). Made once, with the
    very arguments ``encode`` passes it, it writes the same text, but finds no cycle: a
    record parsed from JSON holds none, and one made in Python that did would end in
    RecursionError instead of ValueError (:func:`try_canonical` refuses both alike). Where
    Python has no C encoder, ``encode`` itself."""
    if c_make_encoder is None:  # pragma: no cover - CPython has it
        return _CANONICAL.encode
    made = c_make_encoder(None, _CANONICAL.default, encode_basestring, None,
                          _CANONICAL.key_separator, _CANONICAL.item_separator, True, False,
                          False)
    return lambda record: "".join(made(record, 0))


_RECEIVED: Final = _received_encoder()


def try_canonical_text(record: object) -> tuple[str, bytes] | None:
    """:func:`try_canonical`'s bytes and their text, each made once (the hub stores the text
    and hashes the bytes)."""
    if not isinstance(record, dict):
        return None
    try:
        text = _RECEIVED(record)
        return text, text.encode("utf-8")  # a lone surrogate: UnicodeEncodeError
    except (ValueError, TypeError, RecursionError):
        return None


def try_canonical_texts(records: Sequence[object]) -> list[tuple[str, bytes] | None]:
    """:func:`try_canonical_text` of each record, in one go when they are JSON objects with
    the same keys, each holding text, numbers, booleans or null, each column of one type
    (a batch of readings): each column written at once, each value it repeats once.

    The C encoder writes every value of every record, each call its own: 37 % of the decode
    worker's time (issue 18 item 2), though a batch repeats most of its values (its
    calibration, run, frames; at background, its few count rates). Written here as the
    encoder writes them (its own string escape, ``float.__repr__``, ``int.__repr__``,
    ``true``, ``false``, ``null``; keys sorted), by the same functions; anything else
    (another shape, NaN, an integer too long to write, a key not text) one by one."""
    found = _columns(records) if len(records) > 1 else None
    if found is None:
        return [try_canonical_text(record) for record in records]
    out: list[tuple[str, bytes] | None] = []
    for text in found:
        try:
            out.append((text, text.encode("utf-8")))
        except UnicodeEncodeError:  # a lone surrogate: as try_canonical_text
            out.append(None)
    return out


_WORDS: Final = {True: "true", False: "false"}


def _columns(records: Sequence[object]) -> list[str] | None:
    """Each record's text (see :func:`try_canonical_texts`), or None when they are not
    such a batch."""
    if not all(record.__class__ is dict for record in records):
        return None
    objects = cast("Sequence[dict[Any, Any]]", records)
    keys = objects[0].keys()
    if len(keys) < 2 or not all(record.keys() == keys for record in objects):
        return None
    if not all(key.__class__ is str for key in keys):
        return None
    order = sorted(keys)
    template = "{" + ",".join(encode_basestring(key).replace("%", "%%") + ":%s"
                              for key in order) + "}"
    columns: list[list[str]] = []
    try:
        for column in zip(*map(itemgetter(*order), objects), strict=True):
            written = _column(column)
            if written is None:
                return None
            columns.append(written)
    except ValueError:  # an integer longer than Python writes: the encoder raises too
        return None
    return [template % values for values in zip(*columns, strict=True)]


def _column(values: tuple[Any, ...]) -> list[str] | None:
    """One key's values, each as the encoder writes it; None for a column of mixed types,
    of anything but text, numbers, booleans or null, or holding NaN or an infinity."""
    kinds = set(map(type, values))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    write: Callable[[Any], str]
    if kind is str:
        write = encode_basestring
    elif kind is float:
        if not all(map(math.isfinite, values)):
            return None
        write = float.__repr__
        if 0.0 in values:  # -0.0 == 0.0, written apart: no value remembered
            return list(map(write, values))
    elif kind is int:
        write = int.__repr__
    elif kind is bool:
        return list(map(_WORDS.__getitem__, values))
    elif kind is type(None):
        return ["null"] * len(values)
    else:
        return None
    once = dict.fromkeys(values)  # equal values of one type: written alike
    if 2 * len(once) > len(values):
        return list(map(write, values))
    written = dict(zip(once, map(write, once), strict=True))
    return list(map(written.__getitem__, values))


def try_canonical(record: object) -> bytes | None:
    """A record's canonical bytes as received, or None when the chain cannot hash it: not a
    JSON object, NaN or infinities, nested too deep. Hostile input never raises here."""
    made = try_canonical_text(record)
    return None if made is None else made[1]


def try_hash(record: object) -> str | None:
    """The hash of a record as received, or None when the chain cannot hash it."""
    body = try_canonical(record)
    return None if body is None else hashlib.sha256(body).hexdigest()


def item_hash(item_json: str) -> str:
    """The hash of a record given as its JSON text (as the agent's outbox holds it)."""
    return record_hash(json.loads(item_json))
