"""Reading an X-Ray Radiation Dose SR (or the Enhanced one) into :class:`Rdsr`.

A pure function of the file: no store, no configuration. What is not an RDSR (not
DICOM, another SOP class, no content tree, another root concept) raises
:class:`RdsrError` with a one-line reason; an RDSR is read as far as it goes, what
it lacks listed in ``missing`` and what was set aside in ``notes``. Nothing the
bytes hold escapes as another exception: the file comes from outside.
"""

from __future__ import annotations

import warnings
from datetime import datetime, tzinfo
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from hub.errors import RdsrError
from hub.rdsr import codes as c
from hub.rdsr.events import Index, item_of, read_event, uid_of
from hub.rdsr.model import (
    EVENT_FIGURES,
    PLANE_FIGURES,
    Device,
    IrradiationEvent,
    PlaneTotals,
    Rdsr,
    Totals,
)
from hub.rdsr.tree import Budget, children, index
from hub.rdsr.values import attr, coded, concept, date_time, joined, number, offset, text

#: An RDSR is tens of kilobytes; a long biplane procedure a few megabytes.
MAX_BYTES = 64 * 1024 * 1024
#: More events than any procedure holds; past it the rest is set aside (and said).
MAX_EVENTS = 20_000
_PLANE_ORDER = {"single": 0, "a": 1, "b": 2}


def read(path: str | Path) -> Rdsr:
    """Read the RDSR at ``path``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RdsrError(f"{size} bytes, more than an RDSR ever holds ({MAX_BYTES})")
        with path.open("rb") as stream:
            return read_stream(stream)
    except OSError as exc:
        raise RdsrError(f"cannot read the file: {exc.strerror or exc}") from None


def read_bytes(data: bytes) -> Rdsr:
    """Read an RDSR held in memory (a file as received)."""
    if len(data) > MAX_BYTES:
        raise RdsrError(f"{len(data)} bytes, more than an RDSR ever holds ({MAX_BYTES})")
    return read_stream(BytesIO(data))


def read_stream(stream: BinaryIO) -> Rdsr:
    with warnings.catch_warnings():  # pydicom warns on each odd value: notes say it once
        warnings.simplefilter("ignore")
        try:
            dataset = pydicom.dcmread(stream, stop_before_pixels=True)
        except InvalidDicomError:
            raise RdsrError("not a DICOM file (no DICM prefix after the preamble)") from None
        except Exception as exc:  # a truncated or malformed file: any pydicom error
            raise RdsrError(f"not a readable DICOM file ({_one_line(exc)})") from None
        return from_dataset(dataset)


def from_dataset(dataset: Any) -> Rdsr:
    """Read a pydicom dataset already parsed (the storage service's, say)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _read(dataset)
        except RdsrError:
            raise
        except Exception as exc:  # a defect here must not become a traceback to the user
            raise RdsrError(f"unreadable content tree ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    words = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def _refuse_unless_rdsr(dataset: Any) -> str:
    sop = text(attr(dataset, "SOPClassUID"))
    if sop is None:
        raise RdsrError("no SOP Class UID: not a DICOM composite object")
    if sop not in c.SOP_CLASSES:
        name = UID(sop).name if UID(sop).is_valid else "not a valid UID"
        raise RdsrError(f"SOP class {sop} ({name}) is not an X-Ray Radiation Dose SR")
    if not attr(dataset, "ContentSequence"):
        raise RdsrError("no content tree (its ContentSequence is absent or empty)")
    root = concept(dataset)
    if root is not None and root != c.REPORT:
        raise RdsrError(f"its root concept {root[0]} {root[1]} is not "
                        "X-Ray Radiation Dose Report (DCM 113701)")
    return c.SOP_CLASSES[sop]


def _read(dataset: Any) -> Rdsr:
    sop_class = _refuse_unless_rdsr(dataset)
    notes: list[str] = []
    if concept(dataset) is None:
        notes.append("no root concept: read as an X-Ray Radiation Dose Report")
    budget = Budget()
    file_zone = offset(attr(dataset, "TimezoneOffsetFromUTC"))
    top = children(dataset, budget)
    context: Index = {}
    for item in top:
        code = concept(item)
        if code is not None:
            context.setdefault(code, []).append(item)

    def context_text(code: c.Code) -> str | None:
        return text(attr(item_of(context, code), "TextValue"))

    device = Device(
        manufacturer=context_text(c.DEVICE_OBSERVER_MANUFACTURER)
        or text(attr(dataset, "Manufacturer")),
        model=context_text(c.DEVICE_OBSERVER_MODEL)
        or text(attr(dataset, "ManufacturerModelName")),
        serial=context_text(c.DEVICE_OBSERVER_SERIAL)
        or text(attr(dataset, "DeviceSerialNumber")),
        observer_name=context_text(c.DEVICE_OBSERVER_NAME)
        or text(attr(dataset, "StationName")),
    )
    scope_item = item_of(context, c.SCOPE_OF_ACCUMULATION)
    scope = c.SCOPES.get(coded(scope_item) or ("", "")) if scope_item is not None else None
    study_uid = text(attr(dataset, "StudyInstanceUID")) or text(
        attr(item_of(index([scope_item], budget), c.STUDY_INSTANCE_UID), "UID"))
    start, start_assumed = date_time(joined(attr(dataset, "StudyDate"),
                                            attr(dataset, "StudyTime")), file_zone)
    if start is None:
        start, start_assumed = date_time(
            attr(item_of(context, c.START_OF_IRRADIATION), "DateTime"), file_zone)
    per_plane = _accumulated(top, budget, notes)
    events, events_assumed = _events(top, budget, file_zone, notes)
    psd = _peak_skin_dose(top, context, budget, notes)
    totals = Totals(**{name: _sum(getattr(p, name) for p in per_plane.values())
                       for name in PLANE_FIGURES},
                    peak_skin_dose_gy=psd, per_plane=per_plane)
    planes = set(per_plane) or {e.plane for e in events if e.plane}
    if budget.exhausted:
        notes.append(f"the content tree holds more than {budget.limit} items: read up to there")
    uid = text(attr(dataset, "SOPInstanceUID"))
    missing, missing_in_events = _missing(uid, study_uid, scope, device, start, totals, events)
    return Rdsr(
        sop_instance_uid=uid, sop_class=sop_class, study_instance_uid=study_uid, scope=scope,
        device=device, start=start, timezone_assumed=start_assumed or events_assumed,
        planes=tuple(sorted(planes, key=lambda p: (_PLANE_ORDER.get(p, 9), p))),
        totals=totals, events=tuple(events), missing=missing,
        missing_in_events=missing_in_events, notes=tuple(notes))


def _accumulated(top: list[Any], budget: Budget, notes: list[str]) -> dict[str, PlaneTotals]:
    """Each plane's accumulated figures (TID 10002 with 10004 and 10005 inside it)."""
    containers = [item for item in top if concept(item) in c.ACCUMULATED]
    out: dict[str, PlaneTotals] = {}
    for n, container in enumerate(containers, 1):
        found = index([container], budget, skip={c.FILTERS})
        plane = c.PLANES.get(coded(item_of(found, c.ACQUISITION_PLANE)) or ("", ""))
        if plane is None:
            plane = "single" if len(containers) == 1 else f"unnamed_{n}"
        if plane in out:
            notes.append(f"accumulated dose {n}: plane {plane} given twice; the first kept")
            continue
        where = f"accumulated dose ({plane})"

        def num(code: c.Code, units: dict[str, float], found: Index = found,
                where: str = where) -> float | None:
            item = item_of(found, code)
            return None if item is None else number(item, units, notes, where)

        out[plane] = PlaneTotals(
            dap_gym2=num(c.DAP_TOTAL, c.DAP_UNITS),
            kar_gy=num(c.KAR_TOTAL, c.KERMA_UNITS),
            fluoro_dap_gym2=num(c.FLUORO_DAP_TOTAL, c.DAP_UNITS),
            fluoro_kar_gy=num(c.FLUORO_KAR_TOTAL, c.KERMA_UNITS),
            fluoro_time_s=num(c.FLUORO_TIME_TOTAL, c.SECONDS_UNITS),
            acquisition_dap_gym2=num(c.ACQUISITION_DAP_TOTAL, c.DAP_UNITS),
            acquisition_kar_gy=num(c.ACQUISITION_KAR_TOTAL, c.KERMA_UNITS),
            acquisition_time_s=num(c.ACQUISITION_TIME_TOTAL, c.SECONDS_UNITS),
        )
    return out


def _events(top: list[Any], budget: Budget, file_zone: tzinfo | None,
            notes: list[str]) -> tuple[list[IrradiationEvent], bool]:
    """Every event container at the root, the enhanced report's details joined by UID."""
    details: dict[str, Index] = {}
    for item in top:
        if concept(item) == c.EVENT_DETAILS:
            found = index([item], budget, skip={c.FILTERS})
            uid = uid_of(found)
            if uid is not None:
                details.setdefault(uid, found)
    containers = [item for item in top if concept(item) in c.EVENT]
    if len(containers) > MAX_EVENTS:
        notes.append(f"{len(containers)} events: the first {MAX_EVENTS} read")
    out, assumed = [], False
    for n, container in enumerate(containers[:MAX_EVENTS], 1):
        found = index([container], budget, skip={c.FILTERS})
        for code, found_items in details.get(uid_of(found) or "", {}).items():
            found.setdefault(code, found_items)
        event, event_assumed = read_event(found, budget, file_zone, notes, f"event {n}")
        out.append(event)
        assumed = assumed or event_assumed
    return out, assumed


def _peak_skin_dose(top: list[Any], context: Index, budget: Budget,
                    notes: list[str]) -> float | None:
    """A peak skin dose at the root or in a root container other than the events."""
    found = index([item for item in top if concept(item) not in c.EVENT], budget,
                  skip={c.FILTERS})
    for code in sorted(c.PEAK_SKIN_DOSE):
        for item in context.get(code, []) + found.get(code, []):
            value = number(item, c.KERMA_UNITS, notes, "peak skin dose")
            if value is not None:
                return value
    return None


def _sum(values: Any) -> float | None:
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def _missing(uid: str | None, study_uid: str | None, scope: str | None, device: Device,
             start: datetime | None, totals: Totals,
             events: list[IrradiationEvent]) -> tuple[tuple[str, ...], dict[str, int]]:
    """What a complete report would give and this one does not."""
    given: dict[str, object] = {
        "sop_instance_uid": uid, "study_instance_uid": study_uid, "scope": scope,
        **{f"device.{k}": getattr(device, k) for k in vars(device)}, "start": start,
        **{k: getattr(totals, k) for k in (*PLANE_FIGURES, "peak_skin_dose_gy")},
    }
    missing = [name for name, value in given.items() if value is None]
    if not events:
        missing.append("events")
    counts = {name: sum(getattr(e, name) is None for e in events) for name in EVENT_FIGURES}
    counts = {name: n for name, n in counts.items() if n}
    missing += [f"events.{name}" for name in counts]
    return tuple(missing), counts
