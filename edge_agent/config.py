"""The agent's TOML configuration, validated at start.

Every key is checked; an unknown key, a pin used twice, a door without a
name or a negative time is refused with a message that names the key and
what was expected. Every default is the safe one: the interlock relay is off,
the dose-rate alarm threshold is the low "outside" one unless the probe is
declared inside the room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from wire.contract import MAX_BATCH, WINDOW
from wire.errors import ConfigError
from wire.kinds import AlarmKind
from wire.settings import Strict, load_toml, validate

YEAR_S = 365.25 * 86400.0

Seconds = Annotated[float, Field(ge=0.0)]
PositiveSeconds = Annotated[float, Field(gt=0.0)]
BcmPin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number")]


class InputPin(Strict):
    """One digital input: where it is wired and how it reads.

    ``active = "low"`` suits an opto-coupler output or a dry contact to ground
    with the pull-up on; ``debounce_ms`` is applied by the agent on its own
    clock (mock pins do not debounce).
    """

    pin: BcmPin
    active: Literal["high", "low"] = "low"
    pull: Literal["up", "down", "none"] = "up"
    debounce_ms: Annotated[float, Field(ge=0.0, le=80.0)] = 20.0


class OutputPin(Strict):
    pin: BcmPin
    active_high: bool = True


#: Kinds that open the optional interlock relay unless the config says otherwise.
DEFAULT_CRITICAL_KINDS: tuple[AlarmKind, ...] = (
    "unsolicited_emission",
    "emission_after_release",
    "door_open_during_emission",
    "radiation_without_emission",
)


class InterlockRelay(Strict):
    """Fail-safe relay in series with the generator's interlock chain (off by default).

    Energised only while no critical alarm holds: a crash, a restart or a
    power loss opens it, which stops X-rays.
    """

    enabled: bool = False
    pin: BcmPin = 6
    active_high: bool = True
    critical_kinds: tuple[AlarmKind, ...] = DEFAULT_CRITICAL_KINDS


class Pins(Strict):
    """The ``[pins]`` table (BCM numbers); defaults are the hardware/ pin map."""

    #: The generator's emission output is electronic, not a contact: pulsed fluoroscopy
    #: pulses last 3–20 ms, so its debounce must stay well below that.
    emission: InputPin = InputPin(pin=17, debounce_ms=1.0)
    request: InputPin = InputPin(pin=27)
    generator_powered: InputPin = InputPin(pin=22)
    light_powered: InputPin = InputPin(pin=23)
    light_emission: InputPin = InputPin(pin=24)
    door: dict[str, InputPin] = Field(min_length=1)
    reset: InputPin | None = None
    #: A momentary button on the box, or the generator's study-reset output: its rising
    #: edge ends the procedure (the fluoroscopy-time count), instead of a gap of silence.
    patient: InputPin | None = None
    alarm: OutputPin | None = OutputPin(pin=5)
    interlock_relay: InterlockRelay = InterlockRelay()

    @model_validator(mode="before")
    @classmethod
    def _doors_have_names(cls, data: Any) -> Any:
        doors = data.get("door") if isinstance(data, dict) else None
        if isinstance(doors, dict):
            if "pin" in doors:
                raise ValueError(
                    "pins.door: each door needs a name: write [pins.door.<name>] with pin = ..."
                )
            for name in doors:
                if not str(name).strip():
                    raise ValueError("pins.door: a door has an empty name; expected a name")
        return data

    @model_validator(mode="after")
    def _pins_used_once(self) -> Pins:
        seen: dict[int, str] = {}
        for key, pin in self.assignments():
            if pin in seen:
                raise ValueError(f"pins.{key}: GPIO{pin} is already used by pins.{seen[pin]}")
            seen[pin] = key
        return self

    def inputs(self) -> dict[str, InputPin]:
        """Every input by signal name (``door.<name>`` for doors)."""
        named = {
            "emission": self.emission,
            "request": self.request,
            "generator_powered": self.generator_powered,
            "light.powered": self.light_powered,
            "light.emission": self.light_emission,
        }
        named.update({f"door.{name}": spec for name, spec in self.door.items()})
        if self.patient is not None:
            named["patient"] = self.patient
        return named

    def assignments(self) -> list[tuple[str, int]]:
        out = [(key.replace("light.", "light_"), spec.pin) for key, spec in self.inputs().items()]
        if self.reset is not None:
            out.append(("reset", self.reset.pin))
        if self.alarm is not None:
            out.append(("alarm", self.alarm.pin))
        if self.interlock_relay.enabled:
            out.append(("interlock_relay", self.interlock_relay.pin))
        return out


class TubeSpec(Strict):
    description: str = ""
    sensitivity_cpm_per_usv_h: Annotated[float, Field(gt=0.0)]
    dead_time_us: Annotated[float, Field(ge=0.0, lt=10_000.0)]
    reference_quality: str = "Cs-137"


class CalibrationSpec(Strict):
    """A calibration factor for one tube *and* one beam quality."""

    tube: str
    beam_quality: str = Field(min_length=1)
    sensitivity_cpm_per_usv_h: Annotated[float, Field(gt=0.0)]
    note: str = ""


class Probe(Strict):
    kind: Literal["serial", "gpio", "none"] = "serial"
    port: str = "/dev/ttyACM0"
    pin: BcmPin = 25
    position: Literal["inside", "outside"] = "outside"
    background_usv_h: Annotated[float, Field(gt=0.0, le=100.0)] = 0.1
    tube: str = "sbm20"
    calibration: str | None = None
    frame_s: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1


class Rules(Strict):
    """Every threshold of the monitor (``[rules]``); names follow spec/scenarios.md."""

    release_grace_s: Seconds = 0.5
    light_grace_s: Seconds = 0.2
    max_exposure_s: PositiveSeconds = 600.0
    procedure_emission_limit_s: PositiveSeconds = 3600.0
    procedure_gap_s: PositiveSeconds = 1800.0
    dose_rate_alarm_usv_h: Annotated[float, Field(gt=0.0)] | None = None
    probe_timeout_s: PositiveSeconds = 5.0
    probe_silence_s: PositiveSeconds = 300.0
    max_request_s: PositiveSeconds = 600.0
    exposure_merge_gap_s: Annotated[float, Field(ge=0.0, le=2.0)] = 0.3
    unrequested_merge_gap_s: Annotated[float, Field(ge=0.0, le=10.0)] = 2.0
    emission_holdoff_s: Annotated[float, Field(ge=0.0, le=0.3)] = 0.3
    reading_interval_s: Annotated[float, Field(ge=1.0, le=3600.0)] = 10.0
    false_alarm_interval_years: Annotated[float, Field(ge=1.0)] = 10.0
    simultaneity_s: Annotated[float, Field(ge=0.0, le=0.05)] = 0.002

    @model_validator(mode="after")
    def _merge_gaps(self) -> Rules:
        if self.unrequested_merge_gap_s < self.exposure_merge_gap_s:
            raise ValueError(
                "unrequested_merge_gap_s: must not be below exposure_merge_gap_s"
                f" ({self.exposure_merge_gap_s:g} s)"
            )
        return self

    def dose_rate_alarm(self, position: str) -> float:
        """The ``dose_rate_high`` threshold: configured, else the position's default."""
        if self.dose_rate_alarm_usv_h is not None:
            return self.dose_rate_alarm_usv_h
        return 2000.0 if position == "inside" else 2.5


class Device(Strict):
    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    room: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")

    @property
    def device_id(self) -> str:
        return self.id or f"{self.site}.{self.room}"


class Journal(Strict):
    """The ``[journal]`` table: where the journal is, and how it keeps itself small.

    Records the hub has acknowledged are deleted after ``retention_days`` (the
    hub keeps the long record); ``reserve_mb`` of disk is held in a reserve
    file, given back when the disk fills so that the agent can still journal
    its ``journal_fault`` alarm and what it held meanwhile (0: no reserve).
    """

    path: str = "/var/lib/voyant/journal.db"
    retention_days: Annotated[float, Field(ge=7.0, le=3650.0)] = 400.0
    reserve_mb: Annotated[float, Field(ge=0.0, le=1024.0)] = 4.0


class Tls(Strict):
    """TLS towards the broker: the CA that signed it, and our client certificate if it asks."""

    ca_file: str = Field(min_length=1)
    cert_file: str | None = None
    key_file: str | None = None


class Mqtt(Strict):
    """The ``[mqtt]`` table: where the hub's broker is and how patient to be with it.

    Absent, the agent publishes nothing and its records wait in the journal's
    outbox. Times may be fractions of a second (the fault tests use that).
    The password is read from ``password_file`` so that it never sits in the
    configuration, a log line or ``ps``.
    """

    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = Field(default=None, min_length=1)
    password_file: str | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    tls: Tls | None = None
    keepalive_s: Annotated[int, Field(ge=2, le=3600)] = 30
    reconnect_min_s: Annotated[float, Field(gt=0.0, le=600.0)] = 1.0
    reconnect_max_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 60.0
    ack_timeout_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 30.0
    heartbeat_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 30.0
    batch_max: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 100
    window: Annotated[int, Field(ge=1)] = WINDOW  # at most WINDOW: see _window
    home_assistant: bool = False  # Home Assistant discovery configs on connect (ha_discovery)

    def read_password(self) -> str | None:
        """The password from ``password_file`` (None without one), or a ConfigError saying why."""
        if self.password_file is None:
            return None
        try:
            return Path(self.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"mqtt.password_file: cannot read {self.password_file}: {exc.strerror}"
            ) from None

    @model_validator(mode="after")
    def _delays(self) -> Mqtt:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s: must not be below reconnect_min_s")
        return self

    @field_validator("window")
    @classmethod
    def _window(cls, value: int) -> int:
        if value > WINDOW:
            raise ValueError(
                f"at most {WINDOW}, the wire contract's window (the hub takes a sequence"
                f" number further than that beyond what it holds for no resend); lower is"
                f" allowed, {value} is not"
            )
        return value


class Metrics(Strict):
    """The ``[metrics]`` table: Prometheus text on ``http://127.0.0.1:<port>/metrics``.

    Bound to the loopback only (a local exporter or node agent scrapes it);
    ``port = 0`` turns it off.
    """

    port: Annotated[int, Field(ge=0, le=65535)] = 61108


class AgentConfig(Strict):
    device: Device
    pins: Pins
    probe: Probe = Probe()
    rules: Rules = Rules()
    tubes: dict[str, TubeSpec] = {}  # noqa: RUF012
    calibrations: dict[str, CalibrationSpec] = {}  # noqa: RUF012
    journal: Journal = Journal()
    mqtt: Mqtt | None = None
    metrics: Metrics = Metrics()

    @model_validator(mode="after")
    def _names_resolve(self) -> AgentConfig:
        from edge_agent.dose.tube import BUILTIN_TUBES

        tubes = set(BUILTIN_TUBES) | set(self.tubes)
        if self.probe.tube not in tubes:
            raise ValueError(
                f"probe.tube: unknown tube {self.probe.tube!r}; expected one of {sorted(tubes)}"
            )
        for name, cal in self.calibrations.items():
            if cal.tube not in tubes:
                raise ValueError(f"calibrations.{name}.tube: unknown tube {cal.tube!r}")
        if self.probe.calibration is not None:
            chosen = self.calibrations.get(self.probe.calibration)
            if chosen is None:
                raise ValueError(
                    f"probe.calibration: {self.probe.calibration!r} is not a [calibrations] entry"
                )
            if chosen.tube != self.probe.tube:
                raise ValueError(
                    f"probe.calibration: {self.probe.calibration!r} is for tube {chosen.tube!r},"
                    f" the probe has {self.probe.tube!r}"
                )
        return self


def parse_config(data: dict[str, Any], source: str = "<config>") -> AgentConfig:
    """Validate a decoded TOML document; raise :class:`ConfigError` naming each bad key."""
    return validate(AgentConfig, data, source)


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate the agent's TOML configuration file."""
    return load_toml(AgentConfig, path)


def validate_rule_overrides(overrides: dict[str, Any], source: str) -> Rules:
    """Apply ``[agent]`` overrides of a scenario to the default rules, or raise ConfigError."""
    return validate(Rules, overrides, source)
