"""The vocabulary of alarm and event kinds: the one list of every kind, for agent, hub and page.

Each kind has its severity, whether it is about **radiation** (radiation
emitted or measured where or when it should not be, or more of it than
allowed) or about the **system** (a fault or a duty of the equipment, the
software or the calendar: never a radiation event), who raises it (the
agent's monitor, the agent itself, the hub) and its name on the page, in
French and in English. The hub stores an event's severity from here, the
page shows these names, and the tests hold docs/monitor.md and docs/hub.md
to this table.

**Every kind added later goes here**, first: a new monitor rule
(``edge_agent/monitor/rules.py``, which must cover exactly :data:`ALARM_KINDS`),
a new agent alarm or a new hub event. A kind the hub does not know (an agent
newer than the hub) is a ``warning`` shown under its code.

Stdlib only (``wire/`` is stdlib + pydantic): the agent names an alarm
without the hub's web stack, and the hub without the agent's GPIO stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

Severity = Literal["critical", "warning", "info"]
About = Literal["radiation", "system"]
#: Who raises it: a rule of the agent's monitor, the agent itself, the hub.
RaisedBy = Literal["monitor", "agent", "hub"]
Language = Literal["fr", "en"]

SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)

#: The monitor's kinds: one rule each in ``edge_agent/monitor/rules.py`` (spec/scenarios.md).
AlarmKind = Literal[
    "unsolicited_emission",
    "emission_after_release",
    "radiation_without_emission",
    "door_open_during_emission",
    "emission_light_fault",
    "emission_light_stuck",
    "powered_light_fault",
    "long_exposure",
    "fluoroscopy_time_exceeded",
    "dose_rate_high",
    "probe_fault",
    "request_stuck",
    "emission_while_unpowered",
]

ALARM_KINDS: Final[tuple[AlarmKind, ...]] = get_args(AlarmKind)


@dataclass(frozen=True, slots=True)
class Kind:
    """What the hub and the page need to know of one kind."""

    severity: Severity
    about: About
    by: RaisedBy
    fr: str
    en: str

    def label(self, lang: str) -> str:
        """The kind's name in ``lang`` (French unless English is asked for)."""
        return self.en if lang == "en" else self.fr


def _kinds(**kinds: Kind) -> Mapping[str, Kind]:
    return MappingProxyType(kinds)


#: Every kind, in the order the docs list them.
KINDS: Final[Mapping[str, Kind]] = _kinds(
    unsolicited_emission=Kind(
        "critical", "radiation", "monitor", "Émission inopinée", "Unsolicited emission"),
    emission_after_release=Kind(
        "critical", "radiation", "monitor", "Émission après relâchement de la commande",
        "Emission after release"),
    door_open_during_emission=Kind(
        "critical", "radiation", "monitor", "Porte ouverte pendant l'émission",
        "Door open during emission"),
    emission_while_unpowered=Kind(
        "critical", "radiation", "monitor", "Émission générateur hors tension",
        "Emission while unpowered"),
    radiation_without_emission=Kind(
        "critical", "radiation", "monitor", "Rayonnement sans émission",
        "Radiation without emission"),
    dose_rate_high=Kind(
        "critical", "radiation", "monitor", "Débit de dose élevé", "High dose rate"),
    long_exposure=Kind(
        "warning", "radiation", "monitor", "Émission trop longue", "Long exposure"),
    fluoroscopy_time_exceeded=Kind(
        "warning", "radiation", "monitor", "Temps de scopie dépassé",
        "Fluoroscopy time exceeded"),
    emission_light_fault=Kind(
        "warning", "system", "monitor", "Défaut du voyant d'émission", "Emission light fault"),
    emission_light_stuck=Kind(
        "warning", "system", "monitor", "Voyant d'émission allumé sans émission",
        "Emission light stuck"),
    powered_light_fault=Kind(
        "warning", "system", "monitor", "Défaut du voyant de mise sous tension",
        "Powered light fault"),
    request_stuck=Kind(
        "warning", "system", "monitor", "Commande d'émission bloquée", "Request stuck"),
    probe_fault=Kind("warning", "system", "monitor", "Défaut de la sonde", "Probe fault"),
    journal_fault=Kind(
        "warning", "system", "agent", "Défaut du journal du boîtier", "Journal fault"),
    device_offline=Kind("warning", "system", "hub", "Boîtier hors ligne", "Device offline"),
    data_gap=Kind("warning", "system", "hub", "Données manquantes", "Data gap"),
    record_quarantined=Kind(
        "warning", "system", "hub", "Enregistrement mis en quarantaine", "Record quarantined"),
    record_conflict=Kind(
        "warning", "system", "hub", "Enregistrement reçu deux fois, différent",
        "Record conflict"),
    chain_broken=Kind(
        "warning", "system", "hub", "Chaîne d'intégrité rompue", "Hash chain broken"),
    ack_stalled=Kind("warning", "system", "hub", "Acquittement bloqué", "Acknowledgement stalled"),
    journal_new=Kind(
        "info", "system", "hub", "Nouveau journal sur un boîtier", "New journal on a device"),
    control_overdue=Kind(
        "warning", "system", "hub", "Vérification en retard", "Verification overdue"),
    control_due_soon=Kind(
        "info", "system", "hub", "Vérification bientôt à faire", "Verification due soon"),
    zone_not_consistent=Kind(
        "warning", "radiation", "hub", "Zone non conforme à la délimitation",
        "Zone not consistent with the delimitation"),
    emission_without_study=Kind(
        "critical", "radiation", "hub", "Émission sans étude", "Emission without study"),
    study_without_emission=Kind(
        "warning", "system", "hub", "Étude sans émission", "Study without emission"),
    patient_dose_threshold=Kind(
        "warning", "radiation", "hub", "Seuil patient de la HAS dépassé",
        "HAS patient dose threshold passed"),
    operator_training_lapsed=Kind(
        "warning", "system", "hub", "Formation à la radioprotection de l'opérateur échue",
        "Operator's radiation protection training lapsed"),
    operator_unknown=Kind(
        "warning", "system", "hub", "Opérateur absent du registre",
        "Operator not in the register"),
)


def severity(kind: str) -> Severity:
    """The severity the hub stores for ``kind``; an unknown (newer) kind is a warning."""
    known = KINDS.get(kind)
    return known.severity if known is not None else "warning"


def label(kind: str, lang: str) -> str:
    """The name the page shows for ``kind`` in ``lang``; an unknown kind shows its code."""
    known = KINDS.get(kind)
    return known.label(lang) if known is not None else kind
