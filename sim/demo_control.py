"""The running demo's control endpoint on loopback, and its client (``voyant-sim demo --inject``).

``POST /inject`` ``{"room": ..., "fault": ..., "duration_s": ...}`` injects a
fault into a playing room; ``GET /status`` says what runs. Apart from
:mod:`sim.demo` so that the wire between a running demo and the command (or
the browser tests) reads in one place, both ends together.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from sim.demo_files import CONTROL_FILE


class Controlled(Protocol):
    """What the endpoint asks of the running demo (:class:`sim.demo.Demo`)."""

    def status(self) -> dict[str, Any]: ...

    def inject(self, room: str, kind: str, duration_s: float = 5.0) -> None: ...


def control_server(demo: Controlled, port: int) -> ThreadingHTTPServer:
    """The endpoint bound on ``127.0.0.1:port`` (0: any free port), not yet serving."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/status":
                self._reply(200, demo.status())
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/inject":
                self._reply(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                demo.inject(str(body.get("room", "")), str(body.get("fault", "")),
                            float(body.get("duration_s", 5.0)))
            except (ValueError, KeyError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"ok": True, "room": body["room"], "fault": body["fault"]})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the demo's terminal shows the URL and the login

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def send_inject(directory: Path, room: str | None, kind: str, duration_s: float = 5.0) -> int:
    """``voyant-sim demo --inject KIND --room R``: ask the running demo; 0 done, 1 not."""
    try:
        info = json.loads((directory / CONTROL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"voyant-sim demo: no demo running in {directory} (start it with "
              "`voyant-sim demo`, or give its --dir)", file=sys.stderr)
        return 1
    rooms: list[str] = info.get("rooms", [])
    target = room or (rooms[-1] if rooms else "")
    try:
        reply = post_inject(str(info["control"]), target, kind, duration_s)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        print(f"voyant-sim demo: {exc}", file=sys.stderr)
        return 1
    print(f"injected {kind} ({duration_s:g} s) into {reply.get('room', target)}: "
          f"see {info.get('url', '')}/events")
    return 0


def post_inject(control_url: str, room: str, kind: str, duration_s: float = 5.0
                ) -> dict[str, Any]:
    """POST one injection to a running demo's control endpoint; ValueError on refusal."""
    body = json.dumps({"room": room, "fault": kind, "duration_s": duration_s}).encode()
    request = urllib.request.Request(f"{control_url}/inject", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5.0) as response:
            reply: dict[str, Any] = json.loads(response.read())
            return reply
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", str(exc))
        raise ValueError(f"refused: {detail}") from None
