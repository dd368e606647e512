"""A bench's child process, spoken to in lines: an order on its stdin, an answer on its stdout.

The alarm bench's emitting room and its load each run in a process of their own, so that
their threads do not share the bench's interpreter (bench/alarm_latency.py,
bench/load_process.py); both are driven through this one class, and stopped the same way
whatever state they are in.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LineChild:
    """``python ARGV...`` in the repository root, its stderr in ``log_path``."""

    def __init__(self, argv: list[str], log_path: Path, what: str) -> None:
        self.what = what
        self.log = log_path.open("wb")
        self.process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log)

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self) -> str:
        """Its next line; RuntimeError when it has exited instead."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.what} exited ({self.process.wait()})")
        return line.strip()

    def ask(self, line: str) -> str:
        self.say(line)
        return self.answer()

    def close(self, last: str | None = None, timeout_s: float = 30.0) -> None:
        """Say ``last`` if it still runs, wait for it to exit (killed after ``timeout_s``)."""
        with contextlib.suppress(OSError, ValueError):
            if last is not None and self.process.poll() is None:
                self.say(last)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
