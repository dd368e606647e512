"""The inspector's script of ``docs/protocol.md``, taken from the page and run without
Voyant (``python -I -S``: the standard library only) on exports of a real ingest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hub.chain.export import export_lines
from hub.db.connection import connect
from tests.hub_factory import DEVICE, JOURNAL, T0, core, open_store, reading
from tests.test_hub_chain import chained, mixed, send, send_all
from wire.chain import record_hash

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
BLOCK = re.compile(r"<!-- inspector-script -->\s*```python\n(.*?)```\s*<!-- /inspector-script -->",
                   re.DOTALL)


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [text] = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("inspector") / "check_export.py"
    path.write_text(text, encoding="utf-8")
    return path


def inspect(script: Path, export: Path) -> subprocess.CompletedProcess[str]:
    """The script as an inspector runs it: a bare interpreter, no site, no Voyant."""
    return subprocess.run([sys.executable, "-I", "-S", str(script), str(export)],
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=export.parent)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Records of every kind, one quarantined, a range declared lost, through the ingest."""
    where = tmp_path_factory.mktemp("hub")
    store = open_store(where)
    hub = core(store)
    items = mixed()
    send_all(hub, items)
    more = chained([reading(9), {**reading(10), "counts": -1}, reading(11)],
                   prev=record_hash(items[-1]))
    hub.handle_batch([send("readings", more)], T0 + 10)
    hub.handle_batch([send("readings", chained([reading(15)], prev="d" * 64), oldest=15)],
                     T0 + 20)
    store.close()
    conn = connect(where / "hub.db")
    path = where / "export.jsonl"
    path.write_text("".join(line + "\n" for line in export_lines(conn, DEVICE)),
                    encoding="utf-8")
    conn.close()
    return path


def test_the_script_cannot_see_voyant(script: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import importlib.util, sys\n"
                     "sys.exit(any(importlib.util.find_spec(m) for m in ('hub', 'wire')))\n",
                     encoding="utf-8")
    assert subprocess.run([sys.executable, "-I", "-S", str(probe)], check=False,
                          cwd=tmp_path, timeout=60).returncode == 0


def test_an_intact_export_is_intact_with_its_head(script: Path, export: Path) -> None:
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert {e["status"] for e in lines} == {"stored", "quarantined", "lost"}
    head = lines[-1]
    done = inspect(script, export)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "intact"
    assert (f"{DEVICE} {JOURNAL}: 12 records, 3 declared lost, head 15 {head['hash']}"
            in done.stdout)


def test_an_edited_value_is_found_with_its_line(script: Path, export: Path,
                                                tmp_path: Path) -> None:
    lines = export.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[1])  # seq 2, a reading
    entry["record"]["cpm"] = 7.0
    lines[1] = json.dumps(entry)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = inspect(script, edited)
    assert done.returncode == 1
    assert "BROKEN line 2, seq 2: the record does not match its hash" in done.stdout
    assert "line 3, seq 3: prev is not the hash of seq 2" in done.stdout


def test_a_record_left_out_is_found(script: Path, export: Path, tmp_path: Path) -> None:
    lines = export.read_text(encoding="utf-8").splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:4] + lines[5:]) + "\n", encoding="utf-8")
    done = inspect(script, cut)
    assert done.returncode == 1
    assert "seq 5..5 missing, not declared" in done.stdout


def _rewritten(export: Path, tmp_path: Path, change: object) -> Path:
    """The export with ``change(entry)`` applied to each record line."""
    out = []
    for line in export.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["status"] != "lost":
            change(entry)  # type: ignore[operator]
        out.append(json.dumps(entry))
    path = tmp_path / "rewritten.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_a_stored_record_whose_hash_was_removed_is_found(script: Path, export: Path,
                                                         tmp_path: Path) -> None:
    def alter(entry: dict[str, object]) -> None:
        if entry["seq"] == 2:
            entry["record"]["cpm"] = 7.0  # type: ignore[index]
            entry["hash"] = None
    done = inspect(script, _rewritten(export, tmp_path, alter))
    assert done.returncode == 1
    assert "BROKEN line 2, seq 2: a stored record without its hash" in done.stdout
    assert "line 3, seq 3: prev is not the hash of seq 2" in done.stdout


def test_a_tail_stripped_of_its_links_and_rehashed_is_found(script: Path, export: Path,
                                                            tmp_path: Path) -> None:
    """Without the rule, records whose prev was removed (and hashes recomputed) would pass
    for records made before the chain."""
    def strip(entry: dict[str, object]) -> None:
        if isinstance(entry["seq"], int) and entry["seq"] >= 9:
            record = entry["record"]
            assert isinstance(record, dict)
            record.pop("prev", None)
            entry["hash"] = record_hash(record)
    done = inspect(script, _rewritten(export, tmp_path, strip))
    assert done.returncode == 1
    assert "seq 9: the chain stops (no prev after a chained record)" in done.stdout
