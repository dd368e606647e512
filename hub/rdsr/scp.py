"""The hub's DICOM storage service (SCP) for radiation dose reports (pynetdicom).

Who may send is decided at association, from the association alone: the calling AE
title and the peer's address must be a ``[[dicom.peers]]`` entry and the called AE title
the hub's, else an A-ASSOCIATE-RJ (logged). Only X-Ray Radiation Dose SR Storage and
Enhanced X-Ray Radiation Dose SR Storage are accepted at negotiation, in the uncompressed
transfer syntaxes (no deflate: a small dataset must not inflate into gigabytes); any
other SOP class is refused there. Each C-STORE is kept as received through
:func:`hub.rdsr.store.store_bytes`, on a connection of its own in the association's
thread. The answer says what happened: success (stored, or already stored), 0xA900
(the dataset is not the RDSR its SOP class announced; kept in ``rdsr_refused``), 0x0111
(another file under a stored SOP Instance UID; kept there too), 0xA700 (the store could
not take it now: the device sends again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any, Final

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    EnhancedXRayRadiationDoseSRStorage,
    XRayRadiationDoseSRStorage,
)
from pynetdicom.transport import ThreadedAssociationServer

from hub.db.connection import connect
from hub.db.store import Store
from hub.logs import log
from hub.rdsr.config import Dicom, DicomBindError
from hub.rdsr.store import one_line, store_bytes

SOP_CLASSES: Final = (XRayRadiationDoseSRStorage, EnhancedXRayRadiationDoseSRStorage)
TRANSFER_SYNTAXES: Final = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]

SUCCESS: Final = 0x0000
#: PS3.7 C.4.2 (general status): a SOP Instance already held, with other content.
DUPLICATE_SOP_INSTANCE: Final = 0x0111
NOT_AUTHORISED: Final = 0x0124
#: PS3.4 B.2.3, Storage Service Class: Refused: Out of Resources (transient).
OUT_OF_RESOURCES: Final = 0xA700
#: PS3.4 B.2.3: Error: Data Set does not match SOP Class.
NOT_MATCHING_SOP_CLASS: Final = 0xA900
#: A-ASSOCIATE-RJ: rejected permanent, by the service user; calling AE title not
#: recognised (the diagnostic the standard has for a peer not allowed).
_REJECT_CALLING: Final = (0x01, 0x01, 0x03)


def _status(code: int, comment: str = "") -> Dataset:
    """A C-STORE answer; the Error Comment (LO: 64 characters) says why to the sender."""
    answer = Dataset()
    answer.Status = code
    if comment:
        answer.ErrorComment = one_line(comment, 64)
    return answer


class StorageService:
    """The storage SCP: :meth:`start` listens (in pynetdicom's threads), :meth:`stop`
    ends every association and the listener."""

    def __init__(self, settings: Dicom, store_path: str) -> None:
        self.settings = settings
        self.store_path = store_path
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bring the store to this hub's schema, then listen on ``host:port``."""
        Store.open(self.store_path).close()
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # a line per PDU at INFO
        ae = AE(ae_title=self.settings.ae_title)
        ae.require_called_aet = True
        for sop_class in SOP_CLASSES:
            ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
        handlers: list[Any] = [(evt.EVT_REQUESTED, self._requested),
                               (evt.EVT_C_STORE, self._stored)]
        try:
            self._server = ae.start_server((self.settings.host, self.settings.port),
                                           block=False, evt_handlers=handlers)
        except OSError as exc:
            raise DicomBindError(f"dicom: cannot listen on {self.settings.host}:"
                                 f"{self.settings.port}: {exc.strerror or exc}") from None
        log("dicom_listening", ae_title=self.settings.ae_title, host=self.settings.host,
            port=self.port, peers=len(self.settings.peers))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            log("dicom_stopped")

    def _requested(self, event: Any) -> None:
        """At A-ASSOCIATE-RQ: refuse a peer not listed, before any negotiation."""
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if self.settings.peer(calling, address) is None:
            log("dicom_association_rejected", logging.WARNING, calling_ae_title=calling,
                address=address, reason="calling AE title and address not in dicom.peers")
            assoc.acse.send_reject(*_REJECT_CALLING)
            assoc.kill()  # as pynetdicom's own rejection: the A-ASSOCIATE-RJ sent first

    def _stored(self, event: Any) -> Dataset:
        """One C-STORE: kept as received, with the association's identity."""
        calling = str(event.assoc.requestor.ae_title).strip()
        address = str(event.assoc.requestor.address)
        peer = self.settings.peer(calling, address)
        if peer is None:  # refused at association; never reached, unless the list changed
            return _status(NOT_AUTHORISED, "peer not allowed")
        raw = event.encoded_dataset(include_meta=True)
        try:
            conn = connect(self.store_path)
            try:
                outcome = store_bytes(conn, raw, f"{calling}@{address}",
                                      peer_device=peer.device,
                                      limits=self.settings.patient_thresholds)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log("dicom_store_failed", logging.ERROR, calling_ae_title=calling,
                address=address, error=one_line(str(exc)))
            return _status(OUT_OF_RESOURCES, "the hub's store is not available; send again")
        except (OverflowError, ValueError) as exc:  # the reader's bounds let a value through
            log("dicom_store_refused", logging.ERROR, calling_ae_title=calling,
                address=address, error=one_line(str(exc)))
            return _status(NOT_MATCHING_SOP_CLASS, "a value the hub cannot store")
        if outcome.status != "refused":
            return _status(SUCCESS)
        if outcome.kind == "conflict":
            return _status(DUPLICATE_SOP_INSTANCE, "another file with this SOP Instance UID")
        return _status(NOT_MATCHING_SOP_CLASS, outcome.reason)


@contextlib.asynccontextmanager
async def serving(settings: Dicom, store_path: str) -> AsyncIterator[StorageService | None]:
    """The storage service for the hub's run when ``[dicom] enabled``, else nothing."""
    if not settings.enabled:
        yield None
        return
    service = StorageService(settings, store_path)
    await asyncio.to_thread(service.start)
    try:
        yield service
    finally:
        await asyncio.to_thread(service.stop)
