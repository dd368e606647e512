"""An event's stored detail as lines a person reads: each key in words, each value in the
reader's terms (Paris time, yes/no, a zone's or a kind's name, French numbers), never
``journal``, ``stored_at: 2026-01-05T07:01:40Z`` or ``clock_implausible: True``.

The detail is what the ingest, the calendar job or a report wrote (a newer hub may write
more): a key not listed here is shown with spaces for its underscores, its value as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from hub.messages import N_
from hub.rdsr import thresholds
from hub.reports.points import ZONES
from hub.web.numfmt import number
from hub.web.report_document import WORDS
from hub.web.timeshow import long_day, paris
from wire import kinds

LABELS: Final = {
    "subject": N_("Concerning"), "at": N_("Time (room's monitor)"), "since": N_("Since"),
    "stored_at": N_("Received by the hub"), "received_at": N_("Received by the hub"),
    "journal": N_("Box's journal"), "previous": N_("Previous journal"),
    "run": N_("Box start number"), "number": N_("Alarm number"),
    "exposure": N_("Emission number"), "detail": N_("Monitor's detail"),
    "clock_implausible": N_("Box clock implausible"), "reason": N_("Reason"),
    "first": N_("First missing record"), "last": N_("Last missing record"),
    "missing": N_("Records missing"), "lost": N_("Lost for good"),
    "upto": N_("Acknowledged up to record"), "stalled_s": N_("Stalled for"),
    "silent_s": N_("Silent for"), "control": N_("Verification"), "name": N_("Name"),
    "due": N_("Due on"), "last_done": N_("Last done"), "point": N_("Measurement point"),
    "point_name": N_("Measurement point"), "remind_days": N_("Reminder"),
    "quarter": N_("Quarter"), "month": N_("Month"), "report": N_("Report"),
    "zone": N_("Zone found"), "zone_by": N_("Criterion that set the zone"),
    "declared": N_("Declared zone"), "off_zone": N_("Zone with the generator off"),
    "reasons": N_("Why"), "window_start": N_("Largest hour from"),
    "window_dose_usv": N_("Dose in that hour"), "net_dose_usv": N_("Net dose of the month"),
    # the reconciliation with the RDSRs (hub.rdsr.reconcile_store)
    "emission_start": N_("Emission started"), "emission_end": N_("Emission ended"),
    "emission_s": N_("Emission time"), "covered_by_study": N_("A study spans that time"),
    "study": N_("Study (UID)"), "irradiation_event_uid": N_("Irradiation event (UID)"),
    "event_start": N_("Irradiation started (Voyant's clock)"),
    "rdsr_start": N_("Irradiation started (imaging system's clock)"),
    "event_s": N_("Irradiation time"), "offset_s": N_("Imaging system's clock offset"),
    "imaging_device": N_("Imaging device"),
    "controls_without_hours": N_("Verification that day, without hours (nothing excluded)"),
    "occasions_without_hours": N_("Maintenance or modification that day, without hours"
                                  " (nothing excluded)"),
    # the HAS patient thresholds (hub.rdsr.thresholds)
    "passed": N_("Thresholds passed"), "follow_up": N_("Follow-up by"),
    "totals_file": N_("Totals from the file (SOP Instance UID)"),
    "revised_at": N_("Revised by a later file of the study"),
    # the operators named by the RDSRs (hub.rdsr.operators_flags)
    "operator": N_("Operator"), "person_id": N_("Identifier in the dose report"),
    "profession": N_("Profession"), "workers_training_on": N_("Workers' training"),
    "workers_valid_until": N_("Workers' training valid until"),
    "workers_lapsed": N_("Workers' training lapsed"),
    "patients_training_on": N_("Patients' training"),
    "patients_valid_until": N_("Patients' training valid until"),
    "patients_lapsed": N_("Patients' training lapsed"),
}
TIMES: Final = frozenset({"at", "since", "stored_at", "received_at", "window_start",
                          "emission_start", "emission_end", "event_start", "rdsr_start",
                          "revised_at"})
DAYS: Final = frozenset({"due", "last_done", "workers_training_on", "workers_valid_until",
                        "patients_training_on", "patients_valid_until"})
SECONDS: Final = frozenset({"stalled_s", "silent_s", "emission_s", "event_s", "offset_s"})
DOSES: Final = frozenset({"window_dose_usv", "net_dose_usv"})
ZONE_KEYS: Final = frozenset({"zone", "declared", "off_zone"})
#: Shown elsewhere on the page (the title says the subject; the point's id is a link);
#: an operator event's pointers to its person (the page shows the person instead).
HIDDEN: Final = frozenset({"subject", "operator_entry", "operator_rank"})


def _value(gettext: Callable[[str], str], lang: str, key: str, value: Any,
           names: Mapping[str, str]) -> str:
    if value is None or value == "":
        return "—"
    if key in thresholds.WORDED:
        return thresholds.word(key, value, gettext, lambda v: number(v, lang, 4))
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, Mapping):  # a point: {"id", "name"}
        return str(value.get("name") or value.get("id") or "—")
    if isinstance(value, list | tuple):
        return ", ".join(_value(gettext, lang, key, v, names) for v in value) or "—"
    if key in TIMES:
        return paris(value, True)
    if key in DAYS:
        return long_day(value, lang)
    if isinstance(value, int | float) and key in SECONDS:
        return f"{number(value, lang)} s"
    if isinstance(value, int | float) and key in DOSES:
        return f"{number(value, lang)} µSv"
    text = str(value)
    if key in ZONE_KEYS:
        zones = dict(ZONES)
        return gettext(zones[text]) if text in zones else text
    if key in ("zone_by", "reasons") and text in WORDS:
        return gettext(WORDS[text])
    if key == "remind_days" and isinstance(value, int):
        return gettext("{n} days before").format(n=value)
    if key in ("control", "controls_without_hours") and text in names:
        return gettext(names[text])
    if text in kinds.KINDS:
        return kinds.label(text, lang)
    return text


def detail_lines(gettext: Callable[[str], str], lang: str, detail: Any,
                 names: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) for each entry of ``detail`` worth reading; ``names`` are the
    verification types' names by key (marked for translation)."""
    if not isinstance(detail, Mapping):
        return [] if detail in (None, "") else [(gettext("Detail"), str(detail))]
    out = []
    for key, value in detail.items():
        if key in HIDDEN or value is None or value == "":
            continue
        label = LABELS.get(str(key))
        out.append((gettext(label) if label else str(key).replace("_", " "),
                    _value(gettext, lang, str(key), value, names)))
    return out
