"""The tree's structure rules (#13), checked on the source so that a breach fails naming where.

* no module over :data:`MAX_LINES` lines outside ``tests/`` and ``bench/``;
* ``hub/reports`` never imports the web layer (``hub.web``): reports are made
  from the store, the web only shows them;
* SQLite is opened only inside ``hub/db/`` among the hub's modules (one
  ``connect()``, the pragmas always); the agent's journal is the agent's own
  store, and sim and bench are outside the rule;
* ``wire/`` imports only the standard library, pydantic and itself, so that
  the hub never gets gpiozero (or paho, or FastAPI) through the contract.

Every rule is a function of a source tree, so that each has a test showing
it catches a violation in a synthetic tree.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Every package of the product; ``tests/`` and ``bench/`` are outside the size rule.
PACKAGES = ("edge_agent", "hub", "wire", "sim", "firmware_py")
MAX_LINES = 400
#: What ``wire`` may import besides the standard library.
WIRE_ALLOWED = frozenset({"wire", "pydantic"})


def python_files(root: Path, *packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((root / package).rglob("*.py"))


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(root: Path, path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, at any depth (function-level too), with its line.

    ``from a.b import c`` counts as ``a.b`` and ``a.b.c`` (``c`` may be a module);
    relative imports are resolved against the module's package."""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1],
                                 *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


# -- the rules, as functions of a tree ------------------------------------------------------


def modules_too_long(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``path: N lines`` for every module over ``limit`` lines."""
    out = []
    for path in python_files(root, *PACKAGES):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit:
            out.append(f"{path.relative_to(root)}: {count} lines")
    return out


def reports_importing_web(root: Path) -> list[str]:
    """``path:line imports X`` for every import of ``hub.web`` in ``hub/reports``."""
    out: dict[tuple[str, int], str] = {}
    for path in python_files(root, "hub/reports"):
        where = str(path.relative_to(root))
        for line, name in imported(root, path):
            if name == "hub.web" or name.startswith("hub.web."):
                shortest = min(out.get((where, line), name), name, key=len)
                out[(where, line)] = shortest  # one entry per statement
    return [f"{where}:{line} imports {name}" for (where, line), name in sorted(out.items())]


def _sqlite_connects(tree: ast.AST) -> list[int]:
    """Lines calling ``sqlite3.connect`` (the module under any alias, or ``connect``
    imported from it under any name), or importing ``sqlite_utils`` (which opens a file
    given its path: the store's own business, :meth:`hub.db.store.Store.over` wraps a
    connection for the others)."""
    modules, functions = {"sqlite3"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "sqlite3"}
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3" and not node.level:
            functions |= {a.asname or a.name for a in node.names if a.name == "connect"}
    lines = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(name.split(".")[0] == "sqlite_utils" for name in names):
            lines.append(node.lineno)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        on_module = (isinstance(func, ast.Attribute) and func.attr == "connect"
                     and isinstance(func.value, ast.Name) and func.value.id in modules)
        if on_module or (isinstance(func, ast.Name) and func.id in functions):
            lines.append(node.lineno)
    return sorted(lines)


def sqlite_opened_outside_db(root: Path) -> list[str]:
    """``path:line`` for every ``sqlite3.connect`` call in ``hub/`` outside ``hub/db/``."""
    out = []
    for path in python_files(root, "hub"):
        if path.relative_to(root).parts[:2] == ("hub", "db"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out += [f"{path.relative_to(root)}:{line}" for line in _sqlite_connects(tree)]
    return out


def wire_foreign_imports(root: Path) -> list[str]:
    """``path:line imports X`` for every import in ``wire/`` of neither the standard
    library, nor pydantic, nor wire."""
    allowed = WIRE_ALLOWED | set(sys.stdlib_module_names)
    out: dict[tuple[str, int], str] = {}
    for path in python_files(root, "wire"):
        where = str(path.relative_to(root))
        for line, name in imported(root, path):
            if name.split(".")[0] not in allowed:
                shortest = min(out.get((where, line), name), name, key=len)
                out[(where, line)] = shortest  # one entry per statement
    return [f"{where}:{line} imports {name}" for (where, line), name in sorted(out.items())]


# -- the tree as it is ----------------------------------------------------------------------


def test_no_module_is_over_400_lines() -> None:
    too_long = modules_too_long(ROOT)
    assert not too_long, f"modules over {MAX_LINES} lines: " + "; ".join(too_long)


def test_the_reports_do_not_import_the_web_layer() -> None:
    found = reports_importing_web(ROOT)
    assert not found, "hub/reports imports hub.web: " + "; ".join(found)


def test_sqlite_is_opened_only_in_hub_db() -> None:
    found = sqlite_opened_outside_db(ROOT)
    assert not found, ("SQLite opened outside hub/db (open the store with"
                       " hub.db.connection.connect): " + "; ".join(found))


def test_wire_imports_only_the_standard_library_and_pydantic() -> None:
    found = wire_foreign_imports(ROOT)
    assert not found, "wire imports beyond stdlib + pydantic: " + "; ".join(found)


# -- each rule catches a violation ----------------------------------------------------------


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_long_module_is_named_with_its_count(tmp_path: Path) -> None:
    write(tmp_path, "sim/long.py", "x = 1\n" * 401)
    write(tmp_path, "edge_agent/just.py", "x = 1\n" * 400)
    write(tmp_path, "tests/test_long.py", "x = 1\n" * 900)  # outside the rule
    write(tmp_path, "bench/long.py", "x = 1\n" * 900)
    assert modules_too_long(tmp_path) == ["sim/long.py: 401 lines"]


def test_importing_the_reports_loads_nothing_of_the_web_layer() -> None:
    """The same rule at run time, imports through other modules included: a fresh
    interpreter imports every module of hub/reports and lists what of hub.web it loaded."""
    code = ("import importlib, pkgutil, sys, hub.reports as r\n"
            "for m in pkgutil.walk_packages(r.__path__, 'hub.reports.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n == 'hub.web' or n.startswith('hub.web.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_the_hubs_start_loads_no_dicom_library() -> None:
    """pydicom is loaded when a report is read, not by the hub's start nor its pages:
    every hub process and CLI command would pay about 0.1 s of CPU."""
    code = ("import sys, hub.cli, hub.web.app, hub.rdsr.store, hub.rdsr.operators_store\n"
            "print(sorted(n for n in ('pydicom', 'pynetdicom') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("source", [
    "from hub.web import app\n",
    "from hub import web\n",
    "import hub.web.routes_reports\n",
    "def f():\n    from hub.web.app import prepare_store\n",
    "from ..web import app\n",
    "from .. import web\n",
])
def test_an_import_of_the_web_layer_in_reports_is_caught(tmp_path: Path, source: str) -> None:
    write(tmp_path, "hub/reports/quarterly.py", "import json\n" + source)
    found = reports_importing_web(tmp_path)
    assert found and all(f.startswith("hub/reports/quarterly.py:") for f in found), found


def test_reports_may_import_the_store_and_the_web_may_import_reports(tmp_path: Path) -> None:
    write(tmp_path, "hub/reports/quarterly.py",
          "from hub.db import store\nfrom hub.db.connection import connect\nimport webbrowser\n"
          "from . import points\nfrom .points import web_label\n")
    write(tmp_path, "hub/web/app.py", "from hub.reports import quarterly\n")
    assert reports_importing_web(tmp_path) == []


@pytest.mark.parametrize("source", [
    "import sqlite3\nconn = sqlite3.connect(path)\n",
    "import sqlite3 as sql\n\ndef f(p):\n    return sql.connect(p, uri=True)\n",
    "from sqlite3 import connect\nconnect(':memory:')\n",
    "from sqlite3 import connect as opener\nopener(path)\n",
    "import sqlite_utils\ndb = sqlite_utils.Database(config.store.path)\n",
    "from sqlite_utils import Database\ndb = Database(path)\n",
    "from sqlite_utils.db import Database\n",
])
def test_a_raw_sqlite_connect_outside_hub_db_is_caught(tmp_path: Path, source: str) -> None:
    write(tmp_path, "hub/web/live.py", source)
    found = sqlite_opened_outside_db(tmp_path)
    assert len(found) == 1 and found[0].startswith("hub/web/live.py:"), found


def test_hub_db_and_the_agent_may_open_sqlite(tmp_path: Path) -> None:
    write(tmp_path, "hub/db/connection.py", "import sqlite3\nsqlite3.connect(path)\n")
    write(tmp_path, "edge_agent/journal.py", "import sqlite3\nsqlite3.connect(path)\n")
    write(tmp_path, "hub/web/live.py", "from hub.db.connection import connect\nconnect(path)\n"
          "import sqlite3\nrow: sqlite3.Row\nfrom hub.db.store import Store\n"
          "store = Store.over(conn)\n")
    assert sqlite_opened_outside_db(tmp_path) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("import gpiozero\n", "2 imports gpiozero"),
    ("from paho.mqtt import client\n", "2 imports paho.mqtt"),
    ("def f():\n    import fastapi\n", "3 imports fastapi"),
])
def test_a_foreign_import_in_wire_is_caught(tmp_path: Path, source: str, expected: str) -> None:
    write(tmp_path, "wire/contract.py", "import json\n" + source)
    assert wire_foreign_imports(tmp_path) == [f"wire/contract.py:{expected}"]


def test_wire_may_import_stdlib_pydantic_and_itself(tmp_path: Path) -> None:
    write(tmp_path, "wire/contract.py",
          "from __future__ import annotations\nimport json\nfrom datetime import UTC\n"
          "from pydantic import BaseModel\nfrom wire.errors import VoyantError\n"
          "from .settings import Strict\nfrom . import logs\n")
    assert wire_foreign_imports(tmp_path) == []
