"""The wire contract's record items, built from what the monitor hands over.

The journal makes every reading, exposure, alarm and input change into its wire model
(:mod:`wire.records`) before it commits anything, so that the outbox only
ever holds records the hub accepts, checked against the same bounds on both
sides. An item that breaks the contract is a software fault, never a record
to send: :class:`InvalidRecord` says which field and why.

Items carry their sequence number and UTC times; the caller gives the wall
times (the agent's clock offset at the moment it stamped them).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edge_agent.changes import ChangeRecord
from edge_agent.clock import iso_utc
from edge_agent.errors import JournalError
from edge_agent.monitor.records import AlarmRecord, ExposureRecord, Reading
from wire.records import AlarmItem, ChangeItem, ExposureItem, ReadingItem
from wire.settings import summarize_errors

M = TypeVar("M", bound=BaseModel)


class InvalidRecord(JournalError):
    """A record that breaks the wire contract: nothing was written.

    Permanent (the same record fails the same way again): a software fault to
    report, not a write to retry."""


def both_synced(first: bool | None, second: bool | None) -> bool | None:
    """``clock_synced`` of a record stamped twice: false if either stamp was unsynchronised,
    unknown if either is unknown."""
    if first is False or second is False:
        return False
    if first is None or second is None:
        return None
    return True


def _build(model: type[M], kind: str, fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRecord(f"{kind} record {fields.get('seq')} breaks the wire contract:"
                            f" {summarize_errors(exc)}") from None


def reading_item(
    seq: int, run: int, r: Reading, start_wall: float, end_wall: float,
    clock_synced: bool | None,
) -> ReadingItem:
    return _build(ReadingItem, "readings", {
        "seq": seq, "run": run, "start": iso_utc(start_wall), "end": iso_utc(end_wall),
        "counts": r.counts, "seconds_covered": r.seconds_covered, "cpm": r.cpm,
        "dose_usv": r.dose_usv, "mean_usv_h": r.mean_usv_h,
        "mean_sigma_usv_h": r.mean_sigma_usv_h, "max_usv_h": r.max_usv_h,
        "max_sigma_usv_h": r.max_sigma_usv_h, "saturated": r.saturated,
        "calibration": r.calibration, "frames": r.frames, "frames_lost": r.frames_lost,
        "clock_synced": clock_synced,
    })


def exposure_opened_item(
    seq: int, run: int, e: ExposureRecord, start_wall: float, calibration: str | None,
    clock_synced: bool | None,
) -> ExposureItem:
    """An exposure as it opens: what is known at its start, nothing of how it ends."""
    return _build(ExposureItem, "exposures", {
        "seq": seq, "event": "opened", "run": run, "number": e.number,
        "start": iso_utc(start_wall), "requested": e.requested, "resumed": e.resumed,
        "procedure": e.procedure, "calibration": calibration, "clock_synced": clock_synced,
    })


def exposure_closed_item(
    seq: int, opened: ExposureItem, e: ExposureRecord, end_wall: float,
    clock_synced: bool | None,
) -> ExposureItem:
    """The exposure at its close: its opening as journaled, and what the monitor measured."""
    assert e.end is not None
    return _build(ExposureItem, "exposures", {
        **opened.model_dump(), "seq": seq, "event": "closed", "end": iso_utc(end_wall),
        "duration_s": max(e.end - e.start, 0.0), "pulses": e.pulses,
        "doors_open": sorted(e.doors_open), "emission_light_ok": e.emission_light_ok,
        "max_dose_rate_usv_h": e.max_dose_rate_usv_h, "dose_usv": e.dose_usv,
        "saturated": e.saturated, "alarms": sorted(str(kind) for kind in e.alarms),
        "clock_synced": both_synced(opened.clock_synced, clock_synced),
    })


def alarm_raised_item(
    seq: int, run: int, a: AlarmRecord, at_wall: float, since_wall: float,
    clock_synced: bool | None,
) -> AlarmItem:
    return _build(AlarmItem, "alarms", {
        "seq": seq, "event": "raised", "run": run, "number": a.number, "kind": a.kind,
        "subject": a.subject, "at": iso_utc(at_wall), "since": iso_utc(since_wall),
        "detail": a.detail, "exposure": a.exposure, "clock_synced": clock_synced,
    })


def alarm_cleared_item(
    seq: int, raised: AlarmItem, a: AlarmRecord, cleared_wall: float, clock_synced: bool | None,
) -> AlarmItem:
    """The alarm as it clears: its raising as journaled, the clearing time and final detail."""
    return _build(AlarmItem, "alarms", {
        **raised.model_dump(), "seq": seq, "event": "cleared", "cleared": iso_utc(cleared_wall),
        "detail": a.detail, "clock_synced": both_synced(raised.clock_synced, clock_synced),
    })


def change_item(
    seq: int, run: int, c: ChangeRecord, first_wall: float, last_wall: float,
    clock_synced: bool | None,
) -> ChangeItem:
    """One input change, or a run of them, or the value found at the start."""
    return _build(ChangeItem, "changes", {
        "seq": seq, "run": run, "signal": c.signal, "value": c.value,
        "first": iso_utc(first_wall), "last": iso_utc(last_wall), "count": c.count,
        "origin": c.origin, "by": c.by, "clock_synced": clock_synced,
    })


def interrupted_exposure_item(seq: int, row: dict[str, Any]) -> ExposureItem:
    """An exposure a previous run left open, from its journal row (closed at the last sign of
    life of that run)."""
    return _build(ExposureItem, "exposures", {
        "seq": seq, "event": "interrupted", "run": row["run"], "number": row["number"],
        "start": row["start"], "end": row["end"], "duration_s": row["duration_s"],
        "requested": bool(row["requested"]), "resumed": bool(row["resumed"]),
        "procedure": row["procedure"], "calibration": row["calibration"],
        "clock_synced": _bool(row["clock_synced"]),
    })


def interrupted_alarm_item(seq: int, row: dict[str, Any], exposure: int | None) -> AlarmItem:
    """An alarm a previous run left active, from its journal row."""
    return _build(AlarmItem, "alarms", {
        "seq": seq, "event": "interrupted", "run": row["run"], "number": row["number"],
        "kind": row["kind"], "subject": row["subject"], "at": row["at"], "since": row["since"],
        "detail": row["detail"] or "", "exposure": exposure,
        "clock_synced": _bool(row["clock_synced"]),
    })


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)
