"""The verification calendar's codes in words (statuses, results, types and their legal
basis, triggers, performers): the calendar's pages and the audit log say them the same way.
"""

from __future__ import annotations

from hub.controls.types import BUILTIN, LEGACY, OPTIONAL
from hub.messages import N_

STATUS_LABELS = {"overdue": N_("Overdue"), "soon": N_("Due soon"),
                 "upcoming": N_("Upcoming"), "ok": N_("Up to date"),
                 "unscheduled": N_("No due date")}
REASON_LABELS = {"periodic": N_("interval since the last verification"),
                 "receipt": N_("receipt"), "first_use": N_("commissioning"),
                 "change_of_use": N_("change of use"), "modification": N_("modification"),
                 "maintenance": N_("maintenance"),
                 "report": N_("the signed quarterly report does not stand as the verification"),
                 "recheck": N_("re-check after a not-OK result"),
                 "first_record": N_("no verification recorded yet")}
RESULT_LABELS = {"ok": N_("Compliant"), "not_ok": N_("Not compliant")}
KIND_LABELS = {"fixed": N_("fixed device"), "mobile": N_("mobile device")}
TRIGGER_LABELS = {"receipt": N_("at receipt"),
                  "first_use": N_("at commissioning (before first use)"),
                  "change_of_use": N_("after a change of use"),
                  "modification": N_("after any modification"),
                  "maintenance": N_("on return to service after maintenance")}
PERFORMER_LABELS = {"accredited": N_("accredited body"),
                    "crp": N_("radiation protection adviser (CRP)"),
                    "site": N_("as the site decides")}
#: The hub's types' names, marked for translation (hub.controls.types).
TYPE_LABELS = {
    "initial_equipment": N_("Initial verification of the equipment"),
    "initial_workplace": N_("Initial verification of the workplaces"),
    "periodic_equipment": N_("Periodic verification of the equipment"),
    "return_to_service": N_("Verification on return to service after maintenance"),
    "periodic_workplace": N_("Periodic verification of the workplaces"),
    "protection_devices": N_("Verification of the protection and alarm devices (warning"
                             " lamps, door contacts, emergency stops)"),
    "instrument_check": N_("Check of the measuring instruments (Voyant's probe included)"),
    "quality_internal": N_("Internal image quality control"),
    "quality_external": N_("External quality control"),
    "quality_audit": N_("External audit of the internal quality control"),
    "ambient_internal": N_("Internal ambient control"),
    "ambient_external": N_("External ambient control"),
    "technical_internal": N_("Internal technical control"),
}
BASIS_LABELS = {
    "initial_equipment": N_("Code du travail R.4451-40; order of 23 October 2020, art. 5;"
                            " renewal: R.4451-41"),
    "initial_workplace": N_("Code du travail R.4451-44; order of 23 October 2020, art. 10"),
    "periodic_equipment": N_("Code du travail R.4451-42; order of 23 October 2020, art. 7:"
                             " at most one year"),
    "return_to_service": N_("Code du travail R.4451-40 to R.4451-42; order of 23 October"
                            " 2020"),
    "periodic_workplace": N_("Code du travail R.4451-45; order of 23 October 2020, art. 12:"
                             " continuous, or at most 3 months"),
    "protection_devices": N_("order of 23 October 2020, art. 12: at most one year"),
    "instrument_check": N_("Code du travail R.4451-48: on the programme's interval"),
    "quality_internal": N_("ANSM decision for the modality: initial 3 months after first"
                           " clinical use, then quarterly"),
    "quality_external": N_("ANSM decision for the modality: before first clinical use, then"
                           " every 5 years"),
    "quality_audit": N_("ANSM decision for the modality: one year after entry into service,"
                        " then yearly"),
    "ambient_internal": N_("order of 21 May 2010 (repealed on 1 July 2021)"),
    "ambient_external": N_("order of 21 May 2010 (repealed on 1 July 2021)"),
    "technical_internal": N_("order of 21 May 2010 (repealed on 1 July 2021)"),
}
OCCASION_LABELS = {"modification": N_("Modification"), "maintenance": N_("Maintenance")}
FEED_WORDS = (N_("Overdue"), N_("Verification"), N_("Room"), N_("Last done"),
              N_("Voyant: verifications"), N_("ESR follow-up report to hand in"),
              N_("Declaration"))
assert set(TYPE_LABELS) == set(BASIS_LABELS) == {t.key for t in (*BUILTIN, *OPTIONAL, *LEGACY)}
