"""What the monitor produces: exposures, alarms and readings, and the events that carry them.

Times are the agent's monotonic seconds; the agent adds UTC when it journals
them. Records are mutable while open (an exposure grows, an alarm clears) and
handed out again, updated, in the closing event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wire.kinds import AlarmKind


@dataclass(slots=True)
class ExposureRecord:
    """One period of the emission signal (pulses closer than the merge gap are one)."""

    number: int
    start: float
    requested: bool
    procedure: int
    resumed: bool = False
    end: float | None = None
    doors_open: set[str] = field(default_factory=set)
    emission_light_ok: bool = True
    max_dose_rate_usv_h: float = 0.0
    dose_usv: float = 0.0
    pulses: int = 1
    saturated: bool = False
    alarms: set[AlarmKind] = field(default_factory=set)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(slots=True)
class AlarmRecord:
    """One alarm: raised at ``at`` (agent time) for a condition holding since ``since``."""

    number: int
    kind: AlarmKind
    subject: str | None
    at: float
    since: float
    detail: str = ""
    exposure: int | None = None
    cleared: float | None = None


@dataclass(slots=True)
class Reading:
    """The dose-rate summary of one reading interval ``[start, end]``.

    An interval with no valid probe data (``seconds_covered`` 0: the probe sent
    nothing) has no rates: they are None, never NaN, so that the journal, the
    wire and the hub all show it as no data.
    """

    start: float
    end: float
    counts: int
    seconds_covered: float
    cpm: float | None
    dose_usv: float
    mean_usv_h: float | None
    mean_sigma_usv_h: float | None
    max_usv_h: float | None
    max_sigma_usv_h: float | None
    saturated: bool
    calibration: str
    frames: int
    frames_lost: int


@dataclass(frozen=True, slots=True)
class ExposureOpened:
    exposure: ExposureRecord


@dataclass(frozen=True, slots=True)
class ExposureClosed:
    exposure: ExposureRecord


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    alarm: AlarmRecord


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    alarm: AlarmRecord


@dataclass(frozen=True, slots=True)
class ReadingReady:
    reading: Reading


Output = ExposureOpened | ExposureClosed | AlarmRaised | AlarmCleared | ReadingReady
