"""The demo's folder and accounts: three rooms, their files, the hub's configuration, the PCR.

Apart from :mod:`sim.demo` (the running stack) so that what the demo writes
before anything starts, and the names the browser tests log in with, read
in one place without the process handling.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

from hub.broker.config import load_accounts
from sim.live_room import RoomSettings
from wire.errors import SimError

SITE: Final = "demo"
PCR_USERNAME: Final = "pcr"
PCR_PASSWORD: Final = "voyant-demo"  # printed by the demo: a demonstration account only
PCR_NAME: Final = "Claire Moreau"
ADMIN_USERNAME: Final = "admin"
ADMIN_PASSWORD: Final = "voyant-gestion"  # printed by the demo: a demonstration account only
ADMIN_NAME: Final = "Julien Roux"
HUB_USERNAME: Final = "hub"
#: The file in the demo folder that marks it as ours (emptied at each start) and says
#: where the running demo listens.
CONTROL_FILE: Final = "control.json"
#: The folder inside the demo folder that outlives a start: the history, made once
#: (:mod:`sim.demo_history`).
KEPT_DIR: Final = "history"


@dataclass(frozen=True, slots=True)
class DemoRoom:
    """One simulated room: its name (also its MQTT account ``demo.<room>``) and scenario."""

    room: str
    scenario: str  # a library scenario name (sim/scenarios/<name>.toml)

    @property
    def username(self) -> str:
        return f"{SITE}.{self.room}"


ROOMS: Final = (
    DemoRoom("salle-1", "demo_interventional"),
    DemoRoom("salle-2", "demo_radiography"),
    DemoRoom("bloc-3", "demo_unsolicited"),
)


class DemoError(SimError, RuntimeError):
    """The demo could not start (the message says why, with the hub's log when relevant)."""


def library_path(name: str) -> Path:
    return Path(str(files("sim") / "scenarios" / f"{name}.toml"))


@dataclass
class DemoFiles:
    """Where the demo keeps everything, all inside ``directory``."""

    directory: Path

    @property
    def devices(self) -> Path:
        return self.directory / "devices.toml"

    @property
    def secrets(self) -> Path:
        return self.directory / "secrets"

    @property
    def hub_config(self) -> Path:
        return self.directory / "hub.toml"

    @property
    def store(self) -> Path:
        return self.directory / "hub.db"

    @property
    def hub_log(self) -> Path:
        return self.directory / "hub.log"

    @property
    def control(self) -> Path:
        return self.directory / CONTROL_FILE

    def journal(self, room: DemoRoom) -> Path:
        return self.directory / "rooms" / room.room / "journal.db"


def clear_directory(directory: Path) -> None:
    """Empty a demo folder of an earlier run but its kept history; refuse a non-empty
    folder that is not one."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / CONTROL_FILE).exists() and not (directory / "hub.toml").exists():
            raise DemoError(f"{directory} is not empty and is no demo folder: choose another "
                            "with --dir")
        for entry in directory.iterdir():
            if entry.name == KEPT_DIR and entry.is_dir():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def write_files(demo: DemoFiles, rooms: Sequence[DemoRoom], *, web_port: int,
                broker_port: int) -> None:
    """The devices TOML and its passwords, the hub's configuration, the store with the PCR."""
    lines = [f'[hub]\nusername = "{HUB_USERNAME}"\n']
    for room in rooms:
        lines.append(f'[devices."{room.username}"]\nsite = "{SITE}"\nroom = "{room.room}"\n')
    demo.devices.write_text("\n".join(lines), encoding="utf-8")
    load_accounts(demo.devices, demo.secrets)  # generates every password file now
    demo.hub_config.write_text(
        "# Written by voyant-sim demo.\n"
        '[mqtt]\nreconnect_min_s = 0.2\n\n'
        f'[broker]\nmode = "embedded"\nport = {broker_port}\n'
        f'devices = "{demo.devices}"\nsecrets = "{demo.secrets}"\n\n'
        f'[store]\npath = "{demo.store}"\n\n'
        '[ingest]\nbatch_wait_ms = 5.0\n\n'
        f'[web]\nhost = "127.0.0.1"\nport = {web_port}\n', encoding="utf-8")
    add_pcr(demo.store)


def add_pcr(store: Path) -> None:
    """Create the store and the demo accounts in it: the PCR (the CRP of the page) and an
    admin, with the names a site would give them."""
    from hub.db.connection import connect
    from hub.web.accounts import add_user
    from hub.web.app import prepare_store

    prepare_store(str(store))
    conn = connect(store)
    try:
        add_user(conn, PCR_USERNAME, PCR_PASSWORD, "pcr", display_name=PCR_NAME)
        add_user(conn, ADMIN_USERNAME, ADMIN_PASSWORD, "admin", display_name=ADMIN_NAME)
    finally:
        conn.close()


def room_settings(demo: DemoFiles, room: DemoRoom, broker_port: int) -> RoomSettings:
    return RoomSettings(
        device={"site": SITE, "room": room.room},
        mqtt={"host": "127.0.0.1", "port": broker_port, "username": room.username,
              "password_file": str(demo.secrets / f"{room.username}.password"),
              "reconnect_min_s": 0.2, "reconnect_max_s": 2.0, "heartbeat_s": 10.0},
        journal=demo.journal(room),
    )
