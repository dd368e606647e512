"""The regulator's words (issue 15, part 4): no French string of the interface says a wrong one.

The rules are data, in hub/locale/glossary.toml: a pattern of the wrong use, the contexts
where the same words are right, the right word and its source. Every msgstr of every French
catalog (hub/locale/fr/LC_MESSAGES/*.po, read with Babel), the French label of every kind
(wire/kinds.py) and of every packaged ESR criterion (hub/events/guide11_criteria.toml) is
checked; an offence names its file, its msgid (or the English label) and the rule.

The checker is tested on its own so that a clean run means something: each rule's ``caught``
sentences are flagged by it, its ``accepted`` sentences by no rule, each allowed context is
needed by one of them, and a catalog written with a wrong word fails with file, msgid and rule.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from hub.events import criteria
from hub.web.i18n import LOCALE_DIR
from wire.kinds import KINDS

GLOSSARY = LOCALE_DIR / "glossary.toml"
FRENCH = LOCALE_DIR / "fr" / "LC_MESSAGES"
FIELDS = {"id", "wrong", "allowed", "right", "why", "caught", "accepted"}


@dataclass(frozen=True)
class Rule:
    """One wrong notion: the pattern of its wrong use and the contexts where it is right."""

    id: str
    wrong: re.Pattern[str]
    allowed: tuple[re.Pattern[str], ...]
    right: str
    why: str
    caught: tuple[str, ...]
    accepted: tuple[str, ...]

    def offences(self, text: str) -> list[str]:
        """The wrong uses in ``text``: each match not lying wholly inside an allowed context."""
        spans = [m.span() for pattern in self.allowed for m in pattern.finditer(text)]
        return [m.group(0) for m in self.wrong.finditer(text)
                if not any(start <= m.start() and m.end() <= end for start, end in spans)]


@dataclass(frozen=True)
class Offence:
    where: str
    msgid: str
    rule: Rule
    found: str

    def __str__(self) -> str:
        return (f"{self.where}: msgid {self.msgid!r}: rule {self.rule.id}: {self.found!r} "
                f"-> {self.rule.right}")


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def load_rules(path: Path = GLOSSARY) -> list[Rule]:
    """The glossary's rules; a malformed entry fails here, naming it."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    rules = []
    for entry in data["rule"]:
        assert set(entry) == FIELDS, f"{entry.get('id')}: fields {sorted(set(entry) ^ FIELDS)}"
        rules.append(Rule(
            id=entry["id"], wrong=_compile(entry["wrong"]),
            allowed=tuple(_compile(p) for p in entry["allowed"]),
            right=entry["right"], why=entry["why"],
            caught=tuple(entry["caught"]), accepted=tuple(entry["accepted"])))
    return rules


RULES = load_rules()


def check(texts: Iterable[tuple[str, str, str]], rules: list[Rule] = RULES) -> list[Offence]:
    """The offences in ``(where, msgid, French text)`` triples."""
    return [Offence(where, msgid, rule, found)
            for where, msgid, text in texts for rule in rules for found in rule.offences(text)]


def _strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [s for s in value if s]


def catalog_texts(folder: Path = FRENCH) -> Iterator[tuple[str, str, str]]:
    """``(file, msgid, msgstr)`` for every translated entry (plural forms each)."""
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="fr", abort_invalid=True)
        for message in catalog:
            if not message.id:
                continue  # the header
            msgid = _strings(message.id)[0]
            for text in _strings(message.string):
                yield path.name, msgid, text


def kind_texts() -> Iterator[tuple[str, str, str]]:
    for code, kind in KINDS.items():
        yield f"wire/kinds.py KINDS[{code!r}].fr", kind.en, kind.fr


def criteria_texts() -> Iterator[tuple[str, str, str]]:
    """The guide n°11 criteria the ESR form shows (French label, English as its msgid)."""
    for item in criteria.packaged().items:
        yield f"hub/events/guide11_criteria.toml [{item.code}].label_fr", item.label_en, \
            item.label_fr


def _report(offences: list[Offence]) -> str:
    return f"{len(offences)} wrong word(s) (rules: hub/locale/glossary.toml):\n" + "\n".join(
        f"  {o}" for o in offences)


# --- the interface ---------------------------------------------------------------------------


def test_every_french_catalog_uses_the_regulators_words() -> None:
    texts = list(catalog_texts())
    assert len({where for where, _, _ in texts}) >= 8  # every catalog was read, not none
    offences = check(texts)
    assert not offences, _report(offences)


def test_every_kind_label_uses_the_regulators_words() -> None:
    offences = check(kind_texts())
    assert not offences, _report(offences)


def test_every_esr_criterion_label_uses_the_regulators_words() -> None:
    offences = check(criteria_texts())
    assert not offences, _report(offences)


# --- the glossary itself ---------------------------------------------------------------------


def test_the_glossary_has_every_notion_of_the_issue() -> None:
    ids = {rule.id for rule in RULES}
    assert {"asnr", "crp", "verification", "inopinee", "lecture-differee", "h10-estimator",
            "hors-zone", "relay", "emission"} <= ids
    assert len(ids) == len(RULES), "two rules share an id"
    for rule in RULES:
        assert rule.right and rule.why and rule.caught and rule.accepted, rule.id


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_each_rule_catches_its_wrong_words(rule: Rule) -> None:
    for sentence in rule.caught:
        assert rule.offences(sentence), f"{rule.id} misses {sentence!r}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_each_allowed_context_is_accepted_by_every_rule(rule: Rule) -> None:
    offences = check((rule.id, "", sentence) for sentence in rule.accepted)
    assert not offences, _report(offences)


@pytest.mark.parametrize("rule", [r for r in RULES if r.allowed], ids=lambda r: r.id)
def test_each_allowed_context_is_needed(rule: Rule) -> None:
    """Without any one of its allowed patterns, the rule flags one of its accepted sentences:
    no pattern is dead, so the accepted sentences really go through the exceptions."""
    for index, pattern in enumerate(rule.allowed):
        stripped = Rule(rule.id, rule.wrong, rule.allowed[:index] + rule.allowed[index + 1:],
                        rule.right, rule.why, rule.caught, rule.accepted)
        assert any(stripped.offences(s) for s in rule.accepted), (
            f"{rule.id}: no accepted sentence needs {pattern.pattern!r}")


@pytest.mark.parametrize(("text", "rule_id"), [
    ("Contrôle d'ambiance trimestriel", "verification"),
    ("Référence ASN", "asnr"),
    ("Expositions trouvées", "emission"),
    ("Dosimètre passif", "lecture-differee"),
    ("Émission non sollicitée", "inopinee"),
    ("Sécurité de porte ouverte", "relay"),
    ("Non réglementée", "hors-zone"),
    ("relu et signé par le PCR", "crp"),
    ("la sonde mesure la dose efficace", "h10-estimator"),
])
def test_the_wrong_words_found_in_the_catalogs_before_the_fix_are_caught(
        text: str, rule_id: str) -> None:
    assert [o.rule.id for o in check([("x.po", "msg", text)])] == [rule_id]


@pytest.mark.parametrize("text", [
    "Zone contrôlée jaune", "Contrôle de qualité externe", "contrôle qualité",
    "décision ASN n° 2017-DC-0591", "deux jours ouvrés (guide ASN n° 11)",
    "exposition des travailleurs", "exposition du patient", "exposition du public",
    "exposition professionnelle", "Émission inopinée", "Dosimètre à lecture différée",
    "Hors zone délimitée", "Relais de Voyant ouvert", "Référence ASNR",
])
def test_the_right_words_pass(text: str) -> None:
    assert not check([("x.po", "msg", text)])


def test_an_allowed_context_covers_only_its_own_words() -> None:
    """'guide ASN n° 11' does not excuse another 'ASN' in the same sentence."""
    offences = check([("x.po", "msg", "Déclarez à l'ASN (guide ASN n° 11).")])
    assert [o.found for o in offences] == ["ASN"]


def test_a_wrong_catalog_fails_naming_file_msgid_and_rule(tmp_path: Path) -> None:
    (tmp_path / "rooms.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Exposures"\nmsgstr "Expositions"\n\n'
        'msgid "Emission"\nmsgstr "Émission"\n\n'
        'msgid "Control calendar"\nmsgstr ""\n"Calendrier des "\n"contrôles"\n',
        encoding="utf-8")
    offences = check(catalog_texts(tmp_path))
    assert [str(o).split(": ", 3)[:3] for o in offences] == [
        ["rooms.po", "msgid 'Exposures'", "rule emission"],
        ["rooms.po", "msgid 'Control calendar'", "rule verification"],  # wrapped lines joined
    ]


def test_a_wrong_kind_label_is_reported_with_its_code() -> None:
    offences = check([("wire/kinds.py KINDS['unsolicited_emission'].fr", "Unsolicited emission",
                       "Émission non sollicitée")])
    assert str(offences[0]).startswith(
        "wire/kinds.py KINDS['unsolicited_emission'].fr: msgid 'Unsolicited emission': "
        "rule inopinee")
