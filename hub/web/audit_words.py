"""The audit log in words: each recorded action as a sentence, its target and detail read
as a person reads them (``event.qualify-esr`` → "Événement qualifié ESR", ``esr: True`` →
"ESR : oui"), never the codes the table stores.

The table keeps its codes (the API and the filters use them); only the page says them in
words. An action this module does not know (a newer hub's) is shown as "Other action" with
its code in the cell's title, so the page never prints a dotted code as text; the test
tests/test_no_raw_codes.py checks that every action the code records is listed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from hub.messages import N_
from hub.web.auth import ROLES
from hub.web.calendar_words import RESULT_LABELS, STATUS_LABELS, TYPE_LABELS
from hub.web.timeshow import long_day, paris
from wire import kinds

#: Every action recorded by :func:`hub.web.audit.record`, as a sentence.
ACTION_LABELS: Final = {
    "login.success": N_("Signed in"),
    "login.failure": N_("Failed sign-in"),
    "logout": N_("Signed out"),
    "session.end": N_("Session ended"),
    "session.end_others": N_("Own other sessions ended"),
    "session.end_user": N_("An account's sessions ended"),
    "session.end_all": N_("Every session ended"),
    "user.create": N_("Account created"),
    "user.activate": N_("Account reactivated"),
    "user.deactivate": N_("Account deactivated"),
    "user.password": N_("Password changed"),
    "token.create": N_("API token created"),
    "token.revoke": N_("API token revoked"),
    "event.acknowledge": N_("Event acknowledged"),
    "event.close": N_("Event closed"),
    "event.qualify-esr": N_("Event qualified as ESR"),
    "event.unqualify-esr": N_("ESR qualification withdrawn"),
    "event.declare": N_("ESR declaration recorded"),
    "event.followup": N_("ESR follow-up report recorded"),
    "event.materiovigilance": N_("Matériovigilance report recorded"),
    "report.prepare": N_("Report prepared"),
    "report.prepare_quarter": N_("Quarter's reports prepared"),
    "report.recompute": N_("Report recomputed"),
    "report.measurement": N_("Measurement added to a report"),
    "report.measurement_remove": N_("Measurement removed from a report"),
    "report.sign": N_("Report signed"),
    "report.correct": N_("Report corrected"),
    "report.amend": N_("Amended version of a report"),
    "point.create": N_("Measurement point added"),
    "point.zoning": N_("Declared zone of a point changed"),
    "point.thresholds": N_("Thresholds of a point changed"),
    "control.record": N_("Verification recorded"),
    "control.room": N_("Room's verification settings changed"),
    "control.occasion": N_("Modification or maintenance recorded"),
    "control.type_add": N_("Verification type added"),
    "control.type_settings": N_("Verification type's settings changed"),
    "names.set": N_("Display name changed"),
    "imaging.map": N_("Imaging device's room changed"),
    "rdsr.purge": N_("Patient identities and received files removed (retention)"),
    "clinical.view": N_("Patient's identity viewed (patient doses)"),
    "operators.enable": N_("Operators feature turned on"),
    "operators.disable": N_("Operators feature turned off"),
    "operators.settings": N_("Workers' training validity changed"),
    "operators.profession": N_("Profession added or changed"),
    "operators.profession_delete": N_("Profession deleted"),
    "operator.create": N_("Operator added to the register"),
    "operator.update": N_("Operator of the register changed"),
    "operator.delete": N_("Operator deleted from the register"),
}
UNKNOWN_ACTION: Final = N_("Other action")
#: The detail's keys that hold a deadline (a day).
DEADLINES: Final = frozenset({"declaration_due", "followup_due", "was_due"})
#: Stored UTC times (a verification's recorded hours): said in Paris time.
TIMES: Final = frozenset({"window_start", "window_end", "received_before"})
#: What a target's prefix names (``event:42`` → "Event 42").
TARGET_LABELS: Final = {
    "event": N_("Event"), "report": N_("Report"), "user": N_("Account"),
    "token": N_("API token"), "point": N_("Measurement point"), "room": N_("Room"),
    "quarter": N_("Quarter"), "control": N_("Verification"),
    "control_type": N_("Verification type"), "session": N_("Session"),
    "device": N_("Box"), "signal": N_("Door or lamp"), "imaging": N_("Imaging device"),
    "operator": N_("Operator"),
    "study": N_("Study"),
}
#: The detail's keys in words; a key not listed is shown with spaces for its underscores.
DETAIL_LABELS: Final = {
    "esr": N_("ESR"), "comment": N_("Comment"), "state": N_("State"),
    "files": N_("Files"), "refused": N_("Refused files"),
    "received_before": N_("Received before"), "retention_days": N_("Retention (days)"),
    "reason": N_("Reason"), "criterion": N_("Criterion"),
    "criteria_version": N_("Criteria version"), "declaration_due": N_("Declaration due"),
    "declared_at": N_("Declared on"), "declaration_ref": N_("ASNR reference"),
    "followup_due": N_("Follow-up report due"), "followup_at": N_("Sent on"),
    "followup_ref": N_("Reference of the report"),
    "materiovigilance_at": N_("Reported on"), "materiovigilance_ref": N_("ANSM reference"),
    "was_criterion": N_("Criterion withdrawn"), "was_due": N_("Declaration that was due"),
    "outcome": N_("Regulator's outcome"), "role": N_("Role"),
    "display_name": N_("Name shown"), "sessions_ended": N_("Sessions ended"),
    "name": N_("Name"), "owner": N_("Owner"), "scope": N_("Use"),
    "point": N_("Measurement point"), "quarter": N_("Quarter"), "reports": N_("Reports"),
    "changed": N_("Changed"), "kind": N_("Kind"), "note": N_("Note"),
    "active": N_("Active"), "version": N_("Version"), "signer_name": N_("Signed by"),
    "old": N_("Before"), "new": N_("After"), "declared": N_("Declared zone"),
    "control": N_("Verification"), "document_ref": N_("Document reference"),
    "done_on": N_("Done on"), "next_due": N_("Next due"), "performed_by": N_("Performed by"),
    "result": N_("Result"), "site": N_("Site"), "room": N_("Room"), "status": N_("Status"),
    "point_id": N_("Measurement point"), "id": N_("Number"),
    "cse_consulted": N_("CSE consulted"), "names_deleted": N_("Names deleted"),
    "profession": N_("Profession"), "workers_training_on": N_("Workers' training"),
    "patients_training_on": N_("Patients' training"), "name_forms": N_("Names in the RDSRs"),
    "other_ids": N_("Other identifiers"),
    "studies": N_("Studies"),
    "window_start": N_("Start of the hours"), "window_end": N_("End of the hours"),
}
#: The detail's values said by a table of words, per key (a verification's type, result
#: and status, as the calendar says them).
VALUE_WORDS: Final[dict[str, dict[str, str]]] = {
    "control": TYPE_LABELS, "result": RESULT_LABELS, "status": STATUS_LABELS}
STATE_WORDS: Final = {"open": N_("Open"), "acknowledged": N_("Acknowledged"),
                      "closed": N_("Closed")}


def action_label(gettext: Callable[[str], str], action: str) -> str:
    label = ACTION_LABELS.get(action)
    return gettext(label if label is not None else UNKNOWN_ACTION)


def target_label(gettext: Callable[[str], str], target: str) -> str:
    """``event:42`` → "Event 42"; a target of no known prefix as written."""
    prefix, sep, rest = str(target or "").partition(":")
    label = TARGET_LABELS.get(prefix)
    if not sep or label is None:
        return str(target or "")
    if prefix in ("control", "control_type"):  # site/room/type, or the type alone
        place, _, key = rest.rpartition("/")
        if key in TYPE_LABELS:
            return f"{gettext(TYPE_LABELS[key])}{' · ' + place if place else ''}"
    return f"{gettext(label)} {rest}"


def value_words(gettext: Callable[[str], str], lang: str, key: str, value: Any) -> str:
    """A detail's value as a person reads it: yes/no, a kind's or state's name, lists and
    mappings spelled out, none as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, Mapping):
        return "; ".join(f"{key_words(gettext, str(k))}{gettext(': ')}"
                         f"{value_words(gettext, lang, str(k), v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_words(gettext, lang, key, v) for v in value)
    text = str(value)
    if key in DEADLINES:
        return long_day(text, lang)  # a deadline with its weekday, as the event page says it
    if key in TIMES:
        return paris(text)
    if text in kinds.KINDS:
        return kinds.label(text, lang)
    if text in VALUE_WORDS.get(key, {}):
        return gettext(VALUE_WORDS[key][text])
    if key == "state" and text in STATE_WORDS:
        return gettext(STATE_WORDS[text])
    if key == "role" and text in ROLES:
        return gettext(text)  # the roles' names are in the catalogs under their keys
    return text


def key_words(gettext: Callable[[str], str], key: str) -> str:
    label = DETAIL_LABELS.get(key)
    return gettext(label) if label is not None else key.replace("_", " ")


def detail_items(gettext: Callable[[str], str], lang: str,
                 detail: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key in words, value in words) for each entry of an audit row's detail."""
    if not isinstance(detail, Mapping):
        return [("", str(detail))]
    return [(key_words(gettext, str(k)), value_words(gettext, lang, str(k), v))
            for k, v in detail.items()]
