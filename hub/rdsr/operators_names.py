"""How a person's name written by an RDSR is matched to the register of operators.

An RDSR writes a DICOM PN (``MARTIN^Paul``: family name, given names, middle names,
prefix and suffix, ``^`` between them, ``=`` before the ideographic and phonetic
forms); a person typing the register writes ``Paul Martin`` or ``Paul MARTIN``. Both are
reduced to one key: the alphabetic form only (before any ``=``); accents removed (NFKD
without its combining marks: ``Hélène`` is ``helene``); case folded (``ß`` is ``ss``);
cut into words at anything not a letter or a digit (``^``, spaces, hyphens, apostrophes,
dots: ``Jean-Pierre`` is ``jean pierre``); the words sorted. So ``MARTIN^Paul``,
``Paul MARTIN`` and ``martin paul`` are the same key; ``MARTIN^Paul^^Dr`` is not (the
title is a word: the register lists that form too if the device writes it). Sorting
makes the order of the names indifferent, at the price of ``PAUL^Martin`` matching
``Martin Paul``: the register then tells them apart by another identifier. A name with
no letter and no digit has an empty key: it names nobody.

Another identifier (the RDSR's Person Identification, a badge or RPPS number) is
compared without case and without spaces.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: Longer than any name a register or an RDSR writes: beyond, it is not read.
MAX_NAME: Final = 200
_WORD: Final = re.compile(r"[^\W_]+")


def name_key(written: str) -> str:
    """The key of a name as written (see the module's docstring); ``''`` names nobody."""
    alphabetic = written[:MAX_NAME].split("=", 1)[0]
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", alphabetic)
                    if not unicodedata.combining(ch))
    return " ".join(sorted(_WORD.findall(plain.casefold())))


def id_key(written: str) -> str:
    """The key of another identifier: no case, no spaces."""
    return "".join(written[:MAX_NAME].split()).casefold()
