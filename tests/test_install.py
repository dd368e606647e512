"""hardware/install-pi.sh and the systemd units, without a Raspberry Pi.

The install script runs for real into a throwaway root (``--root DIR``): the
host's packages, users and services are never touched. The pip path is
exercised once with a copy of the checkout and ``--no-deps`` (the real Pi
installs the dependencies too). The units are checked with
``systemd-analyze verify`` inside that root, where the venv's
``voyant-edge`` and ``voyant-hub`` really exist.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import load_config

ROOT = Path(__file__).resolve().parent.parent
HARDWARE = ROOT / "hardware"
SCRIPT = HARDWARE / "install-pi.sh"
UNITS = HARDWARE / "systemd"
EDGE_UNIT = UNITS / "voyant-edge.service"
HUB_UNIT = UNITS / "voyant-hub.service"
SOURCE_PARTS = ("pyproject.toml", "README.md", "edge_agent", "hub", "sim", "wire", "firmware_py")
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                     if p.is_dir()), None)
IS_ROOT = os.geteuid() == 0


def run_script(*args: str | Path, check: bool = True, prefix: tuple[str, ...] = (),
               script: Path = SCRIPT, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run([*prefix, "bash", str(script), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)
    if check:
        assert done.returncode == 0, f"install-pi.sh failed:\n{done.stdout}\n{done.stderr}"
    return done


def base_python() -> str:
    """The interpreter behind this venv: the installer makes its own venv from it."""
    return getattr(sys, "_base_executable", sys.executable)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One full staged install (venv and pip included) shared by the tests below."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    source.mkdir()
    for part in SOURCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, source / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, source / part)
    root = work / "root"
    done = run_script("--root", root, "--source", source, "--python", base_python(),
                      "--pip-args", "--no-deps", "--no-apt")
    assert "venv: installed" in done.stdout
    yield root


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def passwd_entry(root: Path, file: str, name: str) -> list[str]:
    lines = [ln for ln in (root / "etc" / file).read_text().splitlines()
             if ln.split(":")[0] == name]
    assert len(lines) == 1, f"{name} appears {len(lines)} times in {file}"
    return lines[0].split(":")


# --------------------------------------------------------------------------- the script


def test_the_staged_install_lays_out_files_with_their_modes(staged: Path) -> None:
    etc = staged / "etc" / "voyant"
    expected = {
        etc: 0o750,
        etc / "agent.toml": 0o640,
        etc / "agent.toml.example": 0o640,
        staged / "var" / "lib" / "voyant": 0o750,
        staged / "etc" / "systemd" / "system" / "voyant-edge.service": 0o644,
    }
    for path, want in expected.items():
        assert path.exists(), f"{path} missing"
        assert mode(path) == want, f"{path}: mode {oct(mode(path))}, expected {oct(want)}"
    template = (HARDWARE / "default-agent.toml").read_bytes()
    assert (etc / "agent.toml").read_bytes() == template
    unit = staged / "etc/systemd/system/voyant-edge.service"
    assert unit.read_bytes() == EDGE_UNIT.read_bytes()
    # The installed configuration is valid as it stands.
    assert load_config(etc / "agent.toml").journal.path == "/var/lib/voyant/journal.db"


def test_the_user_is_a_nologin_system_user_in_gpio_and_dialout(staged: Path) -> None:
    user = passwd_entry(staged, "passwd", "voyant")
    assert 100 <= int(user[2]) < 1000 and user[6] == "/usr/sbin/nologin"
    assert user[3] == passwd_entry(staged, "group", "voyant")[2]
    for group in ("gpio", "dialout"):
        assert "voyant" in passwd_entry(staged, "group", group)[3].split(",")
    if IS_ROOT:  # chown happens only with the privilege to do it
        state = (staged / "var/lib/voyant").stat()
        assert (state.st_uid, state.st_gid) == (int(user[2]), int(user[3]))
        config = (staged / "etc/voyant/agent.toml").stat()
        assert (config.st_uid, config.st_gid) == (0, int(user[3]))


def test_pip_installed_the_package_and_its_commands_into_the_venv(staged: Path) -> None:
    venv = staged / "opt" / "voyant" / "venv"
    for command in ("voyant-edge", "voyant-hub"):
        assert os.access(venv / "bin" / command, os.X_OK), command
    assert list(venv.glob("lib/python3*/site-packages/voyant-*.dist-info")), "no voyant dist-info"
    assert list(venv.glob("lib/python3*/site-packages/edge_agent/runner.py"))


def test_the_unit_is_enabled_in_the_staged_root(staged: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed: the script skips enabling, nothing to check")
    link = staged / "etc/systemd/system/multi-user.target.wants/voyant-edge.service"
    assert link.is_symlink()
    assert os.readlink(link) == "/etc/systemd/system/voyant-edge.service"


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path but the venv: mode and content hash (or link target)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("opt/voyant/venv", "usr/")):
            continue
        if path.is_symlink():
            out[rel] = (0, os.readlink(path))
        elif path.is_file():
            out[rel] = (mode(path), hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[rel] = (mode(path), "dir")
    return out


def test_a_second_run_changes_nothing_and_keeps_the_edited_config(staged: Path) -> None:
    config = staged / "etc/voyant/agent.toml"
    edited = config.read_text().replace('room = "room-1"', 'room = "bloc-3"')
    config.write_text(edited)
    before = snapshot(staged)
    done = run_script("--root", staged, "--no-apt", "--no-pip")
    assert "left as it is" in done.stdout
    assert config.read_text() == edited  # never overwritten
    assert snapshot(staged) == before
    passwd_entry(staged, "passwd", "voyant")  # still exactly one entry
    assert load_config(config).device.room == "bloc-3"


def test_no_systemctl_installs_the_unit_without_enabling_it(tmp_path: Path) -> None:
    done = run_script("--root", tmp_path, "--no-apt", "--no-pip", "--no-systemctl")
    assert "systemctl skipped" in done.stdout
    assert (tmp_path / "etc/systemd/system/voyant-edge.service").is_file()
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()
    # Nothing was written outside the root: the script's own folder is unchanged.
    assert not (HARDWARE / "etc").exists() and not (HARDWARE / "opt").exists()


def test_bad_options_are_refused(tmp_path: Path) -> None:
    done = run_script("--root", tmp_path, "--frobnicate", check=False)
    assert done.returncode != 0 and "unknown option" in done.stderr
    done = run_script("--root", tmp_path, "--no-apt", "--source", tmp_path, check=False)
    assert done.returncode != 0 and "no pyproject.toml" in done.stderr
    assert "--root DIR" in run_script("--help").stdout


def test_a_real_install_needs_root() -> None:
    prefix: tuple[str, ...] = ()
    script = SCRIPT
    with tempfile.TemporaryDirectory() as public:
        if IS_ROOT:  # never let the test install for real: drop to nobody first
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: the script would install for real")
            prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
            # nobody may not reach a checkout in a private folder (a clone in mktemp -d):
            # it runs a world-readable copy, which stops at the same check
            os.chmod(public, 0o755)
            script = Path(public) / SCRIPT.name
            shutil.copy(SCRIPT, script)
            script.chmod(0o755)
        done = run_script("--no-apt", "--no-pip", "--no-systemctl", check=False,
                          prefix=prefix, script=script, cwd="/")
    assert done.returncode != 0 and "run as root" in done.stderr, done.stderr


def test_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(["shellcheck", "--shell=bash", str(SCRIPT)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# --------------------------------------------------------------------------- the units


def unit_items(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists: keys like DeviceAllow repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for k, v in unit_items(path)[section] if k == key]


def one(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{path.name}: [{section}] {key} set {len(found)} times"
    return found[0]


def test_the_agent_unit_keeps_its_contract() -> None:
    u = EDGE_UNIT
    expected = {
        "Type": "notify", "NotifyAccess": "main", "Restart": "always", "RestartSec": "2",
        "WatchdogSec": "30", "User": "voyant", "Group": "voyant", "Nice": "-5",
        "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/voyant", "ProtectHome": "yes",
        "PrivateTmp": "yes", "NoNewPrivileges": "yes", "StandardOutput": "journal",
        "DevicePolicy": "closed",
        "ExecStart": "/opt/voyant/venv/bin/voyant-edge run --config /etc/voyant/agent.toml",
    }
    for key, want in expected.items():
        assert one(u, "Service", key) == want, key
    assert set(one(u, "Service", "SupplementaryGroups").split()) == {"gpio", "dialout"}
    assert set(values(u, "Service", "DeviceAllow")) == {"char-gpiochip rw", "char-ttyACM rw"}
    # PrivateDevices would hide /dev/gpiochip* and /dev/ttyACM*.
    assert not values(u, "Service", "PrivateDevices")
    assert one(u, "Unit", "StartLimitIntervalSec") == "0"
    assert one(u, "Install", "WantedBy") == "multi-user.target"
    # The agent's journal is where the unit lets it write.
    journal = load_config(HARDWARE / "default-agent.toml").journal.path
    assert journal.startswith(one(u, "Service", "ReadWritePaths") + "/")
    comments = EDGE_UNIT.read_text()
    assert "WATCHDOG=1" in comments and "READY=1" in comments and "healthy" in comments


def test_the_hub_unit_keeps_its_contract() -> None:
    u = HUB_UNIT
    expected = {
        "Type": "exec", "Restart": "always", "User": "voyant-hub",
        "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/voyant-hub",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "NoNewPrivileges": "yes", "StandardOutput": "journal",
        "ExecStart": "/opt/voyant/venv/bin/voyant-hub run --config /etc/voyant/hub.toml",
    }
    for key, want in expected.items():
        assert one(u, "Service", key) == want, key
    assert not values(u, "Service", "WatchdogSec")  # the hub does not notify


def test_the_mosquitto_drop_in_restarts_always() -> None:
    drop_in = UNITS / "mosquitto.service.d" / "voyant.conf"
    assert one(drop_in, "Service", "Restart") == "always"
    assert int(one(drop_in, "Service", "LimitNOFILE")) >= 4096


@pytest.fixture(scope="module")
def unit_root(staged: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staged root plus the host's system units and the hub's unit, for systemd-analyze."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    if SYSTEM_UNITS is None:
        pytest.skip("no /usr/lib/systemd/system to verify the units against")
    target = staged / SYSTEM_UNITS.relative_to("/")
    if not target.exists():
        shutil.copytree(SYSTEM_UNITS, target, symlinks=True)
    shutil.copy2(HUB_UNIT, staged / "etc/systemd/system" / HUB_UNIT.name)
    return staged


def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_systemd_analyze_verify_finds_nothing(unit_root: Path) -> None:
    done = analyze("verify", "--man=no", "--generators=no", f"--root={unit_root}",
                   "voyant-edge.service", "voyant-hub.service")
    # verify exits 0 even for "Unknown key name ... ignoring": any message is a failure.
    report = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and report == "", report


def test_systemd_analyze_verify_would_catch_a_mistake(unit_root: Path) -> None:
    unit = unit_root / "etc/systemd/system/voyant-broken.service"
    unit.write_text(EDGE_UNIT.read_text().replace("ProtectSystem=strict", "ProtectSistem=strict")
                    .replace("Type=notify", "Type=notfy"))
    try:
        done = analyze("verify", "--man=no", "--generators=no", f"--root={unit_root}",
                       "voyant-broken.service")
    finally:
        unit.unlink()
    report = done.stdout + done.stderr
    assert re.search(r"Unknown key.*ProtectSistem", report), report
    assert "notfy" in report


@pytest.mark.parametrize("unit", ["voyant-edge.service", "voyant-hub.service"])
def test_hardening_exposure_is_low(unit_root: Path, unit: str) -> None:
    done = analyze("security", "--offline=yes", f"--root={unit_root}", "--no-pager", unit)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    if match is None:
        pytest.skip(f"this systemd-analyze has no offline security review: {done.stderr[:200]}")
    assert float(match.group(1)) <= 3.0, done.stdout[-2000:]
