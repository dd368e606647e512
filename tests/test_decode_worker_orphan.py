"""The decode worker never outlives its hub (hub/ingest/decoder.py ``watch_parent``): a hub
killed without its shutdown (SIGKILL) leaves no worker nor forkserver behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
HUB = """
import signal
from hub.ingest import decoder
decoder.PARENT_CHECK_S = 0.1
pool = decoder.DecodePool(1, 1)
pool._start()
assert pool._warm is not None and pool._pool is not None
pool._warm.result(timeout=30)
print(*pool._pool._processes, flush=True)
signal.pause()  # idle until the test kills it
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (it runs no more)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def test_a_worker_ends_when_its_hub_is_killed() -> None:
    hub = subprocess.Popen([sys.executable, "-c", HUB], cwd=ROOT, stdout=subprocess.PIPE,
                           text=True)
    try:
        assert hub.stdout is not None
        workers = [int(pid) for pid in hub.stdout.readline().split()]
        assert workers and not any(_gone(pid) for pid in workers)
        forkservers = {int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                       for pid in workers}
    finally:
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait()
    wait_until(lambda: all(_gone(pid) for pid in workers), "the orphaned worker to end")
    wait_until(lambda: all(_gone(pid) for pid in forkservers), "its forkserver to end")
