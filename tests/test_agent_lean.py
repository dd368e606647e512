"""The box installs and imports only the agent's dependencies (issue 18, a lean agent)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

from edge_agent.journal_db import JournalDb

ROOT = Path(__file__).resolve().parents[1]
HUB_ONLY = ("fastapi", "weasyprint", "sqlite_utils", "amqtt", "aiomqtt", "uvicorn", "babel",
            "pydicom", "pynetdicom", "starlette", "jinja2")
HUB_DISTS = {"fastapi", "weasyprint", "sqlite-utils", "amqtt", "aiomqtt", "uvicorn", "babel",
             "pydicom", "pynetdicom", "jinja2", "argon2-cffi", "sse-starlette"}


def _dist(requirement: str) -> str:
    name = requirement.split(";")[0]
    for sep in "<>=![ ":
        name = name.split(sep)[0]
    return name.strip().lower()


def test_the_agents_entry_modules_import_none_of_the_hubs_packages() -> None:
    code = ("import json, sys\nimport edge_agent.cli, edge_agent.agent, edge_agent.runner\n"
            "print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not loaded & set(HUB_ONLY), sorted(loaded & set(HUB_ONLY))
    assert "edge_agent" in loaded


def test_the_agents_run_path_never_imports_numpy() -> None:
    """The box's configuration through the agent's entry modules and both detectors (the
    probe at either position): the thresholds come from the shipped table, not numpy."""
    code = ("import json, sys\nimport edge_agent.cli, edge_agent.runner\n"
            "from edge_agent.config import load_config\n"
            "from edge_agent.dose.calibrations import calibration_from_config\n"
            "from edge_agent.monitor.probe_watch import ProbeWatch\n"
            "c = load_config('hardware/default-agent.toml')\n"
            "for position in ('inside', 'outside'):\n"
            "    w = ProbeWatch(c.rules, calibration_from_config(c), c.probe.background_usv_h,"
            " position, c.probe.frame_s, 0.0)\n"
            "    assert w.rise.bank.thresholds and w.high.bank.thresholds\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "edge_agent.monitor.probe_watch" in loaded
    assert not {m for m in loaded if m == "numpy" or m.startswith("numpy.")}
    assert "thresholds_computing" not in done.stdout + done.stderr  # looked up, not computed


def test_the_base_dependencies_hold_none_of_the_hubs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_dist(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not base & HUB_DISTS, sorted(base & HUB_DISTS)
    assert {_dist(r) for r in extras["hub"]} >= HUB_DISTS
    assert {"gpiozero", "pyserial", "pydantic", "paho-mqtt"} <= base
    assert "numpy" not in base
    assert "numpy" in {_dist(r) for r in extras["hub"]} | {_dist(r) for r in extras["sim"]}
    assert any(r.startswith("voyant[") and "hub" in r and "sim" in r for r in extras["dev"])


def test_install_pi_installs_the_agent_extra_only() -> None:
    script = (ROOT / "hardware" / "install-pi.sh").read_text()
    installs = [ln for ln in script.splitlines() if '"${SOURCE}[' in ln]
    assert [ln.strip() for ln in installs] == ['"${SOURCE}[pi]"']


def test_the_journal_connection_commits_a_lone_write_and_joins_a_transaction() -> None:
    db = JournalDb(sqlite3.connect(":memory:"))
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    db.execute("INSERT INTO t VALUES (?, ?)", ["a", 1])
    assert not db.conn.in_transaction
    with contextlib.suppress(sqlite3.IntegrityError), db.conn:
        db.conn.execute("BEGIN IMMEDIATE")  # as Journal._write opens its transactions
        db.execute("INSERT INTO t VALUES (?, ?)", ["b", 2])
        assert db.conn.in_transaction
        db.execute("INSERT INTO t VALUES (?, ?)", ["a", 3])  # duplicate key: all undone
    assert list(db.query("SELECT k, v FROM t ORDER BY k")) == [{"k": "a", "v": 1}]


def test_a_failed_lone_write_leaves_no_transaction_open() -> None:
    db = JournalDb(sqlite3.connect(":memory:"))
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES ('a')")
    with contextlib.suppress(sqlite3.IntegrityError):
        db.execute("INSERT INTO t VALUES ('a')")
    assert not db.conn.in_transaction


def test_the_agents_metrics_text_is_prometheus_clients_byte_for_byte() -> None:
    """The box writes the text format itself; the hub's library (here, in the test) agrees."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from edge_agent.metrics import Metric, render

    values = [0.0, 1.0, -2.5, 3, 1e-7, 123456.0, 1234567.0, 1765000000.5, 1e22, -1e22,
              float("nan"), float("inf"), float("-inf")]
    metrics = [
        Metric("voyant_a", 'help \\ with\nnewline and "quotes"', "gauge",
               [({"kind": f'k{i}"\\\n', "room": "é"}, v) for i, v in enumerate(values)]),
        Metric("voyant_b", "no labels", "gauge", [({}, 42.0)]),
        Metric("voyant_c_total", "a counter", "counter", [({"kind": "x"}, 3.0)]),
        Metric("voyant_d", "a counter named without _total", "counter", [({}, 1.0)]),
        Metric("voyant_e", "no sample yet", "gauge", []),
    ]

    class Collector:
        def collect(self) -> list[GaugeMetricFamily | CounterMetricFamily]:
            out: list[GaugeMetricFamily | CounterMetricFamily] = []
            for m in metrics:
                names = sorted(m.samples[0][0]) if m.samples else []
                kind = CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily
                family = kind(m.name, m.help, labels=names)
                for labels, value in m.samples:
                    family.add_metric([labels[n] for n in names], value)
                out.append(family)
            return out

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    assert render(metrics) == generate_latest(registry).decode()
