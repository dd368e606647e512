"""docs/protocol.md and wire/contract.py say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from wire import contract as wire

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")

MODELS: list[type[BaseModel]] = [
    wire.ReadingItem, wire.ExposureItem, wire.AlarmItem, wire.Status, wire.Live, wire.ActiveAlarm,
    wire.Ack, wire.ReadingBatch,
]


def table_rows() -> dict[str, tuple[int, bool]]:
    rows = {}
    for match in re.finditer(r"^\| `(\w+)`\s*\|[^|]*\|\s*(\d)\s*\|\s*(yes|no)\s*\|", DOC, re.M):
        rows[match.group(1)] = (int(match.group(2)), match.group(3) == "yes")
    return rows


def test_the_topic_table_lists_every_kind_with_its_qos_and_retention() -> None:
    rows = table_rows()
    assert set(rows) == set(wire.QOS)
    for kind, (qos, retained) in rows.items():
        assert (wire.QOS[kind], wire.RETAIN[kind]) == (qos, retained), kind


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_payload_field_is_documented(model: type[BaseModel]) -> None:
    for field in model.model_fields:
        assert f"`{field}`" in DOC, f"{model.__name__}.{field} is not in docs/protocol.md"


def test_the_limits_in_the_doc_are_the_contract_s() -> None:
    assert f"`MAX_BATCH` = {wire.MAX_BATCH}" in DOC
    assert f"{wire.MAX_PAYLOAD_BYTES // 1024} KiB" in DOC
    assert wire.HUB_SUBSCRIPTION in DOC and wire.ROOT in DOC
