"""The self-test's journal check: present, intact, a Voyant journal, writable by the agent.

The journal is only ever *read*: the self-test neither creates it nor writes
to it, and leaves no file behind (a journal, ``-wal`` or ``-shm`` made by a
self-test run with ``sudo`` would be root's, and the agent, user ``voyant``,
would then fail at every start). Whether the agent can write it is judged
from the owner and mode bits for the agent's user, and from the free space.
Apart from the other checks (:mod:`edge_agent.selftest_checks`) because the
read-only opening, the WAL cases and the permission rules are a subject of
their own.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.journal import SCHEMA_VERSION
from edge_agent.selftest_checks import Item, Verdict

#: An outbox holding more records than this suggests the hub does not acknowledge.
BACKLOG_WARN = 1000
#: The service's ``User=`` (hardware/systemd/voyant-edge.service): the journal must be its to write.
AGENT_USER = "voyant"
#: Free space next to the journal below which the agent's next writes (and the WAL
#: checkpoints, which need room for a copy of the WAL) are at risk: FAIL, then WARN.
FREE_FAIL_BYTES = 10_000_000
FREE_WARN_BYTES = 100_000_000
#: The tables every journal has (edge_agent.journal); a file without them is not one.
JOURNAL_TABLES = frozenset({"meta", "runs", "exposures", "alarms", "readings", "outbox"})


def check_journal(config: AgentConfig, agent_user: str = AGENT_USER) -> Item:
    """The journal, read-only: present, intact, a Voyant journal, its outbox, and
    writable by the agent's user with room to grow. Never creates nor writes a file."""
    path = config.journal.path
    if not os.path.isfile(path):
        return Item("journal", "FAIL", f"{path}: missing (the self-test never creates it; the"
                    " agent makes it at its first start: start the service once, stop it, and"
                    " run the self-test again). A wrong [journal] path?")
    try:
        user = pwd.getpwnam(agent_user)
    except KeyError:
        return Item("journal", "FAIL", f"no user {agent_user!r} to check the journal's owner"
                    " for (the service's User=; --agent-user NAME)")
    if not os.access(path, os.R_OK):
        return Item("journal", "FAIL", f"{path}: not readable by this user (run the self-test"
                    f" as the agent's: sudo -u {agent_user} voyant-edge selftest ...)")
    try:
        facts = read_journal(path)
    except sqlite3.Error as exc:
        return Item("journal", "FAIL", f"{path}: cannot be read as a journal: {exc}")
    access = access_problems(path, user)
    fs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    problems = facts.problems() + access + space_problems(fs)
    detail = facts.summary() + ("" if access else f", writable by {agent_user}")
    detail += f", {fs.f_bavail * fs.f_frsize / 1e9:.1f} GB free"
    if not problems:
        return Item("journal", "PASS", detail)
    worst: Verdict = "FAIL" if any(v == "FAIL" for v, _ in problems) else "WARN"
    return Item("journal", worst, detail + "; " + "; ".join(p for _, p in problems))


@dataclass(frozen=True, slots=True)
class JournalFacts:
    """What a read-only look at the journal found."""

    path: str
    missing_tables: frozenset[str]
    check: str = "not run"  # PRAGMA integrity_check: "ok" or the first problem
    schema_version: int | None = None
    journal_id: str | None = None
    waiting: int = 0
    last_seq: int = 0
    wal_bytes: int = 0
    wal_unread: bool = False  # a WAL without its -shm, left unread (see open_read_only)

    def summary(self) -> str:
        return (f"{self.path}: opened read-only, integrity_check {self.check},"
                f" schema {self.schema_version}, {os.path.getsize(self.path) / 1e6:.1f} MB"
                f" + WAL {self.wal_bytes} B, outbox {self.waiting} record(s) waiting"
                f" (last seq {self.last_seq})")

    def problems(self) -> list[tuple[Verdict, str]]:
        unread = (f"a WAL of {self.wal_bytes} B without its -shm was not read (the agent did"
                  " not stop cleanly and replays it at its next start)")
        if self.missing_tables and self.wal_unread:  # the schema may still be in the WAL
            return [("WARN", unread + ": start the service once, stop it, and run again")]
        if self.missing_tables:
            return [("FAIL", "not a Voyant journal (no table "
                     + ", ".join(sorted(self.missing_tables)) + ")")]
        out: list[tuple[Verdict, str]] = []
        if self.check != "ok":
            out.append(("FAIL", f"integrity_check: {self.check}"))
        if self.schema_version is not None and self.schema_version > SCHEMA_VERSION:
            out.append(("WARN", f"schema {self.schema_version} is newer than this agent's"
                        f" ({SCHEMA_VERSION}): an older voyant installed over a newer one?"))
        if self.journal_id is None:
            out.append(("WARN", "no journal_id: the agent will start a new sequence space"))
        if self.wal_unread:
            out.append(("WARN", unread + ": the outbox count may be behind"))
        if self.waiting > BACKLOG_WARN:
            out.append(("WARN", "is the hub acknowledging?"))
        return out


def open_read_only(path: str) -> sqlite3.Connection:
    """A connection that can neither create nor change a file.

    ``mode=ro`` alone is not enough in WAL mode: on a journal closed cleanly (no
    ``-wal``/``-shm`` beside it) SQLite *creates* both and leaves them, owned by
    whoever ran the self-test. So ``mode=ro`` only when both already exist (the WAL
    then holds the latest records); otherwise ``immutable=1``, which reads the main
    file alone, without locks nor side files (with the service stopped nothing else
    writes it). ``mode=ro`` everywhere: a journal missing meanwhile is not created.
    """
    base = Path(path).absolute().as_uri()
    if _side_files_exist(path):
        return sqlite3.connect(f"{base}?mode=ro", uri=True, timeout=1.0)
    return sqlite3.connect(f"{base}?mode=ro&immutable=1", uri=True, timeout=1.0)


def _side_files_exist(path: str) -> bool:
    return os.path.exists(path + "-wal") and os.path.exists(path + "-shm")


def read_journal(path: str) -> JournalFacts:
    """Everything the self-test reports about the journal, from one read-only connection."""
    wal = _wal_bytes(path)
    unread = wal > 0 and not _side_files_exist(path)
    conn = open_read_only(path)
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = JOURNAL_TABLES - tables
        if missing:
            return JournalFacts(path, missing, wal_bytes=wal, wal_unread=unread)
        row = conn.execute("PRAGMA integrity_check(1)").fetchone()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        waiting = int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()
    version = str(meta.get("schema_version", ""))
    return JournalFacts(
        path, frozenset(), str(row[0]) if row else "no answer",
        int(version) if version.isdigit() else None, meta.get("journal_id"), waiting,
        int(last[0]) if last else 0, wal, unread)


def _wal_bytes(path: str) -> int:
    try:
        return os.path.getsize(path + "-wal")
    except OSError:
        return 0


def writable_by(st: os.stat_result, uid: int, gids: set[int], *, directory: bool = False) -> bool:
    """Whether the user ``uid`` (groups ``gids``) may write this file, or create files in
    this directory, by the owner/group/other mode bits (as the kernel checks them: the
    owner's bits alone apply to the owner). ACLs are not looked at."""
    if uid == 0:
        return True
    need = 0o3 if directory else 0o2  # a directory needs write and search
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid in gids:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & need == need


def access_problems(path: str, user: pwd.struct_passwd) -> list[tuple[Verdict, str]]:
    """The journal, its side files and its folder must be the agent user's to write:
    a root-owned ``-wal``/``-shm`` (left by a ``sudo`` run) stops the agent at start."""
    gids = set(os.getgrouplist(user.pw_name, user.pw_gid))
    folder = os.path.dirname(os.path.abspath(path))
    out: list[tuple[Verdict, str]] = []
    for name in (path, path + "-wal", path + "-shm", folder):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            continue  # the side files exist only while (or after) the agent runs
        if not writable_by(st, user.pw_uid, gids, directory=stat.S_ISDIR(st.st_mode)):
            out.append(("FAIL", f"{name} ({_owner(st)} {stat.filemode(st.st_mode)}) is not"
                        f" writable by {user.pw_name}: sudo chown -R {user.pw_name}: {folder}"))
    return out


def _owner(st: os.stat_result) -> str:
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return f"uid {st.st_uid}"


def space_problems(fs: os.statvfs_result) -> list[tuple[Verdict, str]]:
    """The journal's file system: mounted read-write, with room for the records to come."""
    if fs.f_flag & os.ST_RDONLY:
        return [("FAIL", "its file system is mounted read-only")]
    return space_verdict(fs.f_bavail * fs.f_frsize)


def space_verdict(free_bytes: int) -> list[tuple[Verdict, str]]:
    """FAIL below :data:`FREE_FAIL_BYTES`, WARN below :data:`FREE_WARN_BYTES` free (what an
    unprivileged user, the agent, may still use: root's reserve does not count)."""
    if free_bytes < FREE_FAIL_BYTES:
        return [("FAIL", f"only {free_bytes / 1e6:.1f} MB free beside it")]
    if free_bytes < FREE_WARN_BYTES:
        return [("WARN", f"only {free_bytes / 1e6:.0f} MB free beside it")]
    return []
