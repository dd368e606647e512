"""Mosquitto's configuration, password file and ACL, generated from one list of accounts.

The ACL is the broker's half of the wire contract (a device writes only its own
room's topics and reads only its own ``ack``), so it is built here from
:func:`wire.contract.topic` and the kind constants, never written by hand. It
holds explicit lines per device, no ``pattern`` rules: reading the file tells
who may do what. The same rules feed the embedded demo broker
(:mod:`hub.broker.embedded`).

Passwords are hashed here, in Mosquitto 2's own ``$7$`` format (PBKDF2-SHA512),
rather than by running ``mosquitto_passwd``: no subprocess per account, the
files can be generated on a machine without Mosquitto, and the embedded broker
verifies the same hashes. The tests check the format against Mosquitto itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from wire.contract import ACK, AGENT_KINDS, ROOT, topic
from wire.errors import ConfigError
from wire.home_assistant import discovery_filter, node_id

#: One MiB: above the contract's MAX_PAYLOAD_BYTES (256 KiB), so that an oversized
#: payload reaches the hub, which refuses it with a reason, instead of a silent broker drop.
MAX_PACKET_BYTES: Final = 1024 * 1024
#: Mosquitto 2's default PBKDF2 iteration count; passwords are random tokens, so the
#: count protects little and is paid on every connection.
HASH_ITERATIONS: Final = 101
_SALT_BYTES: Final = 12

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the contract's DEVICE_PATTERN
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the contract's NAME_PATTERN


class BrokerFilesError(ConfigError):
    """An account or setting that would make a wrong or unsafe broker file."""


def _check_name(label: str, value: str, pattern: re.Pattern[str], allowed: str) -> None:
    """Refuse a name that would break an ACL line or escape its topic level."""
    if pattern.match(value):
        return
    bad = sorted({c for c in value if not pattern.match(c)})
    why = "is empty" if not value else (
        "is longer than 64 characters" if not bad else f"contains {', '.join(map(repr, bad))}"
    )
    raise BrokerFilesError(f"{label} {value!r} {why}; allowed: {allowed}")


def _check_password(username: str, password: str) -> None:
    if not password:
        raise BrokerFilesError(f"{username}: empty password")
    if any(c in password for c in "\r\n\0"):
        raise BrokerFilesError(f"{username}: password contains a line break or NUL")


_USER_CHARS: Final = "letters, digits, '_', '.', '-' (1 to 64)"
_NAME_CHARS: Final = "letters, digits, '_', '-' (1 to 64)"


def check_name(label: str, value: str) -> None:
    """Refuse a site or room name that is not the contract's (a topic level)."""
    _check_name(label, value, _NAME, _NAME_CHARS)


def check_username(label: str, username: str) -> None:
    """Refuse a username that would break an ACL or password line (or a file name)."""
    _check_name(label, username, _USERNAME, _USER_CHARS)


@dataclass(frozen=True, slots=True)
class HubAccount:
    """The hub's login: reads every room, writes every ``ack``."""

    username: str
    password: str = field(repr=False)  # kept out of logs and test reports

    def __post_init__(self) -> None:
        check_username("hub username", self.username)
        _check_password(self.username, self.password)


@dataclass(frozen=True, slots=True)
class DeviceAccount:
    """One room's agent: writes its own room's topics, reads its own ``ack``."""

    username: str
    password: str = field(repr=False)
    site: str
    room: str

    def __post_init__(self) -> None:
        check_username("device username", self.username)
        _check_name(f"{self.username}: site", self.site, _NAME, _NAME_CHARS)
        _check_name(f"{self.username}: room", self.room, _NAME, _NAME_CHARS)
        _check_password(self.username, self.password)


Account = HubAccount | DeviceAccount


@dataclass(frozen=True, slots=True)
class Rules:
    """Topic filters a user may subscribe to / receive (``read``) and publish to (``write``)."""

    read: tuple[str, ...]
    write: tuple[str, ...]


def check_accounts(hub: HubAccount, devices: Sequence[DeviceAccount]) -> None:
    """One login per account and one agent per room, or the ACL would mix them.

    Two rooms whose Home Assistant node ids coincide (``a_b``/``c``, ``a``/``b_c``)
    are refused too: each could then write the other's discovery configs.
    """
    seen: set[str] = {hub.username}
    rooms: dict[tuple[str, str], str] = {}
    nodes: dict[str, str] = {}
    for device in devices:
        if device.username in seen:
            raise BrokerFilesError(f"username {device.username!r} is used twice")
        seen.add(device.username)
        other = rooms.setdefault((device.site, device.room), device.username)
        if other != device.username:
            raise BrokerFilesError(
                f"{device.username} and {other} both claim room {device.site}/{device.room}"
            )
        node = node_id(device.site, device.room)
        other = nodes.setdefault(node, device.username)
        if other != device.username:
            raise BrokerFilesError(
                f"{device.username} and {other} share the Home Assistant node id {node}: "
                "rename a site or room")


def acl_rules(hub: HubAccount, devices: Sequence[DeviceAccount]) -> dict[str, Rules]:
    """Who may do what, by username: the single source of both brokers' ACLs.

    A device writes its own room's topics and its own Home Assistant discovery
    node (``homeassistant/+/voyant_<site>_<room>/#``, used only when its agent
    has ``[mqtt] home_assistant = true``), and reads its own ``ack``.
    """
    check_accounts(hub, devices)
    rules = {hub.username: Rules(read=(f"{ROOT}/#",), write=(f"{ROOT}/+/+/{ACK}",))}
    for d in devices:
        rules[d.username] = Rules(
            read=(topic(d.site, d.room, ACK),),
            write=(*(topic(d.site, d.room, kind) for kind in AGENT_KINDS),
                   discovery_filter(d.site, d.room)),
        )
    return rules


def acl_text(hub: HubAccount, devices: Sequence[DeviceAccount]) -> str:
    """Mosquitto ``acl_file``: explicit ``user``/``topic`` lines, no ``pattern``."""
    lines = ["# Generated by voyant-hub broker-config: regenerate, do not edit.",
             "# Explicit lines per account; anything not listed is refused."]
    for username, rules in acl_rules(hub, devices).items():
        lines += ["", f"user {username}"]
        lines += [f"topic write {t}" for t in rules.write]
        lines += [f"topic read {t}" for t in rules.read]
    return "\n".join(lines) + "\n"


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = HASH_ITERATIONS) -> str:
    """Mosquitto 2's ``$7$<iterations>$<salt>$<PBKDF2-SHA512>`` (base64) hash."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True if ``password`` matches a ``$7$`` hash (the only kind this module writes)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[:2] != ["", "7"] or not parts[2].isdigit():
        return False
    try:
        salt, digest = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    return hmac.compare_digest(computed, digest)


def passwd_text(accounts: Iterable[Account]) -> str:
    """Mosquitto ``password_file``: ``username:$7$...`` lines, freshly salted."""
    return "".join(f"{a.username}:{hash_password(a.password)}\n" for a in accounts)


@dataclass(frozen=True, slots=True)
class TlsListener:
    """The TLS listener the devices connect to; the plain one stays for loopback.

    ``bind_address`` None: the plain listener's address.
    """

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False
    bind_address: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """What ``mosquitto.conf`` says besides the accounts; paths are as Mosquitto will see them.

    ``persistence_location`` None leaves it to the including file (Debian's main
    ``mosquitto.conf`` sets it, and Mosquitto refuses a second value).
    ``run_as_user``: the user Mosquitto drops to when started as root (tests
    running as root set it to root, to write in their own temporary folder).
    """

    password_file: Path
    acl_file: Path
    port: int = 1883
    bind_address: str = "0.0.0.0"
    persistence_location: Path | None = None
    autosave_interval: int = 60
    max_queued_messages: int = 0
    max_queued_bytes: int = 0
    max_inflight_messages: int = 100
    max_packet_size: int = MAX_PACKET_BYTES
    tls: TlsListener | None = None
    run_as_user: str | None = None

    def __post_init__(self) -> None:
        for port in (self.port, *([self.tls.port] if self.tls else [])):
            if not 1 <= port <= 65535:
                raise BrokerFilesError(f"port {port}: expected 1 to 65535")
        values = [self.password_file, self.acl_file, self.bind_address, self.persistence_location,
                  self.run_as_user, *([self.tls.cafile, self.tls.certfile, self.tls.keyfile,
                                       self.tls.bind_address] if self.tls else [])]
        for value in values:  # one token per config line: no injected options
            if value is not None and (not str(value) or any(c.isspace() for c in str(value))):
                raise BrokerFilesError(f"{str(value)!r}: empty or contains whitespace")
        if self.autosave_interval < 1:
            raise BrokerFilesError("autosave_interval: at least 1 s (0 means: on exit only)")
        if min(self.max_queued_messages, self.max_queued_bytes, self.max_inflight_messages) < 0:
            raise BrokerFilesError("queue limits: 0 (no limit) or more")


def _queue_lines(s: BrokerSettings) -> list[str]:
    return [
        "# Queues. 0 = no limit. A hub catching up after an outage has its persistent",
        "# session's backlog queued here; Mosquitto's default (1000 messages) drops the",
        "# rest, turning a hub outage into resends from every agent. Memory is the real",
        "# bound (rooms x outage); agents keep every record until the hub acknowledges it,",
        "# so a byte cap set here for a small hub delays evidence, it does not lose it.",
        f"max_queued_messages {s.max_queued_messages}",
        f"max_queued_bytes {s.max_queued_bytes}",
        f"max_inflight_messages {s.max_inflight_messages}",
        "# Above the contract's 256 KiB payload limit: the hub refuses oversized payloads",
        "# itself, with a reason, instead of the broker dropping them silently.",
        f"max_packet_size {s.max_packet_size}",
    ]


#: Per listener (Mosquitto 2 reads it as a listener setting): every account's client id is
#: its username, so no account can push another off (a second connection with a client id
#: in use disconnects the first).
_CLIENT_ID_LINES: Final = ("use_username_as_clientid true",)


def _tls_lines(tls: TlsListener, bind_address: str) -> list[str]:
    return ["", f"listener {tls.port} {tls.bind_address or bind_address}", *_CLIENT_ID_LINES,
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}", f"keyfile {tls.keyfile}",
            f"require_certificate {str(tls.require_certificate).lower()}"]


def mosquitto_conf(s: BrokerSettings) -> str:
    """The configuration (a whole file for tests, a ``conf.d`` snippet in production)."""
    lines = ["# Generated by voyant-hub broker-config: regenerate, do not edit.",
             "per_listener_settings false", "allow_anonymous false",
             f"password_file {s.password_file}", f"acl_file {s.acl_file}",
             "", f"listener {s.port} {s.bind_address}", *_CLIENT_ID_LINES]
    if s.tls is not None:
        lines += _tls_lines(s.tls, s.bind_address)
    lines += ["", "persistence true"]
    if s.persistence_location is not None:
        lines.append(f"persistence_location {str(s.persistence_location).rstrip('/')}/")
    lines += ["# Seconds between snapshots of queued messages (Mosquitto's default is 1800).",
              f"autosave_interval {s.autosave_interval}", ""]
    lines += _queue_lines(s)
    if s.run_as_user is not None:
        lines += ["", f"user {s.run_as_user}"]
    lines += ["", "log_dest stdout", "log_type error", "log_type warning", "log_type notice",
              "log_type information", "connection_messages true"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    conf: Path
    passwd: Path
    acl: Path


def write_broker_files(
    settings: BrokerSettings, hub: HubAccount, devices: Sequence[DeviceAccount], *,
    conf: Path, passwd: Path | None = None, acl: Path | None = None,
) -> BrokerFiles:
    """Write the configuration (0640), password file (0600) and ACL (0640).

    ``passwd`` and ``acl`` default to where ``settings`` tells Mosquitto to read
    them; give other paths to write them elsewhere (e.g. for installation).
    """
    files = BrokerFiles(conf, passwd or settings.password_file, acl or settings.acl_file)
    acl_body = acl_text(hub, devices)  # validates the accounts before anything is written
    write_file(files.passwd, passwd_text([hub, *devices]), 0o600)
    write_file(files.acl, acl_body, 0o640)
    write_file(files.conf, mosquitto_conf(settings), 0o640)
    return files


def write_file(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` atomically, never readable beyond ``mode`` even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, mode)  # the umask may have narrowed it; the caller said what it wants
        file.write(text)
    tmp.replace(path)
