"""The alarm bench's load in a process of its own, as the rooms are in a hospital.

Run in the bench's own process, the load's threads (two paced senders, two paho network
loops: a thousand messages a second at ten times the real load) shared one interpreter
with the PCR's stream reader, whose notice then waited for the lock of that interpreter:
a delay of the bench, not of the hub. Here they run in a child (``python
bench/load_process.py``) told what to do by one JSON line on its stdin (the broker's port,
the load's password, the rooms per connection, the seconds between two readings of a
room); it answers ``ready`` once every connection is subscribed, publishes until a line
(or the end) of its stdin, then answers ``sent N`` and exits.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ingest as load  # noqa: E402
from bench.line_child import LineChild  # noqa: E402


class LoadProcess:
    """The child and its three lines."""

    def __init__(self, port: int, password: str, per_client: list[int], every_s: float,
                 log_path: Path) -> None:
        self.child = LineChild([__file__], log_path, "the load")
        try:
            ready = self.child.ask(json.dumps({"port": port, "password": password,
                                               "per_client": per_client, "every_s": every_s}))
        except (OSError, RuntimeError):
            ready = ""
        if ready != "ready":
            self.child.close()
            raise RuntimeError(f"the load did not start: see {log_path}")

    def stop(self) -> int:
        """Stop publishing; the readings published (0 when the child died)."""
        sent = 0
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            words = self.child.ask("stop").split()
            if len(words) == 2 and words[0] == "sent":
                sent = int(words[1])
        self.child.close()
        return sent


def child() -> int:
    spec = json.loads(sys.stdin.readline())
    publishers = load.make_publishers(int(spec["port"]), str(spec["password"]),
                                      [int(n) for n in spec["per_client"]], float("inf"))
    senders = [threading.Thread(target=p.paced, args=(float(spec["every_s"]),), daemon=True)
               for p in publishers]
    for thread in senders:
        thread.start()
    print("ready", flush=True)
    sys.stdin.readline()  # "stop", or the bench gone
    for pub in publishers:
        pub.stopping.set()
    for thread in senders:
        thread.join()
    print(f"sent {sum(d.sent for p in publishers for d in p.devices)}", flush=True)
    for pub in publishers:
        pub.close()
    return 0


if __name__ == "__main__":
    sys.exit(child())
