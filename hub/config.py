"""The hub's TOML configuration, validated at start.

Every key is checked; an unknown key or a value out of range is refused with
a message ``file: dotted.key: what was expected``. Defaults are the safe
ones: a local broker, a persistent MQTT session, acknowledgements after every
commit. The MQTT password is never in the file: ``password_file`` names a file
that holds it, read only when connecting, and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from hub.rdsr.config import Dicom
from wire.errors import ConfigError
from wire.settings import Strict, load_toml, one_network, validate

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0.0, le=86400.0)]


class Tls(Strict):
    """Broker TLS: the CA to trust, and a client certificate if the broker asks for one."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _cert_with_key(self) -> Tls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class Mqtt(Strict):
    """How the hub reaches the broker; a fixed ``client_id`` keeps its persistent session."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: Port = 1883
    username: str | None = Field(default=None, min_length=1)
    password_file: str | None = None
    client_id: str = Field(default="voyant-hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    tls: Tls | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    reconnect_min_s: PositiveSeconds = 1.0
    reconnect_max_s: PositiveSeconds = 30.0

    @model_validator(mode="after")
    def _consistent(self) -> Mqtt:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    def read_password(self) -> str | None:
        """The password from ``password_file`` (first line), or None; never logged."""
        if self.password_file is None:
            return None
        try:
            text = Path(self.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"mqtt.password_file: cannot read {self.password_file}: {exc.strerror}"
            ) from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise ConfigError(f"mqtt.password_file: {self.password_file} is empty")
        return lines[0]


class Broker(Strict):
    """``external``: Mosquitto run by the system; ``embedded``: amqtt in-process (demo).

    ``embedded``: ``voyant-hub run`` starts the broker on ``bind_address:port`` before
    the ingest connects, with the accounts of ``devices`` (the TOML of
    ``voyant-hub broker-config``; passwords in ``secrets``, generated when missing),
    and connects to it as that file's hub account: ``[mqtt]`` then gives no host,
    port, username, password file or TLS.
    """

    mode: Literal["external", "embedded"] = "external"
    port: Port = 1883
    bind_address: str = Field(default="127.0.0.1", min_length=1)
    devices: str | None = Field(default=None, min_length=1)
    secrets: str | None = Field(default=None, min_length=1)

    def secrets_dir(self) -> Path:
        """``secrets``, else a ``secrets`` folder beside the devices file."""
        if self.secrets is not None:
            return Path(self.secrets)
        return Path(self.devices or ".").parent / "secrets"

    def connect_host(self) -> str:
        """Where the hub reaches the embedded broker: loopback when it listens everywhere."""
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::", "") else self.bind_address


class Store(Strict):
    path: str = Field(default="/var/lib/voyant/hub.db", min_length=1)


class Ingest(Strict):
    """Batching, gap and presence timing of the ingest."""

    batch_max: Annotated[int, Field(ge=1, le=10_000)] = 500
    batch_wait_ms: Annotated[float, Field(ge=0.0, le=5_000.0)] = 20.0
    #: Payload bytes a batch of readings takes at most (about 3,000 records): an alarm
    #: arriving while a batch is stored waits for that batch alone (issue 18).
    batch_max_bytes: Annotated[int, Field(ge=1_000, le=100_000_000)] = 1_000_000
    gap_timeout_s: PositiveSeconds = 60.0
    offline_grace: Annotated[float, Field(ge=1.0, le=100.0)] = 3.0
    ack_every_ms: Annotated[float, Field(ge=0.0, le=60_000.0)] = 0.0
    #: An online device whose acknowledgement has not moved this long while it sends
    #: records above it raises ``ack_stalled``.
    ack_stall_s: PositiveSeconds = 300.0
    #: What one device may send (a stolen box can lie about its own room, not flood):
    #: messages per second and burst, new journals per Paris day, quarantined records
    #: kept per Paris day (past that a refused record is neither kept nor acknowledged).
    device_messages_per_s: Annotated[float, Field(gt=0.0, le=100_000.0)] = 50.0
    device_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 500
    new_journals_per_day: Annotated[int, Field(ge=1, le=1000)] = 4
    quarantine_per_device_day: Annotated[int, Field(ge=0, le=10_000_000)] = 20_000
    #: A record stamped outside [received - plausible_past_days, received +
    #: plausible_future_s] is stored flagged ``clock_implausible`` (an agent's records
    #: after a long outage are legitimately days old).
    #: Records the hub declares lost on an agent's word (``oldest``) at most, at once; a
    #: larger claim waits for an admin's ``voyant-hub journal accept-jump``.
    max_lost_declared: Annotated[int, Field(ge=0, le=2**53)] = 1_000_000
    plausible_past_days: Annotated[float, Field(gt=0.0, le=36_500.0)] = 366.0
    plausible_future_s: Annotated[float, Field(ge=0.0, le=86_400.0)] = 300.0
    #: Worker processes decoding batches of at least ``decode_min_messages`` messages on
    #: another core while the writer stores (``hub.ingest.decoder``); 0: the writer does.
    decode_workers: Annotated[int, Field(ge=0, le=8)] = 1
    decode_min_messages: Annotated[int, Field(ge=1, le=100_000)] = 16


#: ``[mqtt]`` keys that the embedded broker decides (where it listens, whom it knows).
EMBEDDED_DECIDES = ("host", "port", "username", "client_id", "password_file", "tls")


def _proxy_network(value: str) -> str:
    """One entry of ``[web] trusted_proxies``: an address or a network, never everyone."""
    return one_network(value, "trusts every address: name the proxy's own address")


class Web(Strict):
    """The web page and API: where they listen, how long a session lasts, who is a proxy.

    ``secure_cookie`` must be true behind an HTTPS reverse proxy (the normal
    set-up on a hospital LAN); it is false by default only so that the demo
    works on plain ``http://localhost``. ``trusted_proxies``: the reverse
    proxies whose ``X-Forwarded-For`` names the client (empty: the header is
    ignored, the peer is the client). ``establishment``: the establishment's name
    as the incident timeline (an ESR declaration's annex) heads it (empty: not
    shown).
    """

    host: str = Field(default="127.0.0.1", min_length=1)
    port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: any free port (tests), logged
    session_hours: Annotated[float, Field(gt=0.0, le=24 * 30)] = 12.0
    session_max_hours: Annotated[float, Field(gt=0.0, le=24 * 90)] = 24.0
    secure_cookie: bool = False
    login_free_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    login_backoff_max_s: Annotated[int, Field(ge=1, le=3600)] = 300
    trusted_proxies: tuple[Annotated[str, AfterValidator(_proxy_network)], ...] = Field(
        default=(), max_length=64)
    establishment: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "login_attempts_per_minute" in data:
            raise ValueError("login_attempts_per_minute: replaced by login_free_attempts and "
                             "login_backoff_max_s (an exponential back-off, see docs/hub.md)")
        return data

    @model_validator(mode="after")
    def _session_bounds(self) -> Web:
        if self.session_max_hours < self.session_hours:
            raise ValueError(f"session_max_hours ({self.session_max_hours}) must not be below "
                             f"session_hours ({self.session_hours})")
        return self


class Events(Strict):
    """The PCR's events: the timeline's window and the working-day calendar (hub.workdays).

    ``alsace_moselle``: count Good Friday and 26 December as public holidays
    (local law of Bas-Rhin, Haut-Rhin and Moselle) in the ESR declaration
    deadline. ``due_soon_days``: an undeclared ESR shows in red from this many
    days before its due date. ``followup_months``: the follow-up report (compte
    rendu) of a declared ESR is due this many calendar months after the
    declaration (guide ASN n° 11: about two). ``esr_criteria_file``: the site's
    own list of the guide's criteria (default: the list shipped with the hub),
    read and checked here, at start.
    """

    timeline_before_min: Annotated[int, Field(ge=0, le=1440)] = 30
    timeline_after_min: Annotated[int, Field(ge=0, le=1440)] = 30
    alsace_moselle: bool = False
    due_soon_days: Annotated[int, Field(ge=0, le=10)] = 1
    followup_months: Annotated[int, Field(ge=1, le=12)] = 2
    esr_criteria_file: str | None = Field(default=None, min_length=1)

    @field_validator("esr_criteria_file")
    @classmethod
    def _criteria_readable(cls, path: str | None) -> str | None:
        from hub.events import criteria  # the hub's data, not the wire's settings kernel

        criteria.in_force(path)
        return path


TriggerName = Literal["receipt", "first_use", "change_of_use", "modification", "maintenance"]


class ControlTypeConfig(Strict):
    """A site's own verification type (``[[controls.types]]``): a period in months,
    occasions (``receipt``, ``first_use``, ``change_of_use``, ``modification``,
    ``maintenance``), or both."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    name: str = Field(min_length=1, max_length=120)
    period_months: Annotated[int, Field(ge=1, le=120)] | None = None
    period_months_mobile: Annotated[int, Field(ge=1, le=120)] | None = None
    triggers: list[TriggerName] = []  # noqa: RUF012

    @model_validator(mode="after")
    def _something_due(self) -> ControlTypeConfig:
        if self.period_months is None and not self.triggers:
            raise ValueError(f"{self.key}: give period_months, triggers, or both")
        if self.period_months_mobile is not None and self.period_months is None:
            raise ValueError(f"{self.key}: period_months_mobile needs period_months")
        if len(set(self.triggers)) != len(self.triggers):
            raise ValueError(f"{self.key}: a trigger is listed twice")
        return self


class Controls(Strict):
    """The verification calendar (``hub.controls``): reminders, grace periods, the site's
    types.

    ``remind_days``: a due date is highlighted (and the ICS feed's alarms ring) this many
    days before. ``first_record_grace_days``: a verification never recorded is due this
    long after the hub started tracking the room. ``recheck_after_not_ok_days``: a not-OK
    result makes a new verification due this long after (0: only the period).
    ``check_every_min``: how often the hub looks for verifications overdue. ``disabled``:
    built-in or optional types that do not apply to this installation (the legal guide's
    former keys are accepted and change nothing: those types are no longer in force).
    The intervals of the built-in types and the optional (quality control) types enabled
    are set on the calendar page (``control_type_settings``).
    """

    remind_days: list[Annotated[int, Field(ge=1, le=366)]] = Field(
        default=[30, 7], min_length=1, max_length=5)
    first_record_grace_days: Annotated[int, Field(ge=0, le=366)] = 30
    recheck_after_not_ok_days: Annotated[int, Field(ge=0, le=366)] = 30
    check_every_min: Annotated[int, Field(ge=1, le=1440)] = 15
    disabled: list[str] = []  # noqa: RUF012
    types: list[ControlTypeConfig] = []  # noqa: RUF012

    @model_validator(mode="after")
    def _consistent(self) -> Controls:
        from hub.controls.types import RESERVED_KEYS  # no cycle: types imports nothing of hub

        if len(set(self.remind_days)) != len(self.remind_days):
            raise ValueError("remind_days: a day is listed twice")
        for key in self.disabled:
            if key not in RESERVED_KEYS:
                raise ValueError(f"disabled: {key!r} is not a built-in verification type "
                                 f"(one of {', '.join(sorted(RESERVED_KEYS))})")
        seen: set[str] = set()
        for item in self.types:
            if item.key in RESERVED_KEYS or item.key in seen:
                raise ValueError(f"types: {item.key!r} is already a verification type")
            seen.add(item.key)
        return self


MilliSievert = Annotated[float, Field(gt=0.0, le=100_000.0)]
#: The zones, lowest first (``hub.reports.points.ZONES`` names them on the pages).
ZONE_FIELDS = ("non_regulated_msv_month", "supervised_msv_month", "controlled_green_msv_month",
               "controlled_yellow_msv_h", "controlled_orange_msv_h")


class ZoningOverride(Strict):
    """Some zoning thresholds of one site (the others come from ``[zoning]``)."""

    non_regulated_msv_month: MilliSievert | None = None
    supervised_msv_month: MilliSievert | None = None
    controlled_green_msv_month: MilliSievert | None = None
    controlled_yellow_msv_h: MilliSievert | None = None
    controlled_orange_msv_h: MilliSievert | None = None


class Zoning(Strict):
    """Zoning thresholds (whole-body effective dose, mSv), the upper bound of each zone.

    Defaults: Code du travail R.4451-22/23 and the zoning order (revised 28 January
    2020), as docs/DOMAIN: non-regulated below 0.08 mSv/month, supervised (blue) below
    1.25 mSv/month, controlled green below 4 mSv/month, yellow below 2 mSv in one hour,
    orange below 100 mSv in one hour, red above. ``sites``: per-site overrides; a
    measurement point may override them again (``hub.reports.points``).
    """

    non_regulated_msv_month: MilliSievert = 0.08
    supervised_msv_month: MilliSievert = 1.25
    controlled_green_msv_month: MilliSievert = 4.0
    controlled_yellow_msv_h: MilliSievert = 2.0
    controlled_orange_msv_h: MilliSievert = 100.0
    sites: dict[Annotated[str, Field(min_length=1, max_length=64)], ZoningOverride] = {}  # noqa: RUF012

    @model_validator(mode="after")
    def _ordered(self) -> Zoning:
        check_zoning_order(self.model_dump(exclude={"sites"}))
        for site, override in self.sites.items():
            merged = {**self.model_dump(exclude={"sites"}),
                      **override.model_dump(exclude_none=True)}
            check_zoning_order(merged, f"sites.{site}: ")
        return self

    def for_site(self, site: str) -> dict[str, float]:
        """The thresholds of ``site``: its overrides over the defaults."""
        base = self.model_dump(exclude={"sites"})
        override = self.sites.get(site)
        if override is not None:
            base.update(override.model_dump(exclude_none=True))
        return {k: float(base[k]) for k in ZONE_FIELDS}


def check_zoning_order(values: dict[str, Any], where: str = "") -> None:
    """Monthly bounds increasing, hourly bounds increasing (a ValueError saying which)."""
    monthly = ZONE_FIELDS[:3]
    for low, high in ((monthly[0], monthly[1]), (monthly[1], monthly[2]),
                      (ZONE_FIELDS[3], ZONE_FIELDS[4])):
        if not float(values[low]) < float(values[high]):
            raise ValueError(f"{where}{low} ({values[low]}) must be below {high} "
                             f"({values[high]})")


class Reports(Strict):
    """The quarterly ambient reports (``hub.reports``).

    ``high_coverage``: from this fraction of the quarter covered by readings, the report
    says the point was verified continuously (order of 23 October 2020, art. 12).
    ``prepare_every_min``: how often the hub looks for a quarter just ended to prepare
    its draft reports. ``xray_scatter_calibrations``: see below (default none: every zone
    is indicative until the site names the calibrations made in X-ray scatter).
    """

    high_coverage: Annotated[float, Field(gt=0.0, le=1.0)] = 0.99
    prepare_every_min: Annotated[int, Field(ge=1, le=1440)] = 60
    #: The probe calibrations (their names, as the boxes send them) made for X-ray scatter;
    #: a zone computed with any other (the tube's default Cs-137 one) is indicative only.
    xray_scatter_calibrations: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=64)] = []  # noqa: RUF012


class HubConfig(Strict):
    mqtt: Mqtt = Mqtt()
    broker: Broker = Broker()
    store: Store = Store()
    ingest: Ingest = Ingest()
    web: Web = Web()
    events: Events = Events()
    controls: Controls = Controls()
    zoning: Zoning = Zoning()
    reports: Reports = Reports()
    dicom: Dicom = Dicom()

    @model_validator(mode="after")
    def _embedded_broker_settings(self) -> HubConfig:
        if self.broker.mode == "embedded":
            if self.broker.devices is None:
                raise ValueError("broker.devices: the embedded broker needs the devices file "
                                 "(the TOML of voyant-hub broker-config)")
            given = [k for k in EMBEDDED_DECIDES if k in self.mqtt.model_fields_set]
            if given:
                raise ValueError(
                    f"mqtt.{given[0]}: not used with broker.mode = 'embedded' (the hub connects "
                    "to its own broker, on broker.port, as the devices file's hub account)")
        return self


def parse_config(data: dict[str, Any], source: str = "<config>") -> HubConfig:
    """Validate a decoded TOML document; raise :class:`ConfigError` naming each bad key."""
    return validate(HubConfig, data, source)


def load_config(path: str | Path) -> HubConfig:
    """Read and validate the hub's TOML configuration file."""
    return load_toml(HubConfig, path)
