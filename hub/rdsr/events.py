"""One irradiation event (TID 10003) read from its container, by concept codes.

The template lets a system put a figure directly in the event or in a sub-container
(the enhanced report's source and detector data), so each event's subtree is
indexed once and every figure is its concept's first occurrence, filters aside.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from hub.rdsr import codes as c
from hub.rdsr.model import IrradiationEvent, Operator
from hub.rdsr.tree import Budget, index
from hub.rdsr.values import MAX_VALUE, attr, coded, date_time, first, meaning, number, text

Index = dict[c.Code, list[Any]]


def item_of(found: Index, *wanted: c.Code) -> Any:
    """The first item of the first concept of ``wanted`` the index holds."""
    for code in wanted:
        if found.get(code):
            return found[code][0]
    return None


def uid_of(found: Index) -> str | None:
    return text(attr(item_of(found, *sorted(c.EVENT_UID)), "UID"))


def _protocol(item: Any) -> str | None:
    """Acquisition Protocol: TEXT for most systems, CODE for some (its wording, then)."""
    return text(attr(item, "TextValue")) or text(
        attr(first(item, "ConceptCodeSequence"), "CodeMeaning"))


def _operators(found: Index, budget: Budget) -> tuple[Operator, ...]:
    """The named people (TID 1020), each with the role its HAS PROPERTIES child gives."""
    out = []
    for item in found.get(c.PERSON_NAME, []):
        name = text(attr(item, "PersonName"))
        if name is None:
            continue
        own = index([item], budget)
        role_code = coded(item_of(own, c.PERSON_ROLE))
        role = c.PERSON_ROLES.get(role_code, "other") if role_code else None
        person_id = text(attr(item_of(own, c.PERSON_ID), "TextValue"))
        out.append(Operator(name=name.replace("^", " ").strip(), role=role,
                            person_id=person_id))
    return tuple(out)


def _pulses(item: Any, notes: list[str], where: str) -> int | None:
    value = number(item, c.COUNT_UNITS, notes, where) if item is not None else None
    if value is None:
        return None
    if abs(value - round(value)) > 1e-6:
        notes.append(f"{where}: {meaning(item)} is not a whole number ({value})")
        return None
    return round(value)


def read_event(found: Index, budget: Budget, file_zone: tzinfo | None, notes: list[str],
               where: str) -> tuple[IrradiationEvent, bool]:
    """The event an index of its subtree describes, and whether its start's zone was
    assumed (Europe/Paris)."""

    def num(code: c.Code | frozenset[c.Code], units: dict[str, float]) -> float | None:
        wanted = sorted(code) if isinstance(code, frozenset) else [code]
        item = item_of(found, *wanted)
        return None if item is None else number(item, units, notes, where)

    start: datetime | None
    start, assumed = date_time(attr(item_of(found, c.EVENT_START), "DateTime"), file_zone)
    pulses = _pulses(item_of(found, c.PULSES), notes, where)
    rate = num(c.PULSE_RATE, c.RATE_UNITS)
    xray_on = num(c.EXPOSURE_TIME, c.SECONDS_UNITS)
    duration = num(c.IRRADIATION_DURATION, c.SECONDS_UNITS)
    if duration is None and pulses is not None and rate:
        duration = pulses / rate
        if not duration < MAX_VALUE:  # a rate of 1e-320 pulses/s
            notes.append(f"{where}: {pulses} pulses at {rate:g}/s is no duration")
            duration = None
    if duration is None:
        duration = xray_on
    current = num(c.TUBE_CURRENT, c.MA_UNITS)
    event = IrradiationEvent(
        uid=uid_of(found),
        start=start,
        plane=c.PLANES.get(coded(item_of(found, c.ACQUISITION_PLANE)) or ("", "")),
        type=c.EVENT_TYPES.get(coded(item_of(found, c.EVENT_TYPE)) or ("", "")),
        protocol=_protocol(item_of(found, c.PROTOCOL)),
        duration_s=duration,
        xray_on_s=xray_on,
        pulses=pulses,
        pulse_rate_hz=rate,
        pulse_width_ms=num(c.PULSE_WIDTH, c.MILLISECONDS_UNITS),
        dap_gym2=num(c.DAP, c.DAP_UNITS),
        kar_gy=num(c.KAR, c.KERMA_UNITS),
        kvp=num(c.KVP, c.KV_UNITS),
        ma=current if current is not None else num(c.AVERAGE_TUBE_CURRENT, c.MA_UNITS),
        operators=_operators(found, budget),
    )
    return event, assumed
