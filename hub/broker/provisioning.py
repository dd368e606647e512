"""``voyant-hub device add|revoke|list``: a room's broker account, from creation to revocation.

``add SITE ROOM`` appends a ``[devices."<id>"]`` table to the devices TOML
(:mod:`hub.broker.config`), draws the device's password into
``<secrets>/<id>.password`` (0600), regenerates Mosquitto's password file and
ACL in ``--out``, and prints the agent's ``[device]`` and ``[mqtt]`` tables
to copy, with the password file's path. ``revoke ID`` removes the table and
the password file and regenerates the two files; ``list`` shows the devices.

The password is not printed unless ``--show-password``: the file is what goes
to the room's box (``scp``, or a USB key). Printing it once is allowed for a
box reachable only by its console, where the biomedical engineer types it:
it then sits in that terminal's scroll-back, never in a log, the shell
history or ``ps`` (it is output, not an argument). docs/hub.md, "Provisioning
a room", says so too.

The TOML is edited as text (comments and order kept), and the result is
parsed again and compared before it is written: a file laid out in a way the
edit does not understand is refused, never half-changed.
"""

from __future__ import annotations

import argparse
import re
import secrets
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from hub.broker.config import DevicesFile, read_devices_file, write_account_files
from hub.broker.files import (
    BrokerFilesError,
    DeviceAccount,
    HubAccount,
    check_accounts,
    check_name,
    check_username,
    write_file,
)
from wire.home_assistant import node_id
from wire.settings import describe_errors, parse_toml, read_text

DEFAULT_DEVICES: Final = Path("/etc/voyant/devices.toml")
DEFAULT_OUT: Final = Path("/etc/voyant/mosquitto")
#: Where the printed agent configuration expects its files on the room's box.
BOX_PASSWORD: Final = "/etc/voyant/mqtt.password"
BOX_CA: Final = "/etc/voyant/hub-ca.pem"
TLS_PORT: Final = 8883

_HEADER = re.compile(r"^\s*\[")
_NEW_FILE = ("# Voyant's broker accounts: voyant-hub device add/revoke edit this file;\n"
             "# voyant-hub broker-config writes Mosquitto's files from it. No passwords here.\n")


class ProvisioningError(BrokerFilesError):
    """A refused add or revoke: the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Added:
    device: DeviceAccount
    password_file: Path
    report: list[str]
    tls_port: int


def _read_text(path: Path) -> str:
    """The devices file's text; empty when there is none yet (the first room added)."""
    if not path.exists():
        return ""
    return read_text(path, "devices file", ProvisioningError)


def _parse(text: str, path: Path) -> DevicesFile:
    data = parse_toml(text, path, ProvisioningError)
    try:
        return DevicesFile.model_validate(data)
    except ValidationError as exc:
        raise ProvisioningError(describe_errors(exc, str(path))) from None


def _check_names(spec: DevicesFile) -> None:
    """The accounts as the ACL would see them (placeholder passwords)."""
    hub = HubAccount(spec.hub.username, "-")
    check_accounts(hub, [DeviceAccount(name, "-", d.site, d.room)
                         for name, d in spec.devices.items()])


def add_device(devices_toml: Path, site: str, room: str, *, device_id: str | None = None,
               secrets_dir: Path, out: Path) -> Added:
    """Add the device, draw its password, regenerate the password file and ACL."""
    check_name("site", site)
    check_name("room", room)
    name = device_id or f"{site}.{room}"
    check_username("device id", name)
    text = _read_text(devices_toml)
    spec = read_devices_file(devices_toml) if text else _parse("", devices_toml)
    if name in spec.devices:
        d = spec.devices[name]
        raise ProvisioningError(
            f"device {name} exists already (site {d.site}, room {d.room}) in {devices_toml}: "
            f"revoke it first (voyant-hub device revoke {name}), or choose another --id")
    for other, d in spec.devices.items():
        if (d.site, d.room) == (site, room):
            raise ProvisioningError(
                f"room {site}/{room} already has device {other}: one agent per room "
                f"(voyant-hub device revoke {other} to replace it)")
    if name == spec.hub.username:
        raise ProvisioningError(f"device id {name!r} is the hub's own username")
    new_text = (text if not text or text.endswith("\n") else text + "\n") if text else _NEW_FILE
    new_text += f'\n[devices."{name}"]\nsite = "{site}"\nroom = "{room}"\n'
    new_spec = _parse(new_text, devices_toml)
    if set(new_spec.devices) != {*spec.devices, name}:
        raise ProvisioningError(f"{devices_toml}: could not add [devices.\"{name}\"] "
                                "automatically: add it by hand, then run broker-config")
    _check_names(new_spec)  # e.g. a Home Assistant node id shared with another room
    password_file = secrets_dir / f"{name}.password"
    report = []
    if password_file.exists():  # a stale file (an earlier device of that name): never reused
        report.append(f"replaced the stale password file {password_file}")
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_file(password_file, secrets.token_urlsafe(24) + "\n", 0o600)
    write_file(devices_toml, new_text, 0o640)
    _, written = write_account_files(devices_toml, out, secrets_dir)
    device = DeviceAccount(name, password_file.read_text(encoding="utf-8").strip(), site, room)
    tls = new_spec.broker.tls
    report = [f"added device {name} (site {site}, room {room}) to {devices_toml}",
              f"generated its password in {password_file} (0600)", *report, *written]
    return Added(device, password_file, report, tls.port if tls else TLS_PORT)


def _remove_table(text: str, name: str) -> str:
    """``text`` without the ``[devices."name"]`` table (comments before the next table kept)."""
    quoted = re.escape(name)
    header = re.compile(rf"""^\s*\[\s*devices\s*\.\s*(?:"{quoted}"|'{quoted}'|{quoted})\s*\]"""
                        r"\s*(?:#.*)?$")
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if header.match(line)]
    if len(starts) != 1:
        return text
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    while end > start + 1 and lines[end - 1].lstrip().startswith("#"):
        end -= 1  # a comment right above the next table belongs to it
    while start > 0 and not lines[start - 1].strip():
        start -= 1  # the blank line that separated the table
    return "".join(lines[:start] + lines[end:])


@dataclass(frozen=True, slots=True)
class Revoked:
    device: str
    report: list[str]


def revoke_device(devices_toml: Path, name: str, *, secrets_dir: Path, out: Path) -> Revoked:
    """Remove the device and its password file; regenerate the password file and ACL."""
    text = _read_text(devices_toml)
    if not text:
        raise ProvisioningError(f"{devices_toml}: no such file (no device to revoke)")
    spec = read_devices_file(devices_toml)
    if name not in spec.devices:
        known = ", ".join(sorted(spec.devices)) or "none"
        raise ProvisioningError(f"no device {name!r} in {devices_toml} (devices: {known})")
    new_text = _remove_table(text, name)
    new_spec = _parse(new_text, devices_toml)
    expected = {k: v for k, v in spec.devices.items() if k != name}
    if (new_spec.devices != expected or new_spec.broker != spec.broker
            or new_spec.hub != spec.hub):
        raise ProvisioningError(
            f"{devices_toml}: could not remove [devices.\"{name}\"] automatically: "
            "remove that table by hand, then run broker-config")
    write_file(devices_toml, new_text, 0o640)
    report = [f"removed device {name} from {devices_toml}"]
    named = spec.devices[name].password_file
    if named is None:
        secret = secrets_dir / f"{name}.password"
        if secret.exists():
            secret.unlink()
            report.append(f"deleted its password file {secret}")
    else:
        report.append(f"its own password file {devices_toml.parent / named} was left in place: "
                      "delete it if nothing else uses it")
    _, written = write_account_files(devices_toml, out, secrets_dir)
    return Revoked(name, report + written)


def list_devices(devices_toml: Path, secrets_dir: Path) -> list[str]:
    """One line per device: id, site, room, password file (and whether it exists)."""
    spec = read_devices_file(devices_toml)
    lines = [f"{'device':<24} {'site':<16} {'room':<16} password file"]
    for name, d in sorted(spec.devices.items()):
        path = (devices_toml.parent / d.password_file if d.password_file
                else secrets_dir / f"{name}.password")
        state = "" if path.exists() else "  (missing: generated by broker-config)"
        lines.append(f"{name:<24} {d.site:<16} {d.room:<16} {path}{state}")
    return lines


def agent_snippet(device: DeviceAccount, host: str, port: int) -> str:
    """The agent's ``[device]`` and ``[mqtt]`` tables for the room's box."""
    return "\n".join([
        f"# /etc/voyant/agent.toml on the box of room {device.site}/{device.room}",
        "[device]", f'site = "{device.site}"', f'room = "{device.room}"',
        f'id = "{device.username}"', "",
        "[mqtt]", f'host = "{host}"', f"port = {port}", f'username = "{device.username}"',
        f'password_file = "{BOX_PASSWORD}"',
        "# home_assistant = true   # optional: Home Assistant discovery "
        f"(homeassistant/+/{node_id(device.site, device.room)}/...)", "",
        "[mqtt.tls]", f'ca_file = "{BOX_CA}"      # the CA of the broker\'s certificate (--tls-ca)',
    ]) + "\n"


def _reload_lines(out: Path, spec: DevicesFile) -> list[str]:
    b = spec.broker
    return [
        "",
        "Install the two files and make Mosquitto reread them (SIGHUP):",
        f"  install -o mosquitto -g mosquitto -m 0600 {out / 'voyant.passwd'} {b.password_file}",
        f"  install -o mosquitto -g mosquitto -m 0640 {out / 'voyant.acl'} {b.acl_file}",
        "  systemctl reload mosquitto      # or: kill -HUP $(pidof mosquitto)",
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-hub device",
                                     description="Manage the rooms' broker accounts.")
    sub = parser.add_subparsers(dest="action", required=True)

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--devices", type=Path, default=DEFAULT_DEVICES,
                       help=f"the devices TOML (default {DEFAULT_DEVICES})")
        p.add_argument("--secrets", type=Path, default=None,
                       help="password files (default: OUT/secrets, as broker-config)")
        p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                       help=f"Mosquitto's files, as broker-config (default {DEFAULT_OUT})")

    add = sub.add_parser("add", help="create a room's account; print its agent configuration")
    add.add_argument("site")
    add.add_argument("room")
    add.add_argument("--id", dest="device_id", help="the device id and MQTT username "
                     "(default SITE.ROOM)")
    add.add_argument("--host", default=None,
                     help="the broker's name as the box reaches it (default: this machine's)")
    add.add_argument("--show-password", action="store_true",
                     help="print the password once (for a box configured at its console)")
    paths(add)
    revoke = sub.add_parser("revoke", help="remove a device's account and password")
    revoke.add_argument("device_id")
    paths(revoke)
    listing = sub.add_parser("list", help="the devices of the devices TOML")
    paths(listing)
    return parser


def device_main(argv: Sequence[str] | None = None) -> int:
    """``voyant-hub device add|revoke|list``; 0, or 2 on a refusal (one line on stderr)."""
    args = _parser().parse_args(argv)
    secrets_dir = args.secrets or args.out / "secrets"
    try:
        if args.action == "list":
            print("\n".join(list_devices(args.devices, secrets_dir)))
            return 0
        if args.action == "revoke":
            revoked = revoke_device(args.devices, args.device_id, secrets_dir=secrets_dir,
                                    out=args.out)
            lines = [*revoked.report, *_reload_lines(args.out, read_devices_file(args.devices)),
                     "Mosquitto then refuses the device's login; a connection still open is "
                     "closed by the reload."]
            print("\n".join(lines))
            return 0
        added = add_device(args.devices, args.site, args.room, device_id=args.device_id,
                           secrets_dir=secrets_dir, out=args.out)
    except BrokerFilesError as exc:
        print(f"voyant-hub device {args.action}: {exc}", file=sys.stderr)
        return 2
    spec = read_devices_file(args.devices)
    host = args.host or socket.getfqdn()
    lines = [*added.report, *_reload_lines(args.out, spec), "",
             "Copy the password file to the room's box (0600, owned by the agent's user):",
             f"  scp {added.password_file} root@BOX:{BOX_PASSWORD}",
             f"and the broker's CA certificate to {BOX_CA}.", ""]
    if args.show_password:
        lines += [f"password of {added.device.username} (shown once, kept only in "
                  f"{added.password_file}): {added.device.password}", ""]
    print("\n".join(lines))
    print(agent_snippet(added.device, host, added.tls_port), end="")
    return 0
