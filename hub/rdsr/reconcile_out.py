"""A room's reconciliation said: the fixed JSON form (docs/reconcile.md; times UTC) and the
text a person reads (Paris time, the zone said once). Study and event UIDs only: the
reconciliation never reads a patient's identifier.
"""

from __future__ import annotations

from typing import Any

from hub.rdsr.reconcile import DayRecord, EmissionResult, EventResult, StudyResult, Window
from hub.rdsr.reconcile_store import Reconciliation, imaging_name
from hub.timefmt import iso
from hub.web.timeshow import paris

#: The JSON form's version: a change of its fields gives a new one (2: ``before_feed``).
FORM = 2


def _window(window: Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {"source": window.source, "ref": window.ref, "label": window.label,
            "start_utc": iso(window.start), "end_utc": iso(window.end)}


def _day(record: DayRecord) -> dict[str, Any]:
    return {"source": record.source, "ref": record.ref, "label": record.label,
            "day": record.day.isoformat()}


def _emission(item: EmissionResult) -> dict[str, Any]:
    e = item.emission
    return {"device": e.device, "journal": e.journal, "run": e.run, "number": e.number,
            "start_utc": iso(e.start), "end_utc": iso(e.end),
            "duration_s": round(e.duration_s, 3), "verdict": item.verdict,
            "irradiation_event_uids": list(item.events), "studies": list(item.studies),
            "excluded_by": _window(item.window),
            "records_without_hours": [_day(d) for d in item.days]}


def _event(item: EventResult) -> dict[str, Any]:
    i = item.irradiation
    return {"irradiation_event_uid": i.uid, "study_instance_uid": i.study,
            "imaging_device": i.imaging, "start_utc": iso(item.start),
            "rdsr_start_utc": iso(i.start), "duration_s": round(i.duration_s, 3),
            "offset_s": round(item.offset_s, 3), "verdict": item.verdict}


def _study(item: StudyResult) -> dict[str, Any]:
    difference = item.difference_s
    return {"study_instance_uid": item.uid, "imaging_device": item.imaging,
            "start_utc": iso(item.start), "end_utc": iso(item.end), "events": item.events,
            "voyant_emission_s": round(item.voyant_s, 3),
            "rdsr_fluoro_acquisition_s": None if item.rdsr_s is None else round(item.rdsr_s, 3),
            "difference_s": None if difference is None else round(difference, 3)}


def as_json(done: Reconciliation) -> dict[str, Any]:
    """The fixed form of docs/reconcile.md."""
    result = done.result
    devices = []
    for key, device in sorted(done.imaging.items()):
        offset = done.offsets.get(key)
        devices.append({"id": key, "name": imaging_name(device), "box": device.device,
                        "offset_used_s": round(done.used.get(key, 0.0), 3),
                        "estimate_s": None if offset is None else round(offset.seconds, 3),
                        "estimate_pairs": 0 if offset is None else offset.pairs,
                        "drift": bool(offset and offset.drift)})
    return {
        "form": FORM, "site": done.site, "room": done.room, "boxes": list(done.boxes),
        "start_utc": iso(done.start), "end_utc": iso(done.end), "now_utc": iso(done.now),
        "wait_h": done.wait_h, "tolerance_s": done.tolerance_s, "imaging_devices": devices,
        "emissions": [_emission(r) for r in result.emissions],
        "events_without_emission": [_event(e) for e in result.events
                                    if e.verdict != "matched"],
        "studies": [_study(s) for s in result.studies],
        "pending": {"emissions": sum(r.verdict == "pending" for r in result.emissions),
                    "events": sum(e.verdict == "pending" for e in result.events)},
        "clock_implausible": done.clock_implausible,
        "before_feed": {"feed_start_utc": None if done.feed_start is None
                        else iso(done.feed_start), "emissions": result.before_feed},
    }


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def as_text(done: Reconciliation) -> list[str]:
    """Lines for a person: times in Paris time, said once."""
    result = done.result
    verdicts = [r.verdict for r in result.emissions]
    lines = [f"{done.site}/{done.room}: {paris(iso(done.start))} to {paris(iso(done.end))}"
             " (Paris time, Europe/Paris)",
             f"emissions: {len(verdicts)}, matched {verdicts.count('matched')},"
             f" no study {verdicts.count('no_study')} (critical), study lacks the event"
             f" {verdicts.count('study_lacks_event')}, excluded {verdicts.count('excluded')},"
             f" pending {verdicts.count('pending')}; clock implausible"
             f" {done.clock_implausible}"]
    if result.before_feed:
        since = ("no imaging device has sent a report" if done.feed_start is None else
                 f"the dose report feed started {paris(iso(done.feed_start), True)}")
        lines.append(f"not judged: {result.before_feed} emissions before the room's dose"
                     f" report feed ({since})")
    for key, device in sorted(done.imaging.items()):
        offset = done.offsets.get(key)
        said = f"clock offset used {done.used.get(key, 0.0):+.1f} s" + (
            ", none estimated" if offset is None else
            f", estimate {offset.seconds:+.1f} s over {offset.pairs} pairs"
            + (" (drift)" if offset.drift else "")
            + ("" if done.used.get(key) == offset.seconds else
               ", not used: it covers fewer events than none"))
        lines.append(f"imaging device {key} {imaging_name(device)}: {said}")
    for study in result.studies:
        lines.append(f"study {study.uid} from {paris(iso(study.start), True)}:"
                     f" {study.events} events, Voyant {_s(study.voyant_s)},"
                     f" RDSR fluoroscopy + acquisition {_s(study.rdsr_s)},"
                     f" difference {_s(study.difference_s)}")
    for item in result.emissions:
        if item.verdict == "matched":
            continue
        e = item.emission
        extra = (f" during {item.window.source} {item.window.ref}" if item.window else
                 f" in the span of study {item.studies[0]}" if item.studies else "")
        extra += "".join(f"; {d.source} {d.ref} that day, without hours" for d in item.days)
        lines.append(f"emission {e.journal}/{e.run}/{e.number} at"
                     f" {paris(iso(e.start), True)} ({e.duration_s:.1f} s):"
                     f" {item.verdict.replace('_', ' ')}{extra}")
    for event in result.events:
        if event.verdict != "matched":
            lines.append(f"irradiation event {event.irradiation.uid} at"
                         f" {paris(iso(event.start), True)} (study"
                         f" {event.irradiation.study}): {event.verdict.replace('_', ' ')}")
    return lines
