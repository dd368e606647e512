"""Where a bench's figures come from: the commit and the cores (issue 18: every bench prints
its PASS/FAIL, the core count and the commit, so that a figure can be traced)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The short commit of the checkout, said when files it tracks have changed since."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    head = head or "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def cores() -> int:
    """The cores this process may run on (a container's or taskset's share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def interpreter() -> str:
    """The Python version and the interpreter the venv was made from: two builds of the same
    version differ (this machine's pyenv 3.11.7 ran pure Python a third slower than
    Debian's 3.11.2), so a figure names the one that made it."""
    base = getattr(sys, "_base_executable", sys.executable)
    return f"Python {sys.version.split()[0]} ({os.path.realpath(base)})"
