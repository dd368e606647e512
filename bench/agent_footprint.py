"""Bench: the room agent's footprint as the box runs it (imports, resident memory, idle CPU).

Run by hand (about a minute)::

    .venv/bin/python bench/agent_footprint.py [--import-runs 5] [--settle 10] [--sample 30]

Targets of issue 18 item 4, on this machine (a Pi Zero 2 W is 5–10x slower per core):

* **Imports ≤ 0.3 s**: ``python -X importtime -c "import edge_agent.cli, edge_agent.runner"``
  in a fresh interpreter, ``--import-runs`` times; what ``voyant-edge run`` imports before
  its loop starts (``edge_agent.cli`` at start, ``edge_agent.runner`` lazily for ``run``).
  The figure is the sum of the cumulative column (µs) of the top-level imports that
  ``python -X importtime -c pass`` does not make (the interpreter's own start is not the
  agent's); the median of the runs is judged, the minimum printed beside it. The box
  runs an installed package that pip byte-compiled, as the standard library and the venv's
  packages are here, but this checkout's modules have no bytecode when
  ``PYTHONDONTWRITEBYTECODE`` is set (every one compiled at every start: 0.05 s more, and
  2 MB more resident after the run's compilations). So the judged runs import a byte-compiled
  copy of ``edge_agent``, ``wire`` and ``firmware_py`` in a temporary folder, put first on
  ``PYTHONPATH`` (an installed package); the checkout's figure is printed for information.
* **RSS ≤ 45 MB and idle CPU ≤ 1 % of one core**: ``voyant-edge run`` on the box's
  default configuration (``hardware/default-agent.toml``: every pin of the default pin
  map, the relay disabled) on gpiozero's mock pins (``GPIOZERO_PIN_FACTORY=mock``), the
  probe absent (``kind = "none"``: no frames to parse, so the idle floor), connected to a
  real Mosquitto on a free loopback port (production broker files, :mod:`sim.broker`),
  the MQTT timings at their defaults. Once its metrics endpoint says
  ``voyant_mqtt_connected 1``, it settles ``--settle`` s, then ``VmRSS`` is read from
  ``/proc/PID/status`` and ``utime + stime`` of ``/proc/PID/stat`` (all its threads)
  sampled over ``--sample`` s (the same byte-compiled copy). SIGTERM stops it; its exit code
  is printed, and whether numpy's compiled core is mapped in it (it should not be: the
  detector's thresholds ship precomputed).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provenance import commit, cores, interpreter  # noqa: E402
from hub.broker.files import DeviceAccount, HubAccount  # noqa: E402
from sim.broker import Mosquitto, MosquittoFailed, MosquittoMissing, free_port  # noqa: E402

IMPORT_TARGET_S = 0.3
RSS_TARGET_MB = 45.0
CPU_TARGET_PCT = 1.0
AGENT_IMPORTS = "import edge_agent.cli, edge_agent.runner"
START_DEADLINE_S = 60.0
SITE, ROOM = "my-hospital", "room-1"  # hardware/default-agent.toml's [device]
#: ``import time:       123 |       4567 |   name`` (the name's indentation is its depth).
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def installed_copy(folder: Path) -> Path:
    """The agent's packages copied into ``folder`` and byte-compiled, as pip installs them."""
    for package in ("edge_agent", "wire", "firmware_py"):
        shutil.copytree(ROOT / package, folder / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(folder, quiet=1):
        raise RuntimeError(f"could not byte-compile the agent's copy in {folder}")
    return folder


def env_with(path: Path | None) -> dict[str, str]:
    """This environment, with ``path`` first on ``PYTHONPATH`` (None: unchanged)."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(path), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def top_level_imports(code: str, where: Path) -> dict[str, int]:
    """Cumulative µs of each top-level import of a fresh ``python -X importtime -c code``
    run in ``where`` (its packages come first) with ``where`` first on ``PYTHONPATH``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=where,
                          capture_output=True, text=True, check=True,
                          env=env_with(None if where == ROOT else where))
    found: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and len(match.group(3)) <= 1:  # one space after "|": depth 0
            found[match.group(4)] = found.get(match.group(4), 0) + int(match.group(2))
    return found


def import_seconds(runs: int, where: Path) -> list[float]:
    baseline = set(top_level_imports("pass", where))
    times = []
    for _ in range(runs):
        mine = top_level_imports(AGENT_IMPORTS, where)
        times.append(sum(us for name, us in mine.items() if name not in baseline) / 1e6)
    return times


def agent_config(folder: Path, broker: Mosquitto, device: DeviceAccount, metrics: int) -> Path:
    """The box's default configuration, its probe absent, its journal and broker here."""
    text = (ROOT / "hardware" / "default-agent.toml").read_text(encoding="utf-8")
    text, probes = re.subn(r'(?m)^kind = "serial"', 'kind = "none"', text)
    text, journals = re.subn(r'(?m)^path = "/var/lib/voyant/journal.db"',
                             f'path = "{folder / "journal.db"}"', text)
    if (probes, journals) != (1, 1):
        raise RuntimeError("hardware/default-agent.toml changed: its [probe] kind or"
                           " [journal] path line is no longer where this bench expects it")
    secret = folder / "device.password"
    secret.write_text(device.password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    text += "\n".join(["", "[mqtt]", f'host = "{broker.host}"', f"port = {broker.port}",
                       f'username = "{device.username}"', f'password_file = "{secret}"', "",
                       "[metrics]", f"port = {metrics}", ""])
    path = folder / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def wait_until(predicate: Callable[[], bool], what: str, agent: subprocess.Popen[bytes],
               log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while not predicate():
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited ({agent.returncode}) before {what}:\n"
                               + log.read_text(errors="replace")[-2000:])
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {START_DEADLINE_S:g} s waiting for {what}:\n"
                               + log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)


def connected(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            body: bytes = answer.read()
    except OSError:
        return False
    return re.search(rb"(?m)^voyant_mqtt_connected 1(\.0)?$", body) is not None


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    found = re.search(r"(?m)^VmRSS:\s+(\d+) kB$", status)
    if found is None:
        raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
    return int(found.group(1)) / 1024


def cpu_s(pid: int) -> float:
    """utime + stime of every thread of ``pid``, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def numpy_mapped(pid: int) -> bool:
    """True if the process has numpy's compiled modules mapped (numpy imported)."""
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8", errors="replace")
    return "/numpy/" in maps


def run_agent(folder: Path, settle_s: float, sample_s: float,
              env_base: dict[str, str]) -> tuple[float, float, int, bool]:
    """(RSS MB, idle CPU % of one core, exit code, numpy loaded) of ``voyant-edge run``."""
    device = DeviceAccount(f"{SITE}.{ROOM}", secrets.token_urlsafe(18), SITE, ROOM)
    hub = HubAccount("hub", secrets.token_urlsafe(18))
    with Mosquitto(folder / "mosquitto", hub, [device]) as broker:
        metrics = free_port()
        config = agent_config(folder, broker, device, metrics)
        env = {k: v for k, v in env_base.items() if k != "NOTIFY_SOCKET"}
        env["GPIOZERO_PIN_FACTORY"] = "mock"
        log = folder / "agent.log"
        command = [str(Path(sys.executable).parent / "voyant-edge"), "run", "--config",
                   str(config)]
        with log.open("wb") as out:
            agent = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                                     env=env)
        try:
            wait_until(lambda: connected(metrics), "voyant_mqtt_connected 1", agent, log)
            time.sleep(settle_s)  # a bench's measurement window, not a wait for an event
            rss = rss_mb(agent.pid)
            numpy = numpy_mapped(agent.pid)
            before, start = cpu_s(agent.pid), time.monotonic()
            time.sleep(sample_s)
            used, elapsed = cpu_s(agent.pid) - before, time.monotonic() - start
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                code = agent.wait(20)
            except subprocess.TimeoutExpired:
                agent.kill()
                code = agent.wait()
    return rss, 100 * used / elapsed, code, numpy




def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds after connecting before measuring (default 10)")
    parser.add_argument("--sample", type=float, default=30.0,
                        help="seconds of CPU sampling (default 30)")
    args = parser.parse_args(argv)
    print(f"bench/agent_footprint.py: commit {commit()}, {cores()} cores usable"
          f" ({os.cpu_count()} on the machine), {interpreter()}")
    print(f"targets: imports <= {IMPORT_TARGET_S:g} s, RSS <= {RSS_TARGET_MB:g} MB,"
          f" idle CPU <= {CPU_TARGET_PCT:g} % of one core\n", flush=True)

    with tempfile.TemporaryDirectory(prefix="voyant-bench-agent-") as folder:
        installed = installed_copy(Path(folder) / "installed")
        runs = max(args.import_runs, 1)
        times = sorted(import_seconds(runs, installed))
        median = statistics.median(times)
        imports_ok = median <= IMPORT_TARGET_S
        print(f"imports ({AGENT_IMPORTS}, {len(times)} runs, byte-compiled as installed):"
              f" median {median:.3f} s, min {times[0]:.3f} s  {verdict(imports_ok)}", flush=True)
        source = sorted(import_seconds(runs, ROOT))
        setting = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
        print(f"  (the checkout, PYTHONDONTWRITEBYTECODE={setting!r}: median"
              f" {statistics.median(source):.3f} s, min {source[0]:.3f} s; not judged)", flush=True)
        try:
            rss, cpu, code, numpy = run_agent(Path(folder), args.settle, args.sample,
                                              env_with(installed))
        except (MosquittoMissing, MosquittoFailed, RuntimeError) as exc:
            print(f"voyant-edge run: could not measure: {exc}")
            print("overall: FAIL")
            return 1
    rss_ok, cpu_ok = rss <= RSS_TARGET_MB, cpu <= CPU_TARGET_PCT
    print(f"voyant-edge run (mock pins, probe absent, connected), after {args.settle:g} s:")
    print(f"  RSS {rss:.1f} MB  {verdict(rss_ok)}")
    print(f"  idle CPU {cpu:.2f} % of one core over {args.sample:g} s  {verdict(cpu_ok)}")
    print(f"  stopped by SIGTERM: exit code {code}")
    print(f"  numpy loaded: {'YES' if numpy else 'no'}")
    passed = imports_ok and rss_ok and cpu_ok and code == 0 and not numpy
    print("overall:", verdict(passed))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
