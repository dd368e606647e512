"""The DICOM storage service (#17 item 2): only the listed peers associate, only the two
RDSR SOP classes are accepted, each C-STORE is stored with the association's identity.
DCMTK's own ``storescu`` sends the three shared files to a running ``voyant-hub run``:
tests/test_hub_embedded_run.py."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    XRayRadiationDoseSRStorage,
)

from hub.db.connection import connect
from hub.logs import LOGGER
from hub.rdsr.config import Dicom, DicomPeer
from hub.rdsr.reader import read
from hub.rdsr.scp import StorageService, serving
from tests.polling import wait_until

SHARED = Path(__file__).resolve().parent / "data" / "rdsr"
FILES = [SHARED / n for n in ("RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-Philips_Allura.dcm",
                              "RF-RDSR-GE-OECEliteMiniView.dcm")]


def settings(port: int = 0) -> Dicom:
    return Dicom(enabled=True, port=port, peers=[
        DicomPeer(calling_ae_title="ARTIS", address="127.0.0.1", device="Salle 3"),
        DicomPeer(calling_ae_title="OEC", address="10.20.0.0/24", device="Bloc 2")])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StorageService]:
    scp = StorageService(settings(), str(tmp_path / "hub.db"))
    scp.start()
    yield scp
    scp.stop()


def rows(service: StorageService, sql: str) -> list[sqlite3.Row]:
    conn = connect(service.store_path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def associate(service: StorageService, calling: str, *contexts: str) -> object:
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    for context in contexts or (XRayRadiationDoseSRStorage,):
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", service.port, ae_title="VOYANT")


def test_an_allowed_peer_stores_a_report_with_its_identity(service: StorageService) -> None:
    assoc = associate(service, "ARTIS")
    assert assoc.is_established  # type: ignore[attr-defined]
    status = assoc.send_c_store(pydicom.dcmread(FILES[0]))  # type: ignore[attr-defined]
    again = assoc.send_c_store(pydicom.dcmread(FILES[0]))  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    assert (status.Status, again.Status) == (0x0000, 0x0000)
    files = rows(service, "SELECT peer, peer_device, sop_instance_uid FROM rdsr_files")
    assert [tuple(r) for r in files] == [("ARTIS@127.0.0.1", "Salle 3",
                                          read(FILES[0]).sop_instance_uid)]
    assert rows(service, "SELECT count(*) FROM rdsr_irradiation_events")[0][0] == 8


class _Kept(logging.Handler):
    """The hub logger's records, kept: caplog sees nothing once a test of the same worker
    has set the hub's logging up (it stops propagation, as production wants), and a
    ``voyant-sim`` run in the same worker sets the parent ``voyant`` logger to ERROR,
    which ``voyant.hub`` inherits unless its own level is set."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_calling_ae_not_listed_or_from_another_address_is_rejected(
        service: StorageService) -> None:
    kept = _Kept()
    level = LOGGER.level
    LOGGER.addHandler(kept)
    LOGGER.setLevel(logging.WARNING)
    try:
        for calling in ("INTRUDER", "OEC"):  # OEC is allowed from 10.20.0.0/24 only
            assoc = associate(service, calling)
            assert assoc.is_rejected and not assoc.is_established  # type: ignore[attr-defined]

        def logged() -> list[dict[str, str]]:
            return [getattr(r, "fields", {}) for r in list(kept.records)
                    if r.getMessage() == "dicom_association_rejected"]

        # The service logs in its own thread, maybe after the peer has read the rejection.
        wait_until(lambda: len(logged()) >= 2, "the two rejections logged")
    finally:
        LOGGER.removeHandler(kept)
        LOGGER.setLevel(level)
    assert [(f["calling_ae_title"], f["address"]) for f in logged()] == [
        ("INTRUDER", "127.0.0.1"), ("OEC", "127.0.0.1")]
    assert rows(service, "SELECT count(*) FROM rdsr_files")[0][0] == 0


def test_another_sop_class_is_refused_at_negotiation(service: StorageService) -> None:
    assoc = associate(service, "ARTIS", CTImageStorage)
    accepted = getattr(assoc, "accepted_contexts", [])
    assert not [c for c in accepted if c.abstract_syntax == CTImageStorage]
    if assoc.is_established:  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="No presentation context"):
            assoc.send_c_store(pydicom.dcmread(FILES[0]))  # type: ignore[attr-defined]
        assoc.release()  # type: ignore[attr-defined]


def test_a_dataset_that_is_no_rdsr_fails_and_is_kept(service: StorageService) -> None:
    ds = Dataset()
    ds.SOPClassUID = XRayRadiationDoseSRStorage
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "SR"  # no content tree
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assoc = associate(service, "ARTIS")
    status = assoc.send_c_store(ds)  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    assert status.Status == 0xA900
    assert "no content tree" in str(status.ErrorComment)
    kept = rows(service, "SELECT kind, peer FROM rdsr_refused")
    assert [tuple(r) for r in kept] == [("not_rdsr", "ARTIS@127.0.0.1")]


def test_serving_starts_only_when_enabled(tmp_path: Path) -> None:
    async def run(enabled: bool) -> bool:
        config = settings().model_copy(update={"enabled": enabled})
        async with serving(config, str(tmp_path / "hub.db")) as scp:
            return scp is not None and scp.port > 0

    assert asyncio.run(run(False)) is False
    assert asyncio.run(run(True)) is True
