"""Control types: what must be checked in each room, how often, and on which occasions.

A type has a period in months (one for a fixed device, one for a mobile one)
and *triggers*: occasions, dated in the room's settings, on which a control is
due whatever the period (at receipt, before first use, after a change of use),
possibly some months after the occasion.

The built-in types are those of the legal guide (docs/DOMAIN.md, "Periodic
controls"; the guide's section 4.5 in ``/work/shared/seeds``): the quality
control triggers (initial internal control three months after first clinical
use, external control before first clinical use, first audit one year after
entry into service) come from the same section. A site adds its own types in
the configuration (``[[controls.types]]``) or on the calendar page (admin).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from wire.errors import HubError

TriggerEvent = Literal["receipt", "first_use", "change_of_use"]
TRIGGER_EVENTS: Final[tuple[TriggerEvent, ...]] = ("receipt", "first_use", "change_of_use")
DeviceKind = Literal["fixed", "mobile"]
DEVICE_KINDS: Final[tuple[DeviceKind, ...]] = ("fixed", "mobile")
Source = Literal["builtin", "config", "site"]
KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
NAME_MAX: Final = 120
PERIOD_MAX_MONTHS: Final = 120


@dataclass(frozen=True, slots=True)
class Trigger:
    """A control is due ``offset_months`` after the room's ``event`` date (0: on that day)."""

    event: TriggerEvent
    offset_months: int = 0


@dataclass(frozen=True, slots=True)
class ControlType:
    """``period_months``: months between two controls (None: only on its triggers);
    ``period_months_mobile``: the same for a mobile device (None: as a fixed one)."""

    key: str
    name: str
    period_months: int | None
    period_months_mobile: int | None = None
    triggers: tuple[Trigger, ...] = ()
    source: Source = "builtin"
    basis: str = ""

    def period_for(self, device_kind: DeviceKind) -> int | None:
        if device_kind == "mobile" and self.period_months_mobile is not None:
            return self.period_months_mobile
        return self.period_months

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "period_months": self.period_months,
                "period_months_mobile": self.period_months_mobile or self.period_months,
                "triggers": [{"event": t.event, "offset_months": t.offset_months}
                             for t in self.triggers],
                "source": self.source, "basis": self.basis}


_ON_EVERY_OCCASION: Final = (Trigger("receipt"), Trigger("first_use"), Trigger("change_of_use"))

#: The controls of the legal guide, section 4.5 (English names; the page translates them).
BUILTIN: Final[tuple[ControlType, ...]] = (
    ControlType("ambient_internal", "Internal ambient control", 3, 3, (),
                basis="quarterly: at most 3 months apart (order of 23 October 2020, art. 12)"),
    ControlType("ambient_external", "External ambient control", 60, 36, (),
                basis="every 5 years (fixed device), 3 years (mobile device)"),
    ControlType("technical_internal", "Internal technical control", 12, None,
                _ON_EVERY_OCCASION,
                basis="at receipt, before first use, after a change of use, then yearly"),
    ControlType("quality_internal", "Internal image quality control", 3, None,
                (Trigger("first_use", 3),),
                basis="initial 3 months after first clinical use, then quarterly"),
    ControlType("quality_external", "External quality control", 60, None,
                (Trigger("first_use"),),
                basis="before first clinical use, then every 5 years"),
    ControlType("quality_audit", "External audit of the internal quality control", 12, None,
                (Trigger("first_use", 12),),
                basis="one year after entry into service, then yearly"),
)
BUILTIN_KEYS: Final = frozenset(t.key for t in BUILTIN)


class ControlError(HubError, ValueError):
    """A refused value: ``field`` names what to fix; ``message`` is the English source
    string (the page translates it, then ``.format(**params)``)."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(f"{field}: {message.format(**params)}")
        self.field, self.message, self.params = field, message, params


def check_type(key: str, name: str, period_months: int | None,
               period_months_mobile: int | None, triggers: Iterable[str],
               taken: Iterable[str] = ()) -> ControlType:
    """A site type from its fields, or :class:`ControlError` naming the first bad one."""
    key = key.strip()
    if not KEY_RE.match(key):
        raise ControlError("key", "1 to 40 lower-case letters, digits or _, starting with a"
                                " letter.")
    if key in BUILTIN_KEYS or key in set(taken):
        raise ControlError("key", "{key} is already a control type.", key=key)
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise ControlError("name", "1 to {max} characters.", max=NAME_MAX)
    for field_name, value in (("period_months", period_months),
                              ("period_months_mobile", period_months_mobile)):
        if value is not None and not 1 <= value <= PERIOD_MAX_MONTHS:
            raise ControlError(field_name, "A number of months from 1 to {max}.",
                             max=PERIOD_MAX_MONTHS)
    events = list(dict.fromkeys(triggers))
    for event in events:
        if event not in TRIGGER_EVENTS:
            raise ControlError("triggers", "Unknown occasion {event}.", event=event)
    if period_months is None and not events:
        raise ControlError("period_months", "Give a period, or at least one occasion.")
    if period_months_mobile is not None and period_months is None:
        raise ControlError("period_months_mobile", "A mobile period needs the fixed one too.")
    return ControlType(key, name, period_months, period_months_mobile,
                       tuple(Trigger(e) for e in events), "site")  # type: ignore[arg-type]


def from_row(row: Mapping[str, Any]) -> ControlType:
    """A type added on the page, as stored in ``control_types``."""
    events = json.loads(row["triggers"] or "[]")
    return ControlType(str(row["key"]), str(row["name"]), row["period_months"],
                       row["period_months_mobile"],
                       tuple(Trigger(e) for e in events if e in TRIGGER_EVENTS), "site")


def catalog(configured: Sequence[Any] = (), stored: Sequence[ControlType] = (),
            disabled: Iterable[str] = ()) -> list[ControlType]:
    """Every type in force: the built-in ones (but ``disabled``), the configured ones, then
    those added on the page (a stored key the configuration took since is left out)."""
    off = set(disabled)
    out = [t for t in BUILTIN if t.key not in off]
    seen = {t.key for t in out} | off
    for item in configured:
        out.append(ControlType(item.key, item.name, item.period_months,
                               item.period_months_mobile,
                               tuple(Trigger(e) for e in item.triggers), "config"))
        seen.add(item.key)
    out.extend(t for t in stored if t.key not in seen)
    return out


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What the calendar needs to know of a room (``control_rooms``); dates are ISO days."""

    site: str
    room: str
    device_kind: DeviceKind = "fixed"
    received_on: str | None = None
    first_use_on: str | None = None
    use_changed_on: str | None = None
    tracked_since: str | None = None
