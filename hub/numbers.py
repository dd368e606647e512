"""Numbers as a person types them, in French or in English.

A French user types ``12,5`` (decimal comma) and may group thousands with a space,
a no-break space or a narrow no-break space (``1 234,5``); an English one types
``12.5`` and may group with commas (``1,234.5``). The page's language decides what
``1,234`` means: 1.234 in French, 1234 in English. Either reads a decimal point too.
A text that mixes the two ways (``1.234,5``; ``12,5.3``), names no finite number
(``nan``, ``inf``) or is not a number in ASCII digits is refused: a ValueError, which
each form turns into its own message next to its field.
"""

from __future__ import annotations

import math
import re
from typing import Final

_GROUPS: Final = re.compile(r"[ \u00a0\u202f]")
_ENGLISH: Final = re.compile(r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")
_PLAIN: Final = re.compile(r"^[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$")


def parse_decimal(text: str, lang: str = "fr") -> float:
    """The finite number ``text`` names in ``lang`` ("fr" or "en")."""
    compact = _GROUPS.sub("", text.strip())
    if lang == "en" and _ENGLISH.match(compact):
        compact = compact.replace(",", "")
    elif _PLAIN.match(compact):
        compact = compact.replace(",", ".")
    else:
        raise ValueError(f"not a number: {text!r}")
    value = float(compact)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value
