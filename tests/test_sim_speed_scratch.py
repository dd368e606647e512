"""A play's throwaway journal goes to RAM when there is room, and never against TMPDIR."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from sim import room


def _ram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int) -> Path:
    ram = tmp_path / "ram"
    ram.mkdir()
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(room, "RAM_DIR", str(ram))
    monkeypatch.setattr(room, "RAM_FREE_MIN", free)
    return ram


def test_scratch_goes_to_ram_with_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ram = _ram(tmp_path, monkeypatch, 0)
    with room.scratch_dir() as scratch:
        assert Path(scratch).parent == ram


def test_scratch_stays_on_disk_without_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ram = _ram(tmp_path, monkeypatch, 1 << 62)
    disk = tmp_path / "disk"
    disk.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    with room.scratch_dir() as scratch:
        assert Path(scratch).parent == disk != ram


def test_tmpdir_wins_and_a_missing_ram_dir_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ram(tmp_path, monkeypatch, 0)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert room._ram_dir() is None
    monkeypatch.delenv("TMPDIR")
    monkeypatch.setenv("TMP", str(tmp_path))  # tempfile's other names too
    assert room._ram_dir() is None
    monkeypatch.delenv("TMP")
    monkeypatch.setattr(room, "RAM_DIR", str(tmp_path / "absent"))
    assert room._ram_dir() is None
