"""The docs cannot fall behind the code: every alarm kind, config key and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_agent.config import Metrics, Mqtt, Probe, Rules, Tls
from edge_agent.monitor.kinds import ALARM_KINDS

ROOT = Path(__file__).resolve().parent.parent


def text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ALARM_KINDS)
def test_every_alarm_kind_is_documented(kind: str) -> None:
    assert f"`{kind}`" in text("docs/monitor.md")


@pytest.mark.parametrize("key", sorted(Rules.model_fields))
def test_every_rule_key_is_documented(key: str) -> None:
    assert re.search(rf"^{key} = ", text("docs/configuration.md"), re.M) or (
        f"# {key} = " in text("docs/configuration.md")
    )


@pytest.mark.parametrize("key", sorted(Probe.model_fields))
def test_every_probe_key_is_documented(key: str) -> None:
    assert re.search(rf"^#? ?{key} = ", text("docs/configuration.md"), re.M)


MQTT_KEYS = sorted(set(Mqtt.model_fields) - {"tls"}) + sorted(f"tls.{k}" for k in Tls.model_fields)


@pytest.mark.parametrize("key", MQTT_KEYS)
def test_every_mqtt_key_is_documented(key: str) -> None:
    doc, leaf = text("docs/configuration.md"), key.split(".")[-1]
    assert re.search(rf"^#? ?{leaf} = ", doc, re.M), f"{key} is not in the example"
    assert f"`mqtt.{key}`" in doc or f"`{leaf}`" in doc, f"{key} is not in the table"


@pytest.mark.parametrize("key", sorted(Metrics.model_fields))
def test_every_metrics_key_is_documented(key: str) -> None:
    doc = text("docs/configuration.md")
    assert re.search(rf"^#? ?{key} = ", doc, re.M) and f"`metrics.{key}`" in doc


@pytest.mark.parametrize(
    "metric",
    ["voyant_agent_uptime_seconds", "voyant_agent_healthy", "voyant_outbox_records",
     "voyant_journal_bytes", "voyant_last_reading_age_seconds", "voyant_alarms_active",
     "voyant_alarms_total", "voyant_mqtt_connected", "voyant_clock_synced"],
)
def test_every_agent_metric_is_documented(metric: str) -> None:
    assert f"`{metric}" in text("docs/configuration.md")


@pytest.mark.parametrize(
    "command",
    ["voyant-edge run", "voyant-edge check-config", "voyant-edge journal",
     "voyant-edge selftest", "voyant-sim run",
     "voyant-sim demo", "voyant-hub version"],
)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert command in text("README.md")


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(text("README.md").splitlines()[:10])
    assert "make demo" in head and "make test" in head
