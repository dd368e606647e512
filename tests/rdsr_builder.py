"""Building RDSRs with pydicom for the tests: the odd files (biplane, units, time zones,
operators, broken values) that no shared file holds, written rather than committed.

Items are made by concept code (as the reader reads them); the meanings written are
deliberately not the standard's, so that a reader matching meanings would fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_RDSR = "1.2.840.10008.5.1.4.1.1.88.76"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def code(value: str, scheme: str = "DCM", meaning: str = "vendor wording") -> Dataset:
    entry = Dataset()
    entry.CodeValue, entry.CodingSchemeDesignator, entry.CodeMeaning = value, scheme, meaning
    return entry


def _item(value_type: str, concept: str, relation: str, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.RelationshipType = relation
    item.ValueType = value_type
    item.ConceptNameCodeSequence = DicomSequence([code(concept, scheme)])
    return item


def num(concept: str, value: str, unit: str) -> Dataset:
    item = _item("NUM", concept, "CONTAINS")
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = DicomSequence([code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = DicomSequence([measured])
    return item


def coded(concept: str, value: str, scheme: str = "DCM",
          relation: str = "CONTAINS") -> Dataset:
    item = _item("CODE", concept, relation)
    item.ConceptCodeSequence = DicomSequence([code(value, scheme)])
    return item


def text(concept: str, value: str, relation: str = "CONTAINS") -> Dataset:
    item = _item("TEXT", concept, relation)
    item.TextValue = value
    return item


def uidref(concept: str, value: str) -> Dataset:
    item = _item("UIDREF", concept, "CONTAINS")
    item.UID = value
    return item


def datetime_item(concept: str, value: str) -> Dataset:
    item = _item("DATETIME", concept, "CONTAINS")
    item.DateTime = value
    return item


def container(concept: str, children: Sequence[Dataset]) -> Dataset:
    item = _item("CONTAINER", concept, "CONTAINS")
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = DicomSequence(list(children))
    return item


def plane(value: str = "113622") -> Dataset:
    """Acquisition Plane: 113622 single, 113620 A, 113621 B."""
    return coded("113764", value, relation="HAS CONCEPT MOD")


def operator(name: str, role: str = "113851", person_id: str | None = None) -> Dataset:
    """A Person Participant (TID 1020) with its role (113851: administering)."""
    item = _item("PNAME", "113870", "CONTAINS")
    item.PersonName = name
    props = [coded("113875", role, relation="HAS PROPERTIES")]
    if person_id is not None:
        props.append(text("113871", person_id, relation="HAS PROPERTIES"))
    item.ContentSequence = DicomSequence(props)
    return item


def accumulated(*figures: Dataset, plane_code: str = "113622") -> Dataset:
    return container("113702", [plane(plane_code), *figures])


def event(start: str = "20260115093000", *extra: Dataset, plane_code: str = "113622",
          dap: tuple[str, str] = ("1e-006", "Gy.m2"), kar: tuple[str, str] = ("0.00014", "Gy"),
          pulses: str | None = "24", rate: str | None = "7.5",
          uid: str | None = None) -> Dataset:
    """A fluoroscopy event; ``None`` leaves a figure out."""
    children = [plane(plane_code), datetime_item("111526", start),
                coded("113721", "P5-06000", "SRT"), text("125203", "FL - Test"),
                uidref("113769", uid or generate_uid()),
                num("122130", *dap), num("113738", *kar),
                num("113733", "77", "kV"), num("113734", "95.1", "mA"),
                num("113735", "100.8", "ms"), num("113793", "4.2", "ms")]
    if pulses is not None:
        children.append(num("113768", pulses, "1"))
    if rate is not None:
        children.append(num("113791", rate, "{pulse}/s"))
    return container("113706", [*children, *extra])


def report(*children: Dataset, sop_class: str = RDSR, study_date: str | None = "20260115",
           study_time: str | None = "093000", tz_offset: str | None = None,
           device: bool = True) -> Dataset:
    """A whole RDSR dataset (root TID 10001) holding ``children`` after the context."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "SR"
    if study_date is not None:
        ds.StudyDate = study_date
    if study_time is not None:
        ds.StudyTime = study_time
    if tz_offset is not None:
        ds.TimezoneOffsetFromUTC = tz_offset
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([code("113701")])
    ds.ContinuityOfContent = "SEPARATE"
    context = [coded("113705", "113014", relation="HAS OBS CONTEXT")]
    if device:
        context += [text("121013", "ROOM-1", "HAS OBS CONTEXT"),
                    text("121014", "Acme", "HAS OBS CONTEXT"),
                    text("121015", "Arc 9", "HAS OBS CONTEXT"),
                    text("121016", "SN-42", "HAS OBS CONTEXT")]
    ds.ContentSequence = DicomSequence([*context, *children])
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def replace_bytes(path: Path, marker: bytes, value: bytes) -> Path:
    """Overwrite a placeholder with bytes pydicom would not write (same length)."""
    assert len(marker) == len(value)
    data = path.read_bytes()
    assert data.count(marker) == 1, marker
    path.write_bytes(data.replace(marker, value))
    return path
