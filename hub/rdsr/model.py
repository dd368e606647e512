"""What an RDSR says, typed: the reader's result, independent of pydicom.

Figures are in the fixed output's units (Gy·m² for a dose-area product, Gy for an
air kerma, seconds for times, milliseconds for a pulse width); ``None`` is a figure
the file does not give (or gives unusably: then ``Rdsr.notes`` says why).
Times are aware datetimes in the file's own local time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime


@dataclass(frozen=True)
class Device:
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    observer_name: str | None = None


@dataclass(frozen=True)
class PlaneTotals:
    """One acquisition plane's accumulated figures (TID 10002, 10004, 10005)."""

    dap_gym2: float | None = None
    kar_gy: float | None = None
    fluoro_dap_gym2: float | None = None
    fluoro_kar_gy: float | None = None
    fluoro_time_s: float | None = None
    acquisition_dap_gym2: float | None = None
    acquisition_kar_gy: float | None = None
    acquisition_time_s: float | None = None


#: The accumulated figures every plane may give, in the output's order.
PLANE_FIGURES: tuple[str, ...] = tuple(f.name for f in fields(PlaneTotals))


@dataclass(frozen=True)
class Totals(PlaneTotals):
    """The report's totals: each figure summed over the planes that give it.

    For a biplane system the air kerma is each plane's own reference point, and the
    fluoroscopy time counts both tubes even when they ran together; ``per_plane``
    keeps each plane's figures apart for whoever needs them so.
    """

    peak_skin_dose_gy: float | None = None
    per_plane: dict[str, PlaneTotals] = field(default_factory=dict)


@dataclass(frozen=True)
class Operator:
    """A person taking part in an irradiation (TID 1020)."""

    name: str
    role: str | None = None
    person_id: str | None = None


@dataclass(frozen=True)
class IrradiationEvent:
    """One irradiation event (TID 10003).

    ``duration_s`` is the span the generator was asked to emit: the Irradiation
    Duration if given, else pulses / pulse rate, else the exposure time;
    ``xray_on_s`` is the exposure time (the tube actually on) when given.
    """

    uid: str | None = None
    start: datetime | None = None
    plane: str | None = None
    type: str | None = None
    protocol: str | None = None
    duration_s: float | None = None
    xray_on_s: float | None = None
    pulses: int | None = None
    pulse_rate_hz: float | None = None
    pulse_width_ms: float | None = None
    dap_gym2: float | None = None
    kar_gy: float | None = None
    kvp: float | None = None
    ma: float | None = None
    operators: tuple[Operator, ...] = ()


#: Event figures a complete report gives (operators are optional in TID 10003).
EVENT_FIGURES: tuple[str, ...] = tuple(
    f.name for f in fields(IrradiationEvent) if f.name != "operators")


@dataclass(frozen=True)
class Rdsr:
    sop_instance_uid: str | None
    sop_class: str
    study_instance_uid: str | None
    scope: str | None
    device: Device
    start: datetime | None
    timezone_assumed: bool
    planes: tuple[str, ...]
    totals: Totals
    events: tuple[IrradiationEvent, ...]
    #: What a complete report would give and this one does not (``device.serial``,
    #: ``peak_skin_dose_gy``, ``events.pulses`` when any event lacks its pulses...).
    missing: tuple[str, ...]
    #: How many events lack each event figure (only the figures some event lacks).
    missing_in_events: dict[str, int]
    #: Why a value was set aside (a unit not understood, a value that is no number...).
    notes: tuple[str, ...]
