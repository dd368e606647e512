"""The docs cannot fall behind the code: every alarm kind, config key and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_agent.config import Metrics, Mqtt, Probe, Rules, Tls
from edge_agent.monitor.rules import RULES, After, FluoroscopyTime, Rule
from wire.kinds import ALARM_KINDS, KINDS

ROOT = Path(__file__).resolve().parent.parent


def text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def table(doc: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table after ``heading``."""
    lines = text(doc).split(f"\n{heading}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:  # past the header and its rule
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def alarm_kinds_table() -> dict[str, dict[str, str]]:
    """docs/monitor.md's table of alarm kinds, by kind, each row by column."""
    header = ["kind", "raised when", "grace", "cleared when", "severity", "where"]
    found: dict[str, dict[str, str]] = {}
    for row in table("docs/monitor.md", "## Alarm kinds"):
        assert len(row) == len(header), row
        kind = row[0].strip("`")
        assert kind not in found, f"{kind} is in the table twice"
        found[kind] = dict(zip(header, row, strict=True))
    return found


def test_the_alarm_kinds_table_is_the_rule_table() -> None:
    assert list(alarm_kinds_table()) == [rule.kind for rule in RULES]
    assert set(ALARM_KINDS) == {rule.kind for rule in RULES}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.kind)
def test_each_alarm_kind_says_where_its_rule_lives(rule: Rule) -> None:
    row = alarm_kinds_table()[rule.kind]
    function = rule.condition
    assert function.__module__ == "edge_agent.monitor.rules"
    assert row["where"].split(" (")[0] == f"`rules.{function.__name__}`", row["where"]
    assert row["severity"] == KINDS[rule.kind].severity
    if isinstance(rule.grace, After):
        assert row["grace"] == f"`{rule.grace.key}`"
    elif isinstance(rule.grace, FluoroscopyTime):
        assert row["grace"].startswith(f"`{rule.grace.key}`")
    else:
        assert row["grace"].split(" ")[0] in ("0", "statistical"), row["grace"]


def test_the_hub_doc_lists_the_vocabulary() -> None:
    rows = table("docs/hub.md", "### Kinds")
    assert rows == [[f"`{kind}`", k.by, k.severity, k.about, k.fr, k.en]
                    for kind, k in KINDS.items()]


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
