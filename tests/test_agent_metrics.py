"""The agent's Prometheus endpoint: loopback only, text format 0.0.4, the documented
metrics, escaped labels, 404 elsewhere — and never a reason for the agent not to start.

The port is optional monitoring; the agent is a safety monitor (with the interlock
relay enabled, an agent that does not start blocks X-rays). So a metrics port that is
already taken must be a logged warning, not a failed start and a systemd restart loop.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from prometheus_client import REGISTRY, generate_latest

from edge_agent.config import Metrics, parse_config
from edge_agent.journal_hold import AGENT_ALARM_KINDS
from edge_agent.logs import LOGGER
from edge_agent.metrics import CONTENT_TYPE, Metric, MetricsServer, render, serve_metrics
from edge_agent.runner import Service
from edge_agent.sdnotify import Notifier
from edge_agent.timesync import ClockSync
from sim.broker import free_port
from tests.conftest import received
from wire.kinds import ALARM_KINDS

ROOT = Path(__file__).resolve().parent.parent
#: One sample line of the text format: name, optional {labels}, value.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*"'
                    r'(?:,[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\\n]|\\[\\"n])*)"')


class Records(logging.Handler):
    """The agent's structured log events, as (level, event, fields)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[tuple[int, str, dict[str, object]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((record.levelno, record.getMessage(), getattr(record, "fields", {})))


@pytest.fixture
def logged() -> Iterator[Records]:
    """Listens on the agent's logger itself: ``setup_logging`` turns propagation off."""
    handler = Records()
    LOGGER.addHandler(handler)
    level = LOGGER.level
    LOGGER.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)


def get(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    """Status, Content-Type and body of GET ``path`` on the loopback."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def parse(text: str) -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
    """A strict reading of the text format: every family is ``# HELP``, ``# TYPE``, then
    its samples; anything else fails the test. Returns name -> (type, samples)."""
    assert text.endswith("\n")
    families: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {}
    current = ""
    lines = text[:-1].split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            current = line.split(" ")[2]
            assert current not in families, f"{current} twice"
            assert lines[i + 1].startswith(f"# TYPE {current} "), lines[i + 1]
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current and kind in ("gauge", "counter"), line
            families[name] = (kind, [])
        else:
            match = SAMPLE.match(line)
            assert match and match.group(1) == current, f"not a sample of {current}: {line!r}"
            labels = dict(LABEL.findall(match.group(2) or ""))
            families[current][1].append((labels, float(match.group(3))))
    return families


def documented_metrics() -> set[str]:
    """The metric names of the **Metrics** paragraph of docs/configuration.md."""
    doc = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    paragraph = doc[doc.index("**Metrics**"):].split("\n\n")[0]
    return set(re.findall(r"`(voyant_[a-z_]+)", paragraph))


def room_config(tmp_path: Path) -> dict[str, object]:
    return {
        "device": {"site": "test", "room": "r1"},
        "pins": {"door": {"corridor": {"pin": 16, "active": "high"}}},
        "probe": {"kind": "none"}, "journal": {"path": str(tmp_path / "journal.db")},
    }


def service(tmp_path: Path, notify_path: str, factory: MockFactory, port: int) -> Service:
    return Service(parse_config(room_config(tmp_path)),
                   notifier=Notifier(notify_path, watchdog_usec=1_000_000),
                   clock_sync=ClockSync.fixed(True), metrics_port=port, pin_factory=factory)


def iterate_until(svc: Service, done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Loop the service until ``done()`` (polled, with a deadline)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        svc.iterate()


# -- the port -------------------------------------------------------------------------


def test_the_documented_port_is_the_default() -> None:
    """Every mention of the port in docs/configuration.md follows ``[metrics] port``'s default
    (it is in the example, the table, the URL and the warning's example)."""
    doc = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    block = doc[doc.index("[metrics]"):]
    mentions = [re.search(r"^port = (\d+)", block, re.M), re.search(
        r"^\| `metrics\.port` \| (\d+) \|", doc, re.M)]
    assert all(mentions)
    ports = {int(m.group(1)) for m in mentions if m}
    ports |= {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", doc)}
    units = (ROOT / "hardware/systemd/README.md").read_text(encoding="utf-8")
    ports |= {int(p) for p in re.findall(r"`127\.0\.0\.1:(\d+)` \(`\[metrics\] port`", units)}
    assert len(ports) == 1 and ports == {Metrics().port}, ports


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on (another exporter, a second agent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def test_a_taken_metrics_port_is_a_warning_and_the_agent_runs(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], mock_factory: MockFactory,
    taken_port: int, logged: Records,
) -> None:
    sock, path = notify_socket
    svc = service(tmp_path, path, mock_factory, taken_port)
    svc.start()  # used to raise OSError before READY=1: a restart loop under systemd
    try:
        assert svc.metrics is None
        sent = received(sock)
        assert sent[0] == "STATUS=starting" and sent[1].startswith("READY=1\n"), sent
        warnings = {e: f for lvl, e, f in logged.events if lvl == logging.WARNING}
        assert "metrics_unavailable" in warnings, logged.events
        fields = warnings["metrics_unavailable"]
        assert fields["port"] == taken_port and fields["address"] == f"127.0.0.1:{taken_port}"
        assert fields["error"] == "EADDRINUSE" and "without metrics" in str(fields["effect"])

        agent = svc.agent
        assert agent is not None
        mock_factory.pin(17).drive_low()  # emission nobody asked for: an alarm to journal
        iterate_until(svc, lambda: any(a["kind"] == "unsolicited_emission"
                                       for a in agent.journal.alarms()))
        iterate_until(svc, lambda: "WATCHDOG=1" in received(sock))
        assert agent.health() is None and agent.journal.outbox_state()["waiting"] > 0
    finally:
        svc.close()
    assert received(sock)[-1].startswith("STOPPING=1")


def test_serve_metrics_gives_none_for_a_taken_port(taken_port: int, logged: Records) -> None:
    assert serve_metrics(list, taken_port) is None
    assert [e for _, e, _ in logged.events] == ["metrics_unavailable"]


# -- the endpoint ---------------------------------------------------------------------


@pytest.fixture
def running(tmp_path: Path, notify_socket: tuple[socket.socket, str],
            mock_factory: MockFactory) -> Iterator[tuple[Service, int]]:
    """A started agent serving its metrics; yields it and its port."""
    port = free_port()
    svc = service(tmp_path, notify_socket[1], mock_factory, port)
    svc.start()
    try:
        assert svc.metrics is not None, "metrics port lost to a race: run again"
        yield svc, port
    finally:
        svc.close()


def test_the_server_binds_the_loopback_only(running: tuple[Service, int]) -> None:
    svc, port = running
    assert svc.metrics is not None
    assert svc.metrics.server.server_address == ("127.0.0.1", port)
    other = non_loopback_address()
    if other is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
        pass


def non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_a_scrape_is_the_text_format_with_the_documented_metrics(
    running: tuple[Service, int], mock_factory: MockFactory
) -> None:
    svc, port = running
    iterate_until(svc, lambda: svc.agent is not None and svc.agent.health() is None)
    status, content_type, text = get(port)
    assert status == 200 and content_type == CONTENT_TYPE
    families = parse(text)
    assert set(families) == documented_metrics()  # the docs list exactly what is served
    for name, (kind, samples) in families.items():
        assert kind == ("counter" if name.endswith("_total") else "gauge"), name
        assert samples, name
    for name in ("voyant_alarms_active", "voyant_alarms_total"):
        assert sorted(labels["kind"] for labels, _ in families[name][1]) == sorted(
                (*ALARM_KINDS, *AGENT_ALARM_KINDS))
    value = {name: samples[0][1] for name, (_, samples) in families.items()}
    assert value["voyant_agent_uptime_seconds"] >= 0 and value["voyant_agent_healthy"] == 1
    assert value["voyant_outbox_records"] >= 0 and value["voyant_journal_bytes"] > 0
    assert math.isnan(value["voyant_last_reading_age_seconds"])  # no probe: no reading yet
    assert value["voyant_clock_synced"] == 1 and value["voyant_mqtt_connected"] == 0

    mock_factory.pin(17).drive_low()  # emission nobody asked for
    agent = svc.agent
    assert agent is not None
    iterate_until(svc, lambda: "unsolicited_emission" in agent.active_alarm_kinds)
    after = parse(get(port)[2])
    for name in ("voyant_alarms_active", "voyant_alarms_total"):
        by_kind = {labels["kind"]: v for labels, v in after[name][1]}
        assert by_kind["unsolicited_emission"] == 1, name
    assert after["voyant_outbox_records"][1][0][1] > value["voyant_outbox_records"]


@pytest.mark.parametrize("path", ["/", "/metrics/", "/metricsx", "/favicon.ico", "/api"])
def test_other_paths_are_404(running: tuple[Service, int], path: str) -> None:
    status, _, _ = get(running[1], path)
    assert status == 404


def test_a_query_string_is_still_the_metrics(running: tuple[Service, int]) -> None:
    status, _, text = get(running[1], "/metrics?name[]=voyant_agent_healthy")
    assert status == 200 and "voyant_agent_healthy" in text


# -- the text format ------------------------------------------------------------------


def test_labels_and_help_are_escaped() -> None:
    metric = Metric("voyant_test", 'a \\ help\nwith "quotes"', "gauge",
                    [({"kind": 'a"b\\c\nd', "room": "salle-3"}, 1.5),
                     ({"room": "r", "kind": "k"}, 2.0)])
    assert render([metric]) == (
        '# HELP voyant_test a \\\\ help\\nwith "quotes"\n'
        "# TYPE voyant_test gauge\n"
        'voyant_test{kind="a\\"b\\\\c\\nd",room="salle-3"} 1.5\n'
        'voyant_test{kind="k",room="r"} 2.0\n'
    )
    (labels, _), _ = parse(render([metric]))["voyant_test"][1]
    assert labels == {"kind": 'a\\"b\\\\c\\nd', "room": "salle-3"}  # one line, well formed


def test_a_family_has_one_set_of_label_names() -> None:
    with pytest.raises(ValueError, match="voyant_test: labels"):
        render([Metric("voyant_test", "h", "gauge", [({"kind": "a"}, 1.0), ({}, 2.0)])])


def test_counters_keep_their_names_and_the_default_registry_is_untouched() -> None:
    text = render([Metric("voyant_alarms_total", "by kind", "counter", [({"kind": "x"}, 3)])])
    assert text == ("# HELP voyant_alarms_total by kind\n# TYPE voyant_alarms_total counter\n"
                    'voyant_alarms_total{kind="x"} 3.0\n')
    assert "voyant_alarms_total" not in generate_latest(REGISTRY).decode()


def test_escaped_labels_are_served(logged: Records) -> None:
    def collect() -> Iterable[Metric]:
        return [Metric("voyant_alarms_active", "by kind", "gauge", [({"kind": 'x"\n'}, 1)])]

    server = MetricsServer(collect, 0)
    server.start()
    try:
        status, _, text = get(server.port)
    finally:
        server.close()
    assert status == 200 and 'voyant_alarms_active{kind="x\\"\\n"} 1.0\n' in text


@pytest.mark.parametrize(("value", "text"), [
    (3, "3.0"), (2.5, "2.5"), (0.0, "0.0"), (float("nan"), "NaN"), (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"), (1e-7, "1e-07"), (1765000000.5, "1.7650000005e+09"),
])
def test_values(value: float, text: str) -> None:
    assert render([Metric("m", "h", "gauge", [({}, value)])]).endswith(f"\nm {text}\n")


def test_a_failing_collector_is_a_500_and_the_server_lives_on(logged: Records) -> None:
    calls = []

    def collect() -> Iterable[Metric]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("journal busy")
        return [Metric("voyant_agent_healthy", "h", "gauge", [({}, 1)])]

    server = MetricsServer(collect, 0)
    server.start()
    try:
        assert get(server.port)[0] == 500
        assert get(server.port)[:1] == (200,)
    finally:
        server.close()
    assert "metrics_failed" in [e for _, e, _ in logged.events]
