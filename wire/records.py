"""The evidence records of the wire contract and the bounds of every value they carry.

The agent builds these models when it journals a record (and refuses to
journal what fails them); the hub validates every received record against
the same models, one by one. So one set of bounds holds on both sides: every
number finite and non-negative, below a physical maximum, every timestamp a
real instant, a reading's end never before its start. A reading interval with
no valid probe data has ``seconds_covered`` 0 and null rates: never NaN.
"""

from __future__ import annotations

from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from wire.chain import HASH_PATTERN

#: Schema version carried in every JSON payload as ``"v"``; topics carry ``v1``.
SCHEMA_VERSION: Final = 1
#: Largest sequence number (JSON-safe integer).
MAX_SEQ: Final = 2**53 - 1
#: Largest dose rate either side accepts, µSv/h (10 Sv/h: far above what a GM probe can
#: measure; a higher figure is a fault, never a measurement).
MAX_DOSE_RATE_USV_H: Final = 1e7
#: Largest dose in one record, µSv (1,000 Sv).
MAX_DOSE_USV: Final = 1e9
#: Largest count rate, counts per minute (far above any GM tube's dead-time limit).
MAX_CPM: Final = 1e10
#: Longest duration in a record, seconds (about 3 years: an exposure stuck on for that long
#: would long have raised its alarms).
MAX_DURATION_S: Final = 1e8
#: Longest reading interval, seconds.
MAX_READING_S: Final = 86_400.0

NAME_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
DEVICE_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
#: ASCII digits only: the pattern engine's ``\d`` also matches other scripts' digits
#: (``２０２６``), which ``int`` reads and the pages' date functions refuse.
TIMESTAMP_PATTERN: Final = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             r"(\.[0-9]{1,9})?Z$")


_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=4096)
def _real_instant(text: str) -> str:
    """Refuse a well-formed but impossible date or time (2026-02-30, hour 25).

    The pattern has fixed the positions already; this is on the ingest's hot path, so the
    fields are read by position rather than by ``strptime`` (five times slower), and the
    answer is remembered: a reading's end is the next one's start. A refusal raises, and
    ``lru_cache`` keeps no exception, so a bad instant is judged anew every time."""
    if not text.isascii():
        raise ValueError(f"{text!r} is not a real date and time")
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (year >= 1 and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60
            and 1 <= day <= (_DAYS[month - 1] if month != 2 or leap else 28)):
        raise ValueError(f"{text!r} is not a real date and time")
    return text


def instant_key(text: str) -> str:
    """A wire timestamp as text that sorts as time does: the fraction padded to 9 digits
    (as written, ``…:00Z`` would sort after ``…:00.5Z``, since ``Z`` > ``.``)."""
    whole, _, fraction = text.removesuffix("Z").partition(".")
    return f"{whole}.{fraction.ljust(9, '0')}"


Timestamp = Annotated[
    str, Field(pattern=TIMESTAMP_PATTERN, max_length=40), AfterValidator(_real_instant)
]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Count = Annotated[int, Field(ge=0, le=MAX_SEQ)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
DoseRate = Annotated[float, Field(ge=0.0, le=MAX_DOSE_RATE_USV_H, allow_inf_nan=False)]
Dose = Annotated[float, Field(ge=0.0, le=MAX_DOSE_USV, allow_inf_nan=False)]
CountRate = Annotated[float, Field(ge=0.0, le=MAX_CPM, allow_inf_nan=False)]
Duration = Annotated[float, Field(ge=0.0, le=MAX_DURATION_S, allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
DeviceId = Annotated[str, Field(pattern=DEVICE_PATTERN)]
JournalId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
AlarmKindName = Annotated[str, Field(pattern=r"^[a-z_]{1,64}$")]
#: The SHA-256 of the record before (``wire.chain``), lowercase hex.
Hash = Annotated[str, Field(pattern=HASH_PATTERN)]
#: An input's name as the agent calls it: ``emission``, ``door.<name>``, ``light.<name>``…
SIGNAL_PATTERN: Final = r"^[a-z_]{1,32}(\.[A-Za-z0-9_-]{1,64})?$"
Signal = Annotated[str, Field(pattern=SIGNAL_PATTERN)]


class Payload(BaseModel):
    """Every JSON payload: unknown keys refused, no coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class FromDevice(Payload):
    """What an agent's JSON payload says of its sender (the topic must agree)."""

    v: Literal[1]
    device: DeviceId
    site: Name
    room: Name


#: The rate fields of a reading: all null when the interval has no valid probe data.
READING_RATES: Final = ("cpm", "mean_usv_h", "mean_sigma_usv_h", "max_usv_h", "max_sigma_usv_h")
_RATES_OF: Final = attrgetter(*READING_RATES)


class ReadingItem(Payload):
    """One dose-rate reading interval; ``calibration`` names the factor used.

    ``seconds_covered`` is how much of the interval the probe covered; when it
    is 0 the rates are null (no data, shown as such), otherwise they are all
    given.
    """

    seq: Seq
    run: Seq
    start: Timestamp
    end: Timestamp
    counts: Count
    seconds_covered: Annotated[float, Field(ge=0.0, le=MAX_READING_S, allow_inf_nan=False)]
    cpm: CountRate | None
    dose_usv: Dose
    mean_usv_h: DoseRate | None
    mean_sigma_usv_h: DoseRate | None
    max_usv_h: DoseRate | None
    max_sigma_usv_h: DoseRate | None
    saturated: bool
    calibration: ShortText
    frames: Count
    frames_lost: Count
    clock_synced: bool | None = None
    prev: Hash | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ReadingItem:
        # Run for every reading the hub receives, so the usual case is taken first: times
        # are validated (fixed width to the second), so an end in a later second than the
        # start is not before it, and rates all given over a covered interval are right.
        start, end = self.start, self.end
        if end[:19] <= start[:19] and instant_key(end) < instant_key(start):
            raise ValueError(f"end {end} is before start {start}")
        if self.seconds_covered > 0 and None not in _RATES_OF(self):
            return self
        missing = [name for name in READING_RATES if getattr(self, name) is None]
        if self.seconds_covered == 0 and len(missing) != len(READING_RATES):
            raise ValueError("a reading that covers 0 s has null rates")
        if self.seconds_covered > 0 and missing:
            raise ValueError(f"{missing[0]}: required when seconds_covered > 0")
        return self


class ExposureItem(Payload):
    """The state of one exposure at an event: ``opened``, ``closed`` or ``interrupted``.

    ``(run, number)`` names the exposure within the device's journal; later
    events replace earlier ones. ``interrupted`` is an exposure the agent was
    running when it died, closed at its next start with what was known.
    """

    seq: Seq
    event: Literal["opened", "closed", "interrupted"]
    run: Seq
    number: Seq
    start: Timestamp
    end: Timestamp | None = None
    duration_s: Duration | None = None
    requested: bool
    resumed: bool = False
    procedure: Count | None = None
    pulses: Count | None = None
    doors_open: Annotated[list[ShortText], Field(max_length=32)] = []
    emission_light_ok: bool | None = None
    max_dose_rate_usv_h: DoseRate | None = None
    dose_usv: Dose | None = None
    saturated: bool | None = None
    alarms: Annotated[list[AlarmKindName], Field(max_length=32)] = []
    calibration: ShortText | None = None
    clock_synced: bool | None = None
    prev: Hash | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ExposureItem:
        if self.end is not None and instant_key(self.end) < instant_key(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class AlarmItem(Payload):
    """The state of one alarm at an event: ``raised``, ``cleared`` or ``interrupted``."""

    seq: Seq
    event: Literal["raised", "cleared", "interrupted"]
    run: Seq
    number: Seq
    kind: AlarmKindName
    subject: ShortText | None = None
    at: Timestamp
    since: Timestamp
    cleared: Timestamp | None = None
    detail: Annotated[str, Field(max_length=1000)] = ""
    exposure: Seq | None = None
    clock_synced: bool | None = None
    prev: Hash | None = None


class ChangeItem(Payload):
    """One debounced change of an input, or a run of them (a pulse train).

    ``signal`` changed ``count`` times between its ``first`` and ``last`` edge
    and was ``value`` after the last one: a single change has ``count`` 1 and
    ``first`` = ``last``; a pulsed emission is one record per run, however many
    pulses it holds. ``origin`` ``start`` is the value the agent found when it
    started, different from the last one it journaled (or every input of a new
    journal): the change happened while no agent watched, at an unknown time
    before ``first``, and ``count`` is 0. ``by`` says who asked, for a reset.
    """

    seq: Seq
    run: Seq
    signal: Signal
    value: bool
    first: Timestamp
    last: Timestamp
    count: Count
    origin: Literal["edge", "start"] = "edge"
    by: ShortText | None = None
    clock_synced: bool | None = None
    prev: Hash | None = None

    @model_validator(mode="after")
    def _run(self) -> ChangeItem:
        if instant_key(self.last) < instant_key(self.first):
            raise ValueError(f"last {self.last} is before first {self.first}")
        if self.origin == "edge" and self.count < 1:
            raise ValueError("count: an edge record holds at least one change")
        if self.origin == "start" and (self.count != 0 or self.last != self.first):
            raise ValueError("a start record has count 0 and first = last")
        return self


#: Every record item carries ``clock_synced``: whether the agent's system clock was
#: synchronised when it stamped the record's times (false if any of them was not; null or
#: absent when unknown, as from agents older than the field), and ``prev``: the hash of the
#: journal's record before it (``wire.chain``; absent from records made before the chain).
Item = ReadingItem | ExposureItem | AlarmItem | ChangeItem
ItemModel = type[ReadingItem] | type[ExposureItem] | type[AlarmItem] | type[ChangeItem]

#: The item model of each record kind (the batch's ``kind``).
ITEM_MODELS: Final[dict[str, ItemModel]] = {
    "readings": ReadingItem, "exposures": ExposureItem, "alarms": AlarmItem,
    "changes": ChangeItem,
}
