"""The ``[rdsr]`` extension of a scenario: the imaging systems in the room and their studies.

With it the simulator writes, beside the agent's report, the X-Ray Radiation Dose SRs the
imaging systems would have written for the emissions played (:mod:`sim.rdsr_writer`), so
that the hub's reconciliation of emissions with studies is tested end to end. Read as
strictly as the rest of the file (:mod:`sim.scenario_toml`): a study naming no declared
device, a span outside the scenario or two studies of one device overlapping are refused
with the line, the key and what was expected (docs/simulator-rdsr.md).

    [[rdsr.device]]
    name = "artis"
    manufacturer = "Siemens"
    model = "AXIOM-Artis"
    observer_name = "SIM-ARTIS-1"
    clock_offset_s = 240.0

    [[rdsr.study]]
    device = "artis"
    from_s = 10.0
    to_s = 200.0
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sim.scenario_toml import Doc, Table, entries, fmt, is_number, show
from wire.records import NAME_PATTERN

_RDSR_KEYS = ("device", "study")
_DEVICE_KEYS = ("name", "manufacturer", "model", "observer_name", "serial", "room",
                "clock_offset_s", "utc_offset")
_STUDY_KEYS = ("device", "from_s", "to_s", "operator", "fluoro_group_gap_s",
               "fluoro_kar_mgy_per_s", "acquisition_kar_mgy_per_s", "field_cm2")
#: A clock a day off is no clock offset but a date set wrong: refused as a likely typo.
MAX_CLOCK_OFFSET_S: Final = 86_400.0
#: Ka,r per second of X-ray on: pulsed fluoroscopy (a Siemens Artis writes some 1.4 mGy
#: per second of pulses) and a continuous acquisition run (cine, DSA: 30 mGy for 6 s).
FLUORO_KAR_MGY_PER_S: Final = 1.5
ACQUISITION_KAR_MGY_PER_S: Final = 5.0
#: The field at the reference point: DAP = Ka,r x this area (10 cm x 10 cm).
FIELD_CM2: Final = 100.0
_NAME = re.compile(NAME_PATTERN)
#: DICOM LO and SH values: no backslash (the value separator), no control character.
_DICOM_TEXT = re.compile(r"[^\\\x00-\x1f\x7f]{1,64}")


@dataclass(frozen=True, slots=True)
class ImagingSystem:
    """One imaging system: what its RDSRs say of it, and its clock.

    ``room`` is the Voyant room the hub maps it to when that is not the room playing the
    scenario (a wrong mapping); ``clock_offset_s`` is its clock minus true time (positive:
    ahead); ``utc_offset`` writes each time's UTC offset, else Paris wall time without
    one, as the shared vendors' files do.
    """

    name: str
    manufacturer: str
    model: str
    observer_name: str
    serial: str | None = None
    room: str | None = None
    clock_offset_s: float = 0.0
    utc_offset: bool = False


@dataclass(frozen=True, slots=True)
class StudySpec:
    """One study: the emissions starting within ``[from_s, to_s]`` are its irradiation
    events; fluoroscopy presses less than ``fluoro_group_gap_s`` apart are one event."""

    device: str
    from_s: float
    to_s: float
    operator: str | None = None
    fluoro_group_gap_s: float = 0.0
    fluoro_kar_mgy_per_s: float = FLUORO_KAR_MGY_PER_S
    acquisition_kar_mgy_per_s: float = ACQUISITION_KAR_MGY_PER_S
    field_cm2: float = FIELD_CM2


@dataclass(frozen=True, slots=True)
class RdsrPlan:
    devices: tuple[ImagingSystem, ...]
    studies: tuple[StudySpec, ...]

    def device(self, name: str) -> ImagingSystem:
        return next(d for d in self.devices if d.name == name)


def parse_rdsr(doc: Doc, data: object, duration_s: float) -> RdsrPlan:
    """The ``[rdsr]`` table, validated; :class:`~sim.scenario_toml.ScenarioError` on a
    mistake."""
    top = Table(doc, data, ("rdsr",), _RDSR_KEYS)
    devices = tuple(_device(doc, entry, ("rdsr", "device", i)) for i, entry in enumerate(
        entries(doc, top.raw("device"), ("rdsr", "device")), 1))
    _distinct_devices(doc, devices)
    names = [d.name for d in devices]
    studies = tuple(_study(doc, entry, ("rdsr", "study", i), duration_s, names)
                    for i, entry in enumerate(
                        entries(doc, top.raw("study"), ("rdsr", "study")), 1))
    if not studies:
        doc.fail(("rdsr", "study"), "expected at least one [[rdsr.study]]")
    _refuse_overlaps(doc, studies)
    return RdsrPlan(devices, studies)


def _text(t: Table, key: str) -> str:
    value = t.text(key)
    if not _DICOM_TEXT.fullmatch(value):
        t.doc.fail(t.at(key), "expected at most 64 characters, without a backslash or a"
                   f" control character, got {show(value)}")
    return value


def _optional_text(t: Table, key: str) -> str | None:
    return _text(t, key) if key in t.data else None


def _device(doc: Doc, data: object, path: tuple[str | int, ...]) -> ImagingSystem:
    t = Table(doc, data, path, _DEVICE_KEYS)
    name = t.text("name")
    if not _NAME.match(name):
        doc.fail(t.at("name"), "expected a name of letters, digits, - and _ (at most 64),"
                 f" got {show(name)}")
    room = _optional_text(t, "room")
    if room is not None and not _NAME.match(room):
        doc.fail(t.at("room"), "expected a Voyant room name (letters, digits, - and _, at"
                 f" most 64), got {show(room)}")
    offset = 0.0
    if "clock_offset_s" in t.data:
        raw = t.data["clock_offset_s"]
        if not is_number(raw) or abs(raw) > MAX_CLOCK_OFFSET_S:
            doc.fail(t.at("clock_offset_s"), "expected the device's clock minus true time in"
                     f" seconds (a number from -{fmt(MAX_CLOCK_OFFSET_S)} to"
                     f" {fmt(MAX_CLOCK_OFFSET_S)}), got {show(raw)}")
        offset = float(raw)
    utc = t.data.get("utc_offset", False)
    if not isinstance(utc, bool):
        doc.fail(t.at("utc_offset"), f"expected true or false, got {show(utc)}")
    return ImagingSystem(name, _text(t, "manufacturer"), _text(t, "model"),
                         _text(t, "observer_name"), _optional_text(t, "serial"), room,
                         offset, utc)


def _distinct_devices(doc: Doc, devices: Sequence[ImagingSystem]) -> None:
    """Two devices of one name, or of one identity for the hub (observer name and serial:
    the hub would take them for one system), are refused."""
    for (i, a), (j, b) in itertools.combinations(enumerate(devices, 1), 2):
        if a.name == b.name:
            doc.fail(("rdsr", "device", j, "name"),
                     f'"{b.name}" is already the name of rdsr.device[{i}]; expected each'
                     " device named once")
        if (a.observer_name, a.serial) == (b.observer_name, b.serial):
            doc.fail(("rdsr", "device", j, "observer_name"),
                     f"rdsr.device[{i}] has the same observer_name and serial; expected"
                     " each device told apart by them (the hub maps by them)")


def _study(doc: Doc, data: object, path: tuple[str | int, ...], duration_s: float,
           names: Sequence[str]) -> StudySpec:
    t = Table(doc, data, path, _STUDY_KEYS)
    device = t.text("device")
    if device not in names:
        known = ", ".join(f'"{n}"' for n in names)
        doc.fail(t.at("device"), f'unknown device "{device}"; expected the name of an'
                 f" [[rdsr.device]]: {known}")
    start, end = t.time("from_s", duration_s), t.time("to_s", duration_s)
    if end <= start:
        doc.fail(t.at("to_s"), f"expected the study's end after from_s = {fmt(start)},"
                 f" got {fmt(end)}")
    operator = _optional_text(t, "operator")
    gap = t.number_or("fluoro_group_gap_s", "a time in seconds", 0.0)

    def rate(key: str, what: str, default: float) -> float:
        value = t.optional_number(key, what, above=True)
        return default if value is None else value

    return StudySpec(device, start, end, operator, gap,
                     rate("fluoro_kar_mgy_per_s", "a Ka,r rate in mGy/s", FLUORO_KAR_MGY_PER_S),
                     rate("acquisition_kar_mgy_per_s", "a Ka,r rate in mGy/s",
                          ACQUISITION_KAR_MGY_PER_S),
                     rate("field_cm2", "a field area in cm²", FIELD_CM2))


def _refuse_overlaps(doc: Doc, studies: Sequence[StudySpec]) -> None:
    """One device records one study at a time: two of its studies may not share an instant
    (an emission would belong to both)."""
    for (i, a), (j, b) in itertools.combinations(enumerate(studies, 1), 2):
        if a.device == b.device and a.from_s <= b.to_s and b.from_s <= a.to_s:
            doc.fail(("rdsr", "study", j, "from_s"),
                     f"overlaps rdsr.study[{i}] of the same device, which spans"
                     f" [{fmt(a.from_s)}, {fmt(a.to_s)}] s; expected one study at a time"
                     " per device")


def plan_keys() -> dict[str, tuple[str, ...]]:
    """The keys of each table, for the docs' test."""
    return {"rdsr": _RDSR_KEYS, "rdsr.device": _DEVICE_KEYS, "rdsr.study": _STUDY_KEYS}
