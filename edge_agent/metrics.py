"""Prometheus metrics of the agent on ``http://127.0.0.1:<port>/metrics`` (``[metrics] port``).

A tiny stdlib HTTP server in a thread of its own, bound to the loopback
only: a local exporter or Prometheus agent scrapes it. The text exposition
format 0.0.4, written here byte for byte as prometheus-client writes it (the
hub uses that library; the box does without its 3 MB and its imports: gauges
and counters with labels need twenty lines). At each scrape the server asks
the service for a snapshot (:class:`Metric` values): it reads what the agent's loop
thread publishes by rebinding plain attributes (never mutated in place) and
opens its own SQLite connection for the outbox depth, so a scrape never
touches the real-time loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import selectors
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_agent.logs import log
from edge_agent.outbox import oldest_record

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric family: name, help, type and its samples (labels, value)."""

    name: str
    help: str
    kind: str  # "gauge" or "counter"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


def go_float(value: float) -> str:
    """A value as Prometheus (Go) writes it: ``+Inf``, ``NaN``, ``1.7650000005e+09``."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def family_text(metric: Metric) -> str:
    """One family: ``# HELP``, ``# TYPE``, its samples (label names sorted, shared by all).

    A counter's name ends in ``_total`` (added if missing), as prometheus-client names it.
    """
    if metric.kind not in ("gauge", "counter"):
        raise ValueError(f"{metric.name}: kind {metric.kind!r}, expected gauge or counter")
    name = metric.name
    if metric.kind == "counter" and not name.endswith("_total"):
        name += "_total"
    names = sorted(metric.samples[0][0]) if metric.samples else []
    help_text = metric.help.replace("\\", "\\\\").replace("\n", "\\n")
    lines = [f"# HELP {name} {help_text}\n", f"# TYPE {name} {metric.kind}\n"]
    for labels, value in metric.samples:
        if sorted(labels) != names:
            raise ValueError(f"{metric.name}: labels {sorted(labels)}, expected {names}")
        pairs = ",".join(f'{k}="{_label_value(labels[k])}"' for k in names)
        lines.append(f"{name}{{{pairs}}} {go_float(value)}\n" if pairs
                     else f"{name} {go_float(value)}\n")
    return "".join(lines)


def render(metrics: Iterable[Metric]) -> str:
    """The text exposition format 0.0.4 of ``metrics``."""
    return "".join(family_text(metric) for metric in metrics)


def outbox_depth(journal_path: str) -> int | None:
    """Records waiting for the hub's acknowledgement, on a connection of this thread."""
    try:
        conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def oldest_record_metrics(journal_path: str, now_wall: float) -> list[Metric]:
    """The oldest record waiting for the hub's acknowledgement, and its age: an age that
    keeps growing is a stream that does not drain (NaN: unknown, as for a record queued by
    an agent older than the column, or an unreadable journal)."""
    seq, age = float("nan"), float("nan")
    try:
        conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        conn = None
    if conn is not None:
        try:
            oldest = oldest_record(conn)
            if oldest is None:
                seq, age = 0.0, 0.0
            else:
                seq = float(oldest.seq)
                if oldest.queued is not None:
                    age = max(now_wall - oldest.queued, 0.0)
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    return [
        Metric("voyant_outbox_oldest_seq", "Sequence number of the oldest record waiting for"
               " the hub's acknowledgement (0: none waits).", "gauge", [({}, seq)]),
        Metric("voyant_outbox_oldest_age_seconds", "Seconds since the oldest record waiting"
               " for the hub's acknowledgement was made (0: none waits; NaN: unknown).",
               "gauge", [({}, age)]),
    ]


def journal_metrics(writes: bool, held: int, dropped: int, reserve: bool) -> list[Metric]:
    """The journal's state: whether it writes, what waits in memory, what was dropped."""
    return [
        Metric("voyant_journal_healthy", "1 while the journal writes; 0 while records are held"
               " in memory (journal_fault).", "gauge", [({}, float(writes))]),
        Metric("voyant_journal_held_records", "Records held in memory because the journal"
               " cannot write.", "gauge", [({}, float(held))]),
        Metric("voyant_journal_dropped_readings", "Readings dropped from the full in-memory"
               " queue during the present or last journal_fault.", "gauge",
               [({}, float(dropped))]),
        Metric("voyant_journal_reserve", "1 while the journal's reserve file is in place.",
               "gauge", [({}, float(reserve))]),
    ]


class MetricsServer:
    """Serve ``collect()`` on ``GET /metrics`` at ``host:port`` (port 0: any free port)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]], port: int,
                 host: str = "127.0.0.1") -> None:
        self.collect = collect
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                try:
                    body = render(outer.collect()).encode()
                except Exception as exc:  # a failing collector must not kill the server
                    log("metrics_failed", logging.WARNING, error=repr(exc))
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes are not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="voyant-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log("metrics_started", address=f"127.0.0.1:{self.port}")

    def _serve(self) -> None:
        """Sleep until a scrape or :meth:`close`'s byte: socketserver's ``serve_forever``
        wakes every 0.5 s to see whether it must stop, the idle box's CPU for nothing."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.server, selectors.EVENT_READ)
            selector.register(self._stop_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._stop_r in ready:
                    return
                self.server.handle_request()  # readable: accepts at once, a thread per scrape

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"\0")
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.server.server_close()
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def serve_metrics(collect: Callable[[], Iterable[Metric]], port: int,
                  host: str = "127.0.0.1") -> MetricsServer | None:
    """Start the metrics server, or log why not and return None.

    Metrics are optional; the agent is not. A port already taken (another exporter,
    a second agent) or refused must not stop the agent before READY=1: systemd would
    restart it in a loop and, with the interlock relay enabled, keep X-rays blocked
    because of a monitoring nicety. So the error is logged once and the agent runs on
    without ``/metrics``.
    """
    try:
        server = MetricsServer(collect, port, host)
    except OSError as exc:
        log("metrics_unavailable", logging.WARNING, address=f"{host}:{port}", port=port,
            error=errno.errorcode.get(exc.errno or 0, "OSError"), reason=exc.strerror or str(exc),
            effect="the agent runs without metrics",
            hint="free the port or set [metrics] port to another one (0: off)")
        return None
    server.start()
    return server
