"""``voyant-hub rdsr show|import``: an RDSR as read, and RDSR files stored by hand.

``import PATH... --config FILE`` stores each file (a directory: every file under it, in
name order) as the storage service would, with the peer ``import:<file name>``, and
prints a line per file: ``stored``, ``already stored`` or ``refused: reason``. Exit 0
when nothing was refused, 1 otherwise, 2 for a bad configuration. A refused file is not
kept in the store (it is still on disk, where the administrator found it).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from wire.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-hub rdsr",
                                     description="DICOM radiation dose reports (RDSR)")
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print what an RDSR file says, as read")
    show.add_argument("file")
    show.add_argument("--json", action="store_true", help="the fixed JSON form")
    imp = actions.add_parser("import", help="store RDSR files (or directories of them)")
    imp.add_argument("paths", nargs="+", metavar="PATH")
    imp.add_argument("--config", required=True, help="the hub's TOML configuration")
    return parser


def rdsr_main(argv: list[str]) -> int:
    """Parsed here, not by the hub's CLI: pydicom is loaded only for an RDSR command."""
    args = _parser().parse_args(argv)
    if args.action == "show":
        from hub.rdsr import show

        return show.run(args)
    return import_main(args.paths, args.config)


def _files(path: Path) -> Iterator[Path]:
    """``path`` itself, or every file under the directory it names, in name order."""
    if not path.is_dir():
        yield path
        return
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            yield Path(root) / name


def _say(path: Path, line: str) -> None:
    name = " ".join(str(path).split())  # a name with a newline stays on its line
    print(f"{name}: {line}")


def import_main(paths: list[str], config_path: str) -> int:
    from hub.config import load_config
    from hub.db.connection import connect
    from hub.db.store import Store
    from hub.errors import StoreError
    from hub.rdsr.reader import MAX_BYTES
    from hub.rdsr.store import one_line, store_bytes

    try:
        config = load_config(config_path)
        Store.open(config.store.path).close()  # brings it to this hub's schema, or refuses
    except (ConfigError, StoreError) as exc:
        print(str(exc), file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    refused = 0
    conn = connect(config.store.path)
    try:
        for given in paths:
            for path in _files(Path(given)):
                try:
                    info = path.stat()
                    if not stat.S_ISREG(info.st_mode):
                        raise OSError("not a regular file")
                    if info.st_size > MAX_BYTES:
                        raise OSError(f"{info.st_size} bytes, more than an RDSR ever holds")
                    raw = path.read_bytes()
                except OSError as exc:
                    refused += 1
                    _say(path, f"refused: {one_line(exc.strerror or str(exc))}")
                    continue
                outcome = store_bytes(conn, raw, f"import:{one_line(path.name, 200)}",
                                      keep_refused=False,
                                      limits=config.dicom.patient_thresholds)
                refused += outcome.status == "refused"
                _say(path, outcome.line)
    finally:
        conn.close()
    return 1 if refused else 0
