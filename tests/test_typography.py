"""French typography (issue 16, item 9): a narrow no-break space (U+202F) before ``:`` ``;``
``!`` ``?`` and inside ``« »``, in every French string a person reads.

Checked: every msgstr of every French catalog, and the French label of every kind. A plain
or no-break space there lets the browser break the line before the colon; no space at all
is English typography. A colon with no space before it is left alone (``10:30``, ``https:``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from babel.messages.pofile import read_po

from hub.web.i18n import LOCALE_DIR
from wire.kinds import KINDS

FRENCH = LOCALE_DIR / "fr" / "LC_MESSAGES"
#: A wrong space before a high punctuation mark, or a guillemet without its narrow space.
WRONG = re.compile(r"[ \u00a0][:;!?]|«(?!\u202f)|(?<!\u202f)»|\w[;!?](?=\s|$)")


def faults(text: str) -> list[str]:
    """The wrong places in ``text``, each with a few characters around it."""
    return [repr(text[max(0, m.start() - 12):m.end() + 4]) for m in WRONG.finditer(text)]


def french_strings() -> Iterator[tuple[str, str]]:
    for path in sorted(FRENCH.glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in strings:
                    if message.id and text:
                        yield f"{path.name}: {message.id!r}", text
    for name, kind in KINDS.items():
        yield f"wire/kinds.py: {name}", kind.fr


@pytest.mark.parametrize(("text", "expected"), [
    ("Salle : 3", 1), ("Salle\u00a0: 3", 1), ("Salle\u202f: 3", 0), ("à 10:30", 0),
    ("« zone »", 2), ("«\u202fzone\u202f»", 0), ("Vraiment?", 1), ("Vraiment\u202f?", 0),
    ("https://exemple.fr", 0), ("a ; b", 1),
])
def test_the_checker_sees_each_fault(text: str, expected: int) -> None:
    assert len(faults(text)) == expected


def test_every_french_string_has_french_typography() -> None:
    wrong = [f"{where}: {', '.join(found)}" for where, text in french_strings()
             if (found := faults(text))]
    assert not wrong, "\n".join(wrong)


def test_no_template_writes_a_colon_after_a_translated_word_by_hand() -> None:
    """``{{ _("State") }}: …`` puts an English colon in the French page: the templates
    write ``{{ _(": ") }}``, which each catalog spells its own way."""
    templates = LOCALE_DIR.parent / "web" / "templates"
    by_hand = re.compile(r"(\}\}|</strong>|</b>|</th>)[:;] ")
    wrong = [f"{path.relative_to(templates)}:{number}: {line.strip()[:90]}"
             for path in sorted(templates.rglob("*.html"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if by_hand.search(line)]
    assert not wrong, "\n".join(wrong)
