"""``voyant-hub broker-config``: Mosquitto's files for production, from a devices TOML.

Passwords never sit in the TOML. Each account's password is read from a file:
``password_file`` if the account names one (relative to the TOML), else
``<secrets>/<username>.password``, which is generated (random, 0600) when
missing. Rerunning keeps existing passwords, so adding a room changes no
other device's login; the generated file is what you copy to the new device.
``voyant-hub device add/revoke/list`` (:mod:`hub.broker.provisioning`) edit the
``[devices]`` tables of the same file.

TLS is on, anonymous access off: the devices connect to the TLS listener
(``[broker.tls]``, or ``--tls-cert/--tls-key/--tls-ca``); the plain listener
serves this machine only (the hub's own login, over loopback). Without
certificates the command refuses, unless ``--no-tls`` asks for a
loopback-only broker (tests, a demo on one machine).

    [broker]                     # every key optional
    port = 1883                  # the plain listener: loopback only
    bind_address = "127.0.0.1"   # 127.0.0.1, ::1 or localhost
    password_file = "/etc/mosquitto/voyant.passwd"   # where Mosquitto will read them
    acl_file = "/etc/mosquitto/voyant.acl"
    autosave_interval = 60
    max_queued_bytes = 0
    [broker.tls]                 # the devices' listener (or --tls-cert/--tls-key/--tls-ca)
    port = 8883
    bind_address = "0.0.0.0"     # or the hub's LAN address
    cafile = "/etc/mosquitto/certs/ca.crt"
    certfile = "/etc/mosquitto/certs/hub.crt"
    keyfile = "/etc/mosquitto/certs/hub.key"
    require_certificate = false  # true: devices need a client certificate too

    [hub]
    username = "hub"

    [devices."chu.ir1"]          # the device's MQTT username
    site = "chu"
    room = "ir1"
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from hub.broker.files import (
    BrokerFilesError,
    BrokerSettings,
    DeviceAccount,
    HubAccount,
    TlsListener,
    acl_text,
    check_accounts,
    check_username,
    passwd_text,
    write_broker_files,
    write_file,
)
from wire.settings import Strict, parse_toml, read_text

CONF_NAME, PASSWD_NAME, ACL_NAME = "voyant.conf", "voyant.passwd", "voyant.acl"


class _Tls(Strict):
    port: int = 8883
    bind_address: str = "0.0.0.0"
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


class _Broker(Strict):
    port: int = 1883
    bind_address: str = "127.0.0.1"
    password_file: Path = Path("/etc/mosquitto") / PASSWD_NAME
    acl_file: Path = Path("/etc/mosquitto") / ACL_NAME
    persistence_location: Path | None = None  # Debian's mosquitto.conf already sets one
    autosave_interval: int = 60
    max_queued_bytes: int = 0
    max_inflight_messages: int = 100
    tls: _Tls | None = None


class _Login(Strict):
    password_file: Path | None = None


class _Hub(_Login):
    username: str = "hub"


class _Device(_Login):
    site: str
    room: str


class _File(Strict):
    broker: _Broker = _Broker()
    hub: _Hub = _Hub()
    devices: dict[str, _Device] = Field(default_factory=dict)


DevicesFile = _File  # the parsed devices TOML, for hub.broker.provisioning


def read_devices_file(path: Path) -> _File:
    """The TOML, validated; a clear-text ``password`` gets its own explanation."""
    data = parse_toml(read_text(path, "devices file", BrokerFilesError), path, BrokerFilesError)
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(map(str, err["loc"]))
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            if key.endswith(".password"):
                msg = "passwords are not kept in this file: use password_file, or omit it"
            lines.append(f"{path}: {key}: {msg}")
        raise BrokerFilesError("\n".join(lines)) from None


def _password(username: str, named: Path | None, base: Path, secrets_dir: Path,
              generated: list[Path]) -> str:
    """Read the account's password file; generate the default one if missing."""
    path = _password_path(username, named, base, secrets_dir)
    if not path.exists() and named is None:
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file(path, secrets.token_urlsafe(24) + "\n", 0o600)
        generated.append(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BrokerFilesError(f"{username}: cannot read {path}: {exc.strerror}") from None
    if not lines or not lines[0]:
        raise BrokerFilesError(f"{username}: {path} is empty")
    return lines[0]


@dataclass(frozen=True, slots=True)
class TlsPaths:
    """``--tls-cert/--tls-key/--tls-ca``: paths as Mosquitto will read them."""

    certfile: Path
    keyfile: Path
    cafile: Path


NO_TLS_HELP = ("TLS is required: give --tls-cert, --tls-key and --tls-ca (paths as "
               "Mosquitto will read them), or a [broker.tls] table in the devices file; "
               "--no-tls only for a loopback-only test broker")


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _settings(b: _Broker, tls_paths: TlsPaths | None = None, *,
              no_tls: bool = False) -> BrokerSettings:
    """Mosquitto's settings: the TOML's, TLS from it or the command line (required
    unless ``no_tls``), and the plain listener on loopback only."""
    if no_tls and (tls_paths is not None or b.tls is not None):
        raise BrokerFilesError("--no-tls contradicts "
                               + ("--tls-cert/--tls-key/--tls-ca" if tls_paths is not None
                                  else "the devices file's [broker.tls] table"))
    tls = None
    if b.tls is not None or tls_paths is not None:
        t = b.tls or _Tls(cafile=Path("-"), certfile=Path("-"), keyfile=Path("-"))
        paths = tls_paths or TlsPaths(t.certfile, t.keyfile, t.cafile)  # the command line wins
        tls = TlsListener(t.port, paths.cafile, paths.certfile, paths.keyfile,
                          t.require_certificate, t.bind_address)
    elif not no_tls:
        raise BrokerFilesError(NO_TLS_HELP)
    settings = BrokerSettings(
        password_file=b.password_file, acl_file=b.acl_file, port=b.port,
        bind_address=b.bind_address, persistence_location=b.persistence_location,
        autosave_interval=b.autosave_interval, max_queued_bytes=b.max_queued_bytes,
        max_inflight_messages=b.max_inflight_messages, tls=tls)
    if not _is_loopback(b.bind_address):
        raise BrokerFilesError(
            f"[broker] bind_address {b.bind_address}: the plain (unencrypted) listener "
            "serves this machine only (127.0.0.1, ::1 or localhost); devices on the "
            "network connect to the TLS listener ([broker.tls] bind_address)")
    if tls is not None and tls.port == b.port:
        raise BrokerFilesError(f"port {b.port}: the plain and the TLS listener need two ports")
    return settings


@dataclass(frozen=True, slots=True)
class Accounts:
    """The accounts of a devices TOML, passwords read (or generated) from their files."""

    hub: HubAccount
    devices: list[DeviceAccount]
    hub_password_file: Path  # where the hub's own password is, for its MQTT login
    generated: list[Path]  # password files created by this call


def _password_path(username: str, named: Path | None, base: Path, secrets_dir: Path) -> Path:
    return (base / named) if named is not None else secrets_dir / f"{username}.password"


def _accounts(spec: _File, devices_toml: Path, secrets_dir: Path) -> Accounts:
    base, generated = devices_toml.parent, list[Path]()
    check_username("hub username", spec.hub.username)
    for name in spec.devices:  # before a name becomes a file name
        check_username("device username", name)
    hub = HubAccount(spec.hub.username, _password(
        spec.hub.username, spec.hub.password_file, base, secrets_dir, generated))
    devices = [DeviceAccount(name, _password(name, d.password_file, base, secrets_dir, generated),
                             d.site, d.room) for name, d in spec.devices.items()]
    check_accounts(hub, devices)
    hub_file = _password_path(spec.hub.username, spec.hub.password_file, base, secrets_dir)
    return Accounts(hub, devices, hub_file, generated)


def load_accounts(devices_toml: Path, secrets_dir: Path) -> Accounts:
    """The hub's and devices' accounts of a devices TOML (the embedded broker's source).

    Passwords are read as :func:`generate` reads them, and generated the same way when
    missing; the ``[broker]`` table, for Mosquitto only, is not used.
    """
    return _accounts(read_devices_file(devices_toml), devices_toml, secrets_dir)


def write_account_files(devices_toml: Path, out: Path, secrets_dir: Path
                        ) -> tuple[Accounts, list[str]]:
    """Regenerate only the password file and the ACL in ``out`` (device add/revoke).

    The configuration, which names the TLS files, is ``broker-config``'s; Mosquitto
    rereads these two on SIGHUP (``systemctl reload mosquitto``).
    """
    spec = read_devices_file(devices_toml)
    accounts = _accounts(spec, devices_toml, secrets_dir)
    acl_body = acl_text(accounts.hub, accounts.devices)  # validates before writing
    passwd, acl = out / PASSWD_NAME, out / ACL_NAME
    write_file(passwd, passwd_text([accounts.hub, *accounts.devices]), 0o600)
    write_file(acl, acl_body, 0o640)
    b = spec.broker
    return accounts, [f"wrote {passwd} (install as {b.password_file}, mosquitto, 0600)",
                      f"wrote {acl} (install as {b.acl_file}, mosquitto, 0640)"]


def generate(devices_toml: Path, out: Path, secrets_dir: Path,
             tls: TlsPaths | None = None, *, no_tls: bool = False) -> list[str]:
    """Write the three files into ``out``; return what was done, one line each.

    TLS comes from ``tls`` or the TOML's ``[broker.tls]``; neither is an error
    unless ``no_tls`` (a loopback-only broker).
    """
    spec = read_devices_file(devices_toml)
    settings = _settings(spec.broker, tls, no_tls=no_tls)  # before any password is generated
    accounts = _accounts(spec, devices_toml, secrets_dir)
    hub, devices, generated = accounts.hub, accounts.devices, accounts.generated
    files = write_broker_files(settings, hub, devices, conf=out / CONF_NAME,
                               passwd=out / PASSWD_NAME, acl=out / ACL_NAME)
    report = [f"wrote {files.conf} (install as /etc/mosquitto/conf.d/{CONF_NAME})",
              f"wrote {files.passwd} (install as {settings.password_file}, mosquitto, 0600)",
              f"wrote {files.acl} (install as {settings.acl_file}, mosquitto, 0640)"]
    report += [f"generated a password in {p} (0600): copy it to that account's machine"
               for p in generated]
    if settings.tls is None:
        report.append(f"no TLS: only this machine can connect ({settings.bind_address}:"
                      f"{settings.port}); not for production")
    else:
        report.append(f"TLS listener on {settings.tls.bind_address}:{settings.tls.port}; "
                      f"plain listener on {settings.bind_address}:{settings.port} (this "
                      "machine only)")
    return report


def broker_config_main(argv: Sequence[str] | None = None) -> int:
    """``voyant-hub broker-config --devices FILE --out DIR [--secrets DIR]
    (--tls-cert F --tls-key F --tls-ca F | --no-tls)``; 0, or 2 on error."""
    parser = argparse.ArgumentParser(
        prog="voyant-hub broker-config",
        description="Write Mosquitto's configuration, password file and ACL for the hub.")
    parser.add_argument("--devices", type=Path, required=True, help="the devices TOML")
    parser.add_argument("--out", type=Path, required=True, help="folder for the three files")
    parser.add_argument("--secrets", type=Path, default=None,
                        help="password files, read or generated (default: OUT/secrets)")
    parser.add_argument("--tls-cert", type=Path, help="the broker's certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--tls-ca", type=Path, help="the CA that signed it (the devices trust it)")
    parser.add_argument("--no-tls", action="store_true",
                        help="no TLS listener: a loopback-only broker (tests, demo)")
    args = parser.parse_args(argv)
    given = [args.tls_cert, args.tls_key, args.tls_ca]
    if any(given) and not all(given):
        print("voyant-hub broker-config: --tls-cert, --tls-key and --tls-ca go together",
              file=sys.stderr)
        return 2
    tls = TlsPaths(args.tls_cert, args.tls_key, args.tls_ca) if all(given) else None
    try:
        report = generate(args.devices, args.out, args.secrets or args.out / "secrets", tls,
                          no_tls=args.no_tls)
    except BrokerFilesError as exc:
        print(f"voyant-hub broker-config: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report))
    return 0
