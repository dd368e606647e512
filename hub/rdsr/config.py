"""``[dicom]``: the hub's DICOM storage service for radiation dose reports (off by default).

Only the listed peers may associate: a calling AE title *and* the address it comes from
(an AE title is a name any device can claim; the address is what the network vouches
for). ``device`` is the site's label of the imaging system behind that peer, kept with
each file it sends. ``port`` 0 takes any free port (tests; the port is logged).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from wire.errors import HubError
from wire.settings import Strict, one_network


def _ae_title(value: str) -> str:
    """An AE title (PS3.5 AE): up to 16 characters of printable ASCII, no backslash;
    leading and trailing spaces are not significant."""
    title = value.strip()
    if not 1 <= len(title) <= 16:
        raise ValueError(f"{value!r}: an AE title has 1 to 16 characters")
    if any(not " " <= ch <= "~" or ch == "\\" for ch in title):
        raise ValueError(f"{value!r}: an AE title is printable ASCII without a backslash")
    return title


def _network(value: str) -> str:
    """A DICOM peer's address or network, never every address."""
    return one_network(value, "allows every address: name the peer's own address")


class DicomBindError(HubError, RuntimeError):
    """The DICOM port is taken or the address is not this machine's (here, not in the
    service's module: the hub's CLI catches it without loading pynetdicom)."""


AeTitle = Annotated[str, AfterValidator(_ae_title)]
#: A dose-area product limit in Gy·cm² (the HAS's unit; stored figures are in Gy·m²).
DapLimit = Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
#: An air kerma or a skin dose limit in Gy.
GrayLimit = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class SiteThresholds(Strict):
    """One site's own patient thresholds (``[dicom.patient_thresholds.sites."SITE"]``):
    what it leaves out is the default's."""

    dap_gycm2: DapLimit | None = None
    kar_gy: GrayLimit | None = None
    peak_skin_dose_gy: GrayLimit | None = None


class PatientThresholds(Strict):
    """``[dicom.patient_thresholds]``: the HAS thresholds that call for a patient's
    follow-up, passed when a study's figure is strictly above (:mod:`hub.rdsr.thresholds`);
    ``sites``: a site's own, by the site's name as its boxes give it."""

    dap_gycm2: DapLimit = 500.0
    kar_gy: GrayLimit = 5.0
    peak_skin_dose_gy: GrayLimit = 3.0
    sites: dict[str, SiteThresholds] = Field(default={}, max_length=256)

    @model_validator(mode="after")
    def _site_names(self) -> PatientThresholds:
        for name in self.sites:
            if not 1 <= len(name) <= 120 or any(ch < " " or ch == "\x7f" for ch in name):
                raise ValueError(f"sites: {name[:40]!r} is no site name (1 to 120 characters,"
                                 " no control character)")
        return self

    def limits(self, site: str | None) -> tuple[float, float, float]:
        """(DAP in Gy·cm², Ka,r in Gy, peak skin dose in Gy) for ``site`` (None: unmapped)."""
        own = self.sites.get(site) if site else None
        return (own.dap_gycm2 if own and own.dap_gycm2 is not None else self.dap_gycm2,
                own.kar_gy if own and own.kar_gy is not None else self.kar_gy,
                own.peak_skin_dose_gy if own and own.peak_skin_dose_gy is not None
                else self.peak_skin_dose_gy)


def _retention(value: int) -> int:
    """Days a received file and its patient's identity are kept; 0 (for ever) is refused."""
    if value == 0:
        raise ValueError("0 would keep patients' identities for ever: give a number of days"
                         " (storage limitation, GDPR art. 5(1)(e))")
    return value


class DicomPeer(Strict):
    """One imaging system allowed to send (``[[dicom.peers]]``)."""

    calling_ae_title: AeTitle
    address: Annotated[str, AfterValidator(_network)]
    device: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")

    def admits(self, calling_ae_title: str, address: str) -> bool:
        """Whether an association from ``address`` calling itself so is this peer."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's IPv4 peer
        return (calling_ae_title.strip() == self.calling_ae_title
                and ip in ipaddress.ip_network(self.address))


class Dicom(Strict):
    enabled: bool = False
    ae_title: AeTitle = "VOYANT"
    host: str = Field(default="127.0.0.1", min_length=1)
    port: Annotated[int, Field(ge=0, le=65535)] = 11112
    peers: list[DicomPeer] = Field(default=[], max_length=256)
    #: An imaging device's clock offset beyond this is a drift shown on /admin/imaging.
    clock_tolerance_s: Annotated[float, Field(gt=0, le=86400)] = 120.0
    patient_thresholds: PatientThresholds = PatientThresholds()
    #: Days after which a received file (``raw``) and its patient's identity are removed,
    #: the dose figures kept (:mod:`hub.rdsr.retention`): a year by default, docs/hub.md.
    retention_days: Annotated[int, Field(ge=0, le=36_500), AfterValidator(_retention)] = 365
    #: Hours an emission waits for its RDSR before the reconciliation judges it (younger:
    #: "pending", never an event): imaging systems send at the study's end, some later.
    reconcile_wait_h: Annotated[float, Field(ge=0, le=24 * 31, allow_inf_nan=False)] = 6.0
    #: Seconds an emission and an irradiation event may miss each other by and still
    #: match (RDSR times to the second, the offset's own noise).
    reconcile_tolerance_s: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] = 3.0
    #: Seconds from its start a grouped fluoroscopy event (Philips: one event, its on-time,
    #: over several presses) may cover its later presses (:mod:`hub.rdsr.reconcile`).
    reconcile_group_max_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 600.0
    #: Minutes between two rounds of the ``reconcile`` job.
    reconcile_every_min: Annotated[int, Field(ge=1, le=1440)] = 15

    @model_validator(mode="after")
    def _distinct(self) -> Dicom:
        seen: set[tuple[str, str]] = set()
        for peer in self.peers:
            key = (peer.calling_ae_title, peer.address)
            if key in seen:
                raise ValueError(f"peers: {peer.calling_ae_title} from {peer.address} "
                                 "is listed twice")
            seen.add(key)
        return self

    def peer(self, calling_ae_title: str, address: str) -> DicomPeer | None:
        """The listed peer an association comes from, or None (then it is refused)."""
        return next((p for p in self.peers if p.admits(calling_ae_title, address)), None)
