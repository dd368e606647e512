"""The contract's :func:`~wire.contract.decode_chain`, the same answer for less: the batch's
JSON read once by pydantic's parser instead of once more by Python's ``json``.

``decode_chain`` reads a batch twice: ``json.loads`` (the records as sent, for their
hashes and the quarantine) then pydantic's ``validate_json`` (the models). In the decode
worker the first cost 0.48 ms of a 100-reading message's 2.9; pydantic's own parser
(``pydantic_core.from_json``) gives the same objects in 0.2 ms (issue 18 item 2).

:func:`read_chain` takes that way only where the two parsers are known to read the same:
a payload the whole batch of which the contract's models accept (any refusal, and every
reason for it, is ``decode_chain``'s own), ASCII (no encoding question), without
``\\u`` escapes (Python reads a lone surrogate, pydantic refuses it), while Python reads
integers of as many digits as pydantic (4,300: a longer one in a key written twice would
pass pydantic, whose models read the last, but not ``json.loads``). Anything else goes to
``decode_chain`` itself. Both parsers refuse what the other refuses on such a payload,
keep the last of a repeated key in the first one's place, and read every number to the
same value (``tests/test_ingest_chain_read.py``, which fails if they part).
"""

from __future__ import annotations

import sys
from typing import Final

from pydantic import ValidationError
from pydantic_core import from_json

# The contract's own steps, so that a batch read here is checked exactly as there.
from wire.contract import (
    _TOPIC_BATCHES,
    RECORD_KINDS,
    Decoded,
    WireError,
    _check_matches,
    _where,
    decode_chain,
)

#: The longest integer pydantic's parser reads (digits); Python's limit is a setting.
PYDANTIC_INT_DIGITS: Final = 4300


def read_chain(topic_text: str, payload: bytes) -> Decoded:
    """:func:`~wire.contract.decode_chain`'s answer (or its :class:`WireError`)."""
    found = _whole(topic_text, payload) if _plain(payload) else None
    return found if found is not None else decode_chain(topic_text, payload)


def _plain(payload: bytes) -> bool:
    """A payload both parsers read alike, if both read it."""
    digits = sys.get_int_max_str_digits()
    return (payload.isascii() and b"\\u" not in payload
            and (digits == 0 or digits >= PYDANTIC_INT_DIGITS))


def _whole(topic_text: str, payload: bytes) -> Decoded | None:
    """The batch if the contract's models take it whole, read once more as sent; None for
    anything else (``decode_chain`` then decides, with its reasons)."""
    try:
        where = _where(topic_text, payload)
        if where.kind not in RECORD_KINDS:
            return None
        whole = _TOPIC_BATCHES[where.kind].validate_json(payload)
        _check_matches(where, whole)
        raws = from_json(payload)["items"]
    except (WireError, ValidationError, ValueError, KeyError, TypeError):
        return None
    return Decoded(where, whole, list(whole.items), raws)
