"""docs/hub.md cannot fall behind the hub: every configuration key and every table is in it."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from hub.config import HubConfig
from hub.db import migrations
from hub.db.connection import connect

DOC = Path(__file__).resolve().parent.parent / "docs" / "hub.md"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (``Tls | None`` gives ``Tls``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def config_keys(model: type[BaseModel] = HubConfig, prefix: str = "") -> list[str]:
    """Every leaf key as ``table.key`` (``mqtt.tls.ca_file``), walking the models."""
    keys = []
    for name, info in model.model_fields.items():
        nested = _models(info.annotation)
        if nested:
            for sub in nested:
                keys += config_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _documented_keys(text: str) -> set[str]:
    """``table.key`` for each ``key = `` line (commented or not) under its ``[table]``."""
    block = text.split("```toml", 1)[1].split("```", 1)[0]
    found, table = set(), ""
    for line in block.splitlines():
        header = re.match(r"^#?\s*\[([a-z_.]+)\]", line)
        if header:
            table = header.group(1)
            continue
        key = re.match(r"^#?\s*([a-z_][a-z_0-9]*) = ", line)
        if key:
            found.add(f"{table}.{key.group(1)}")
    return found


def store_tables() -> list[str]:
    """Every table of a new store (``hub.db.schema`` and ``schema_app``, by migrating)."""
    conn = connect(":memory:")
    try:
        migrations.migrate(conn)
        return sorted(str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


def test_the_walk_finds_nested_keys() -> None:
    keys = config_keys()
    assert {"mqtt.host", "mqtt.tls.ca_file", "broker.mode", "ingest.gap_timeout_s"} <= set(keys)


@pytest.mark.parametrize("key", config_keys())
def test_every_config_key_is_documented(key: str) -> None:
    assert key in _documented_keys(DOC.read_text(encoding="utf-8")), (
        f"{key}: add it to the TOML block of docs/hub.md, under [{key.rsplit('.', 1)[0]}]")


def test_the_tables_are_the_expected_ones() -> None:
    assert set(store_tables()) >= {"devices", "journals", "received", "readings", "exposures",
                                   "alarms", "live", "rejected", "events", "counters"}


@pytest.mark.parametrize("table", store_tables())
def test_every_store_table_is_documented(table: str) -> None:
    assert re.search(rf"^\| `{table}` \| ", DOC.read_text(encoding="utf-8"), re.M), (
        f"table {table}: add a row to the store table of docs/hub.md")


@pytest.mark.parametrize("event", ["data_gap", "device_offline"])
def test_every_event_is_documented(event: str) -> None:
    assert f"**`{event}`**" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "command", ["voyant-hub run", "voyant-hub check-config", "voyant-hub broker-config",
                "voyant-sim room"])
def test_the_hub_commands_are_in_the_readme(command: str) -> None:
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "\n## Hub\n" in readme
    assert command in readme.split("\n## Hub\n", 1)[1]
