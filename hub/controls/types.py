"""Verification types: what must be verified in each room, how often, on which occasions.

The defaults are the verifications of the Code du travail (R.4451-40 to -48) and
the order of 23 October 2020 (docs/DOMAIN.md, "Verifications"), each with its
legal basis. A type has a period in months (one for a fixed device, one for a
mobile one), the longest period the law allows (``max_months``), and *triggers*:
occasions on which a verification is due whatever the period (commissioning, a
modification, a maintenance), possibly some months after the occasion.

- :data:`BUILTIN`: in force unless ``[controls] disabled`` lists them; the site
  sets their intervals on the calendar page (within ``max_months``);
- :data:`OPTIONAL`: the imaging equipment's quality controls (ANSM decisions, a
  separate regime), in force only where the site enables them;
- :data:`LEGACY`: the "contrôles internes/externes" of the order of 21 May 2010
  (repealed on 1 July 2021): no longer scheduled; their records stay, read-only.

A site adds its own types in the configuration (``[[controls.types]]``) or on the
calendar page (admin).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from wire.errors import HubError

TriggerEvent = Literal["receipt", "first_use", "change_of_use", "modification", "maintenance"]
TRIGGER_EVENTS: Final[tuple[TriggerEvent, ...]] = (
    "receipt", "first_use", "change_of_use", "modification", "maintenance")
#: Occasions recorded as dated rows of ``control_occasions`` (any number per room).
OCCASION_KINDS: Final[tuple[TriggerEvent, ...]] = ("modification", "maintenance")
DeviceKind = Literal["fixed", "mobile"]
DEVICE_KINDS: Final[tuple[DeviceKind, ...]] = ("fixed", "mobile")
Source = Literal["builtin", "optional", "config", "site", "legacy"]
Performer = Literal["accredited", "crp", "site"]
KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
NAME_MAX: Final = 120
PERIOD_MAX_MONTHS: Final = 120
#: The workplace verification that a signed quarterly report can close (one per point).
WORKPLACE: Final = "periodic_workplace"
#: The measuring instruments' check: the probe's own, for the workplace verification.
INSTRUMENT: Final = "instrument_check"


@dataclass(frozen=True, slots=True)
class Trigger:
    """A verification is due ``offset_months`` after the room's ``event`` (0: that day)."""

    event: TriggerEvent
    offset_months: int = 0


@dataclass(frozen=True, slots=True)
class ControlType:
    """``period_months``: months between two verifications (None: only on its triggers);
    ``period_months_mobile``: the same for a mobile device (None: as a fixed one);
    ``max_months``: the longest period the law allows (the site cannot set more)."""

    key: str
    name: str
    period_months: int | None
    period_months_mobile: int | None = None
    triggers: tuple[Trigger, ...] = ()
    source: Source = "builtin"
    basis: str = ""
    max_months: int = PERIOD_MAX_MONTHS
    performer: Performer = "site"
    #: Whether a period is required (a periodic verification cannot be switched off).
    periodic: bool = False

    @property
    def legacy(self) -> bool:
        return self.source == "legacy"

    def period_for(self, device_kind: DeviceKind) -> int | None:
        if device_kind == "mobile" and self.period_months_mobile is not None:
            return self.period_months_mobile
        return self.period_months

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "period_months": self.period_months,
                "period_months_mobile": self.period_months_mobile or self.period_months,
                "triggers": [{"event": t.event, "offset_months": t.offset_months}
                             for t in self.triggers],
                "source": self.source, "basis": self.basis, "max_months": self.max_months,
                "performer": self.performer, "legacy": self.legacy}


_INITIAL: Final = (Trigger("first_use"), Trigger("modification"))

#: The verifications of the order of 23 October 2020 (English names; the page translates).
BUILTIN: Final[tuple[ControlType, ...]] = (
    ControlType("initial_equipment", "Initial verification of the equipment", None, None,
                _INITIAL, basis="Code du travail R.4451-40; order of 23 October 2020, art. 5;"
                " renewal: R.4451-41", performer="accredited"),
    ControlType("initial_workplace", "Initial verification of the workplaces", None, None,
                _INITIAL, basis="Code du travail R.4451-44; order of 23 October 2020, art. 10",
                performer="accredited"),
    ControlType("periodic_equipment", "Periodic verification of the equipment", 12, None, (),
                basis="Code du travail R.4451-42; order of 23 October 2020, art. 7: at most"
                " one year", max_months=12, performer="crp", periodic=True),
    ControlType("return_to_service", "Verification on return to service after maintenance",
                None, None, (Trigger("maintenance"),),
                basis="Code du travail R.4451-40 to R.4451-42; order of 23 October 2020",
                performer="crp"),
    ControlType(WORKPLACE, "Periodic verification of the workplaces", 3, None, (),
                basis="Code du travail R.4451-45; order of 23 October 2020, art. 12:"
                " continuous, or at most 3 months", max_months=3, performer="crp",
                periodic=True),
    ControlType("protection_devices", "Verification of the protection and alarm devices"
                " (warning lamps, door contacts, emergency stops)", 12, None, (),
                basis="order of 23 October 2020, art. 12: at most one year", max_months=12,
                performer="crp", periodic=True),
    ControlType(INSTRUMENT, "Check of the measuring instruments (Voyant's probe included)",
                12, None, (), basis="Code du travail R.4451-48: on the programme's interval",
                performer="crp", periodic=True),
)

#: Quality controls of the imaging equipment (ANSM): a separate regime, enabled per site.
OPTIONAL: Final[tuple[ControlType, ...]] = (
    ControlType("quality_internal", "Internal image quality control", 3, None,
                (Trigger("first_use", 3),), "optional",
                basis="ANSM decision for the modality: initial 3 months after first clinical"
                " use, then quarterly"),
    ControlType("quality_external", "External quality control", 60, None,
                (Trigger("first_use"),), "optional",
                basis="ANSM decision for the modality: before first clinical use, then every"
                " 5 years"),
    ControlType("quality_audit", "External audit of the internal quality control", 12, None,
                (Trigger("first_use", 12),), "optional",
                basis="ANSM decision for the modality: one year after entry into service,"
                " then yearly"),
)

#: The legal guide's controls (order of 21 May 2010, repealed): their records only.
LEGACY: Final[tuple[ControlType, ...]] = (
    ControlType("ambient_internal", "Internal ambient control", None, None, (), "legacy",
                basis="order of 21 May 2010 (repealed on 1 July 2021)"),
    ControlType("ambient_external", "External ambient control", None, None, (), "legacy",
                basis="order of 21 May 2010 (repealed on 1 July 2021)"),
    ControlType("technical_internal", "Internal technical control", None, None, (), "legacy",
                basis="order of 21 May 2010 (repealed on 1 July 2021)"),
)
BUILTIN_KEYS: Final = frozenset(t.key for t in BUILTIN)
OPTIONAL_KEYS: Final = frozenset(t.key for t in OPTIONAL)
LEGACY_KEYS: Final = frozenset(t.key for t in LEGACY)
#: Every key the hub defines (a site's own type takes none of them).
RESERVED_KEYS: Final = BUILTIN_KEYS | OPTIONAL_KEYS | LEGACY_KEYS
_DEFINED: Final = {t.key: t for t in (*BUILTIN, *OPTIONAL, *LEGACY)}


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
    if key in RESERVED_KEYS or key in set(taken):
        raise ControlError("key", "{key} is already a verification type.", key=key)
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise ControlError("name", "1 to {max} characters.", max=NAME_MAX)
    check_periods(period_months, period_months_mobile, PERIOD_MAX_MONTHS)
    events = list(dict.fromkeys(triggers))
    for event in events:
        if event not in TRIGGER_EVENTS:
            raise ControlError("triggers", "Unknown occasion {event}.", event=event)
    if period_months is None and not events:
        raise ControlError("period_months", "Give a period, or at least one occasion.")
    return ControlType(key, name, period_months, period_months_mobile,
                       tuple(Trigger(e) for e in events), "site")  # type: ignore[arg-type]


def check_periods(period_months: int | None, period_months_mobile: int | None,
                  max_months: int) -> None:
    """Periods within 1 to ``max_months``; a mobile period only with the fixed one."""
    for field_name, value in (("period_months", period_months),
                              ("period_months_mobile", period_months_mobile)):
        if value is not None and not 1 <= value <= max_months:
            raise ControlError(field_name, "A number of months from 1 to {max}.",
                               max=max_months)
    if period_months_mobile is not None and period_months is None:
        raise ControlError("period_months_mobile", "A mobile period needs the fixed one too.")


def from_row(row: Mapping[str, Any]) -> ControlType:
    """A type added on the page, as stored in ``control_types``; unreadable triggers or
    periods out of bounds (written by hand) are left out rather than stop the calendar."""
    try:
        events = json.loads(row["triggers"] or "[]")
    except (TypeError, ValueError):
        events = []
    fixed, mobile = row["period_months"], row["period_months_mobile"]
    try:
        check_periods(fixed, mobile, PERIOD_MAX_MONTHS)
    except (ControlError, TypeError):
        fixed, mobile = None, None
    triggers = [e for e in events if e in TRIGGER_EVENTS] if isinstance(events, list) else []
    return ControlType(str(row["key"]), str(row["name"]), fixed, mobile,
                       tuple(Trigger(e) for e in triggers), "site")


@dataclass(frozen=True, slots=True)
class TypeSetting:
    """The site's choice for a built-in or optional type (``control_type_settings``)."""

    key: str
    enabled: bool
    period_months: int | None
    period_months_mobile: int | None
    #: False when the stored periods were not numbers (they are then not applied).
    readable: bool = True

    def applies_to(self, ctype: ControlType) -> bool:
        """Whether the stored periods fit ``ctype`` (bounds, a period where one is
        required): a value written by hand or by an older hub is otherwise left out."""
        if not self.readable or (ctype.periodic and self.period_months is None):
            return False
        try:
            check_periods(self.period_months, self.period_months_mobile, ctype.max_months)
        except ControlError:
            return False
        return True


def defined(key: str) -> ControlType | None:
    """The hub's own type of that key (built-in, optional or legacy), if any."""
    return _DEFINED.get(key)


def catalog(configured: Sequence[Any] = (), stored: Sequence[ControlType] = (),
            disabled: Iterable[str] = (), settings: Iterable[TypeSetting] = ()
            ) -> list[ControlType]:
    """Every type in force: the built-in ones (but ``disabled`` or switched off), the
    optional ones the site enabled, with the site's intervals, then the configured ones,
    then those added on the page (a stored key the configuration took since is left out).
    """
    off = set(disabled)
    chosen = {s.key: s for s in settings}
    out: list[ControlType] = []
    for ctype in (*BUILTIN, *OPTIONAL):
        setting = chosen.get(ctype.key)
        # A built-in type cannot be switched off on the page: only ``disabled`` does.
        enabled = ctype.source == "builtin" or (setting is not None and setting.enabled)
        if ctype.key in off or not enabled:
            continue
        if setting is not None and setting.applies_to(ctype):
            ctype = replace(ctype, period_months=setting.period_months,
                            period_months_mobile=setting.period_months_mobile)
        out.append(ctype)
    seen = {t.key for t in out} | off | RESERVED_KEYS
    for item in configured:
        out.append(ControlType(item.key, item.name, item.period_months,
                               item.period_months_mobile,
                               tuple(Trigger(e) for e in item.triggers), "config"))
        seen.add(item.key)
    out.extend(t for t in stored if t.key not in seen)
    return out


def legacy_for(keys: Iterable[str], in_force: Iterable[str]) -> list[ControlType]:
    """The read-only types of recorded keys no longer in force: the legal guide's, a
    disabled or switched-off one, or a site type since removed (named by its key)."""
    force = set(in_force)
    out = []
    for key in sorted(set(keys) - force):
        known = _DEFINED.get(key)
        name = known.name if known is not None else key
        basis = known.basis if known is not None else ""
        out.append(ControlType(key, name, None, None, (), "legacy", basis=basis))
    return out


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What the calendar needs to know of a room (``control_rooms``, ``control_occasions``);
    dates are ISO days; ``occasions``: (kind, day) of each modification and maintenance."""

    site: str
    room: str
    device_kind: DeviceKind = "fixed"
    received_on: str | None = None
    first_use_on: str | None = None
    use_changed_on: str | None = None
    tracked_since: str | None = None
    occasions: tuple[tuple[str, str], ...] = ()
    #: The day migration step 3 brought the 2020 verifications (a room tracked before).
    upgraded_on: str | None = None
