"""Writing the X-Ray Radiation Dose SR an imaging system would have written for a scenario.

The studies of the scenario's ``[rdsr]`` table (:mod:`sim.rdsr_events`) become DICOM files
of the X-Ray Radiation Dose SR class, content tree TID 10001 with one TID 10003 container
per irradiation event and the accumulated figures (TID 10002, 10004, 10005), every item
named by its concept code with the standard's meaning (the hub's reader matches codes,
:mod:`hub.rdsr.codes`). Times are on the device's clock (true time plus its
``clock_offset_s``), Paris wall time without a UTC offset as the shared vendors' files
have them, or with one; figures in the reader's own units (Gy·m², Gy, s, ms), so that what
is read back is the number written. The patient is plainly fake (``SIM^PATIENT``): no
identifier of anyone. UIDs derive from the scenario, its seed and the play's start, so a
file written twice is the same file (the hub stores it once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from sim.rdsr_events import PlannedEvent, PlannedStudy, plan_studies
from sim.runner import EPOCH
from sim.scenario import Scenario

RDSR_SOP_CLASS: Final = "1.2.840.10008.5.1.4.1.1.88.67"
PARIS: Final = ZoneInfo("Europe/Paris")
FAKE_PATIENT: Final = "SIM^PATIENT"
_FLUOROSCOPY: Final = ("SCT", "44491008", "Fluoroscopy")
_ACQUISITION: Final = ("DCM", "113611", "Stationary Acquisition")


# -- content items ----------------------------------------------------------------------


def _code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    entry = Dataset()
    entry.CodeValue, entry.CodingSchemeDesignator, entry.CodeMeaning = value, scheme, meaning
    return entry


def _item(value_type: str, concept: str, meaning: str, relation: str = "CONTAINS") -> Dataset:
    item = Dataset()
    item.RelationshipType = relation
    item.ValueType = value_type
    item.ConceptNameCodeSequence = DicomSequence([_code(concept, meaning)])
    return item


def _num(concept: str, meaning: str, value: float, unit: str) -> Dataset:
    item = _item("NUM", concept, meaning)
    measured = Dataset()
    measured.NumericValue = f"{value:.6g}"  # a DS holds 16 characters
    measured.MeasurementUnitsCodeSequence = DicomSequence([_code(unit, unit, "UCUM")])
    item.MeasuredValueSequence = DicomSequence([measured])
    return item


def _coded(concept: str, meaning: str, value: tuple[str, str, str],
           relation: str = "CONTAINS") -> Dataset:
    item = _item("CODE", concept, meaning, relation)
    scheme, code, code_meaning = value
    item.ConceptCodeSequence = DicomSequence([_code(code, code_meaning, scheme)])
    return item


def _text(concept: str, meaning: str, value: str, relation: str = "CONTAINS") -> Dataset:
    item = _item("TEXT", concept, meaning, relation)
    item.TextValue = value
    return item


def _uidref(concept: str, meaning: str, value: str, relation: str = "CONTAINS") -> Dataset:
    item = _item("UIDREF", concept, meaning, relation)
    item.UID = value
    return item


def _datetime(concept: str, meaning: str, value: str) -> Dataset:
    item = _item("DATETIME", concept, meaning)
    item.DateTime = value
    return item


def _container(concept: str, meaning: str, children: Sequence[Dataset],
               relation: str = "CONTAINS") -> Dataset:
    item = _item("CONTAINER", concept, meaning, relation)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = DicomSequence(list(children))
    return item


def _single_plane() -> Dataset:
    return _coded("113764", "Acquisition Plane", ("DCM", "113622", "Single Plane"),
                  "HAS CONCEPT MOD")


# -- the device's clock ------------------------------------------------------------------


class DeviceClock:
    """Scenario seconds as the device writes them: its offset added, Paris wall time."""

    def __init__(self, wall_start: float, offset_s: float, utc_offset: bool) -> None:
        self.wall_start, self.offset_s, self.utc_offset = wall_start, offset_s, utc_offset

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.wall_start + t + self.offset_s, PARIS)

    def dt(self, t: float) -> str:
        """A DICOM DT to the millisecond, with its own UTC offset when the device says it."""
        moment = self.local(t)
        text = moment.strftime("%Y%m%d%H%M%S.%f")[:-3]
        return text + moment.strftime("%z") if self.utc_offset else text


# -- the report --------------------------------------------------------------------------


def _uid(scenario: Scenario, wall_start: float, *parts: object) -> str:
    """A UID that the same scenario played from the same start always gives."""
    return str(generate_uid(entropy_srcs=[scenario.name, str(scenario.seed),
                                          repr(wall_start), *map(str, parts)]))


def _event(event: PlannedEvent, clock: DeviceClock, uid: str,
           operator: str | None) -> Dataset:
    fluoro = event.type == "fluoroscopy"
    children = [
        _single_plane(),
        _datetime("111526", "DateTime Started", clock.dt(event.start_s)),
        _coded("113721", "Irradiation Event Type", _FLUOROSCOPY if fluoro else _ACQUISITION),
        _text("125203", "Acquisition Protocol", event.protocol),
        _coded("113780", "Reference Point Definition",
               ("DCM", "113860", "15cm from Isocenter toward Source")),
        _uidref("113769", "Irradiation Event UID", uid),
        _num("122130", "Dose Area Product", event.dap_gym2, "Gy.m2"),
        _num("113738", "Dose (RP)", event.kar_gy, "Gy"),
    ]
    if fluoro:
        children.append(_coded("113732", "Fluoro Mode", ("DCM", "113631", "Pulsed")))
    if event.pulse_rate_hz is not None:
        children.append(_num("113791", "Pulse Rate", event.pulse_rate_hz, "{pulse}/s"))
    if event.pulses is not None:
        children.append(_num("113768", "Number of Pulses", event.pulses, "1"))
    children += [
        _num("113742", "Irradiation Duration", event.duration_s, "s"),
        _num("113733", "KVP", event.kvp, "kV"),
        _num("113734", "X-Ray Tube Current", event.ma, "mA"),
        _num("113824", "Exposure Time", event.xray_on_s, "s"),
    ]
    if event.pulse_width_ms is not None:
        children.append(_num("113793", "Pulse Width", event.pulse_width_ms, "ms"))
    if operator is not None:
        person = _item("PNAME", "113870", "Person Name")
        person.PersonName = operator
        person.ContentSequence = DicomSequence([_coded(
            "113875", "Person Role in Procedure",
            ("DCM", "113851", "Irradiation Administering"), "HAS PROPERTIES")])
        children.append(person)
    return _container("113706", "Irradiation Event X-Ray Data", children)


def _accumulated(study: PlannedStudy) -> Dataset:
    return _container("113702", "Accumulated X-Ray Dose Data", [
        _single_plane(),
        _num("113722", "Dose Area Product Total", study.dap_gym2, "Gy.m2"),
        _num("113725", "Dose (RP) Total", study.kar_gy, "Gy"),
        _num("113726", "Fluoro Dose Area Product Total", study.fluoro_dap_gym2, "Gy.m2"),
        _num("113728", "Fluoro Dose (RP) Total", study.fluoro_kar_gy, "Gy"),
        _num("113730", "Total Fluoro Time", study.fluoro_time_s, "s"),
        _num("113727", "Acquisition Dose Area Product Total", study.acquisition_dap_gym2,
             "Gy.m2"),
        _num("113729", "Acquisition Dose (RP) Total", study.acquisition_kar_gy, "Gy"),
        _num("113855", "Total Acquisition Time", study.acquisition_time_s, "s"),
        _coded("113780", "Reference Point Definition",
               ("DCM", "113860", "15cm from Isocenter toward Source")),
    ])


def dataset(scenario: Scenario, study: PlannedStudy, wall_start: float = EPOCH) -> Dataset:
    """The RDSR of ``study`` as a pydicom dataset (a DICOM Part 10 file once saved)."""
    device = study.device
    clock = DeviceClock(wall_start, device.clock_offset_s, device.utc_offset)
    opened = clock.local(study.spec.from_s)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(RDSR_SOP_CLASS)
    sop = _uid(scenario, wall_start, "sop", study.index)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = RDSR_SOP_CLASS, sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = opened.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = opened.strftime("%H%M%S.%f")[:-3]
    if device.utc_offset:
        ds.TimezoneOffsetFromUTC = opened.strftime("%z")
    ds.Modality = "SR"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""  # type 2: present, empty
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence([])
    ds.PerformedProcedureCodeSequence = DicomSequence([])
    ds.Manufacturer, ds.ManufacturerModelName = device.manufacturer, device.model
    ds.SoftwareVersions = "voyant-sim"
    ds.StationName = device.observer_name[:16]
    if device.serial is not None:
        ds.DeviceSerialNumber = device.serial
    ds.PatientName, ds.PatientID = FAKE_PATIENT, f"SIM-PATIENT-{study.index}"
    ds.PatientBirthDate, ds.PatientSex = "", "O"
    ds.StudyInstanceUID = _uid(scenario, wall_start, "study", study.index)
    ds.SeriesInstanceUID = _uid(scenario, wall_start, "series", study.index)
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = f"SIM{study.index}", 990, 1
    ds.SeriesDescription = "Radiation Dose Report (simulated)"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([_code("113701", "X-Ray Radiation Dose Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "10001"
    ds.ContentTemplateSequence = DicomSequence([template])
    scope = _coded("113705", "Scope of Accumulation", ("DCM", "113014", "Study"),
                   "HAS OBS CONTEXT")
    scope.ContentSequence = DicomSequence([_uidref(
        "110180", "Study Instance UID", ds.StudyInstanceUID, "HAS PROPERTIES")])
    context = [
        _coded("121058", "Procedure reported", ("DCM", "113704", "Projection X-Ray"),
               "HAS CONCEPT MOD"),
        _coded("121005", "Observer Type", ("DCM", "121007", "Device"), "HAS OBS CONTEXT"),
        _uidref("121012", "Device Observer UID", _uid(scenario, wall_start, "device",
                                                       device.name), "HAS OBS CONTEXT"),
        _text("121013", "Device Observer Name", device.observer_name, "HAS OBS CONTEXT"),
        _text("121014", "Device Observer Manufacturer", device.manufacturer,
              "HAS OBS CONTEXT"),
        _text("121015", "Device Observer Model Name", device.model, "HAS OBS CONTEXT"),
    ]
    if device.serial is not None:
        context.append(_text("121016", "Device Observer Serial Number", device.serial,
                             "HAS OBS CONTEXT"))
    events = [_event(e, clock, _uid(scenario, wall_start, "event", study.index, e.index),
                     study.spec.operator) for e in study.events]
    span = []
    if study.events:
        last = max(study.events, key=lambda e: e.start_s + e.duration_s)
        span = [_datetime("113809", "Start of X-Ray Irradiation",
                          clock.dt(study.events[0].start_s)),
                _datetime("113810", "End of X-Ray Irradiation",
                          clock.dt(last.start_s + last.duration_s))]
    ds.ContentSequence = DicomSequence([*context, scope, *span, _accumulated(study), *events])
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file, as a storage service receives it."""
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def study_files(scenario: Scenario, wall_start: float = EPOCH
                ) -> list[tuple[PlannedStudy, bytes]]:
    """Each study of the scenario's ``[rdsr]`` table with its file's bytes."""
    return [(study, to_bytes(dataset(scenario, study, wall_start)))
            for study in plan_studies(scenario)]


def write_rdsrs(scenario: Scenario, directory: Path, wall_start: float = EPOCH) -> list[Path]:
    """Write each study's RDSR into ``directory`` (made if missing); the paths written,
    ``<scenario file>-study<N>-<device>.dcm``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for study, raw in study_files(scenario, wall_start):
        path = directory / f"{scenario.source.stem}-study{study.index}-{study.device.name}.dcm"
        path.write_bytes(raw)
        paths.append(path)
    return paths
