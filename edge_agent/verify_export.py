"""``voyant-edge journal --verify-against EXPORT``: the box's journal against the hub's export.

The box keeps the hash of every record it journaled (the ``chain`` table,
:func:`edge_agent.outbox.queue`); the hub's export (``voyant-hub journal
export``, JSON lines, ``docs/protocol.md``) holds every record as the hub
received it, with its hash. Record by record, for the box's journal:

- a record both hold must have the same hash on both sides, and the export's
  record must hash (:func:`wire.chain.record_hash`) to the hash it states: else
  the hub holds something other than what the box made (altered, or sent by a
  restored journal);
- a record the box made that the export lacks is a hole at the hub, unless it
  still waits in the box's outbox (not yet acknowledged: it may simply not have
  arrived when the export was made), or comes after the export's last record
  (the hub exports what it has acknowledged; the box goes on journaling while
  the export is carried to it);
- a record the export holds above the box's last sequence number was never
  made by this box; one the box no longer holds (pruned by its retention, or
  journaled before the chain) cannot be compared and is only counted.

The export is hostile input: a line that is not what the format says stops the
check with its line number, never with a traceback.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from edge_agent.errors import JournalError
from wire.chain import try_hash
from wire.errors import AgentError

#: The longest export line read (a record is far smaller: a batch is at most 256 KiB).
MAX_LINE: Final = 1 << 20


class ExportUnreadable(AgentError, ValueError):
    """The export file cannot be read, or a line of it is not an export line."""


@dataclass(frozen=True, slots=True)
class BoxChain:
    """What the box's journal holds: its id, the hash of each chained record it still keeps,
    the records still waiting for the hub, and its last sequence number."""

    journal_id: str
    hashes: dict[int, str]
    waiting: frozenset[int]
    last_seq: int


@dataclass(frozen=True, slots=True)
class ExportEntry:
    """One record line of the export (``lost`` lines are kept as ranges)."""

    line: int
    seq: int
    status: str
    hash: str | None
    record: Any


@dataclass
class Verdict:
    """The problems found (each a line to print), and what could not be compared."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    matched: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def read_box(path: str) -> BoxChain:
    """The box's chain, read only (a look never upgrades nor writes the journal)."""
    if not Path(path).is_file():
        raise JournalError(f"{path}: no journal there")
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                               timeout=30.0)
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: cannot open the journal: {exc}") from exc
    try:
        found = conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
        if found is None:
            raise JournalError(f"{path}: not a Voyant journal (no journal_id)")
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        waiting = frozenset(int(s) for (s,) in conn.execute("SELECT seq FROM outbox"))
        try:
            hashes = {int(s): str(h) for s, h in conn.execute("SELECT seq, hash FROM chain")}
        except sqlite3.OperationalError:  # a journal of an agent before the chain
            hashes = {}
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: cannot read the journal: {exc}") from exc
    finally:
        conn.close()
    return BoxChain(str(found[0]), hashes, waiting, int(last[0]) if last else 0)


def read_export(lines: Iterable[str], journal_id: str
                ) -> tuple[list[ExportEntry], list[tuple[int, int]], int]:
    """The export's record lines and lost ranges of ``journal_id``, and how many lines were of
    other journals. Raises :class:`ExportUnreadable` naming the first bad line."""
    entries: list[ExportEntry] = []
    lost: list[tuple[int, int]] = []
    others = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        data = _line(number, line)
        if data["journal"] != journal_id:
            others += 1
        elif data["status"] == "lost":
            lost.append((_int(number, data, "first"), _int(number, data, "last")))
        else:
            entries.append(_entry(number, data))
    return entries, lost, others


def _line(number: int, line: str) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ExportUnreadable(f"line {number}: longer than {MAX_LINE} characters")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ExportUnreadable(f"line {number}: not JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise ExportUnreadable(f"line {number}: not a JSON object")
    for key in ("device", "journal", "status"):
        if not isinstance(data.get(key), str):
            raise ExportUnreadable(f"line {number}: no {key!r} string")
    if data["status"] not in ("stored", "quarantined", "lost"):
        raise ExportUnreadable(f"line {number}: unknown status {data['status'][:40]!r}")
    return data


def _int(number: int, data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ExportUnreadable(f"line {number}: {key!r} is not a sequence number")
    return value


def _entry(number: int, data: dict[str, Any]) -> ExportEntry:
    stated = data.get("hash")
    if stated is not None and not isinstance(stated, str):
        raise ExportUnreadable(f"line {number}: 'hash' is not a string")
    if "record" not in data:
        raise ExportUnreadable(f"line {number}: no 'record'")
    return ExportEntry(number, _int(number, data, "seq"), data["status"], stated,
                       data["record"])


def verify(box: BoxChain, entries: list[ExportEntry], lost: list[tuple[int, int]]) -> Verdict:
    """Compare the box's chain with the export's records of its journal (module docstring)."""
    verdict = Verdict()
    if not entries and not lost:
        verdict.problems.append(f"the export holds nothing of journal {box.journal_id}")
        return verdict
    held: dict[int, ExportEntry] = {}
    for entry in entries:
        where = f"seq {entry.seq} (line {entry.line})"
        if entry.seq in held:
            verdict.problems.append(f"{where}: exported twice (also line {held[entry.seq].line})")
            continue
        held[entry.seq] = entry
        _compare(box, entry, where, verdict)
    lowest = min([e.seq for e in entries] + [first for first, _ in lost])
    highest = max([e.seq for e in entries] + [last for _, last in lost])
    _missing(box, held, lost, (lowest, highest), verdict)
    return verdict


def _compare(box: BoxChain, entry: ExportEntry, where: str, verdict: Verdict) -> None:
    if entry.seq > box.last_seq:
        verdict.problems.append(f"{where}: never made by this box (its last is {box.last_seq})")
        return
    found = len(verdict.problems)
    if entry.hash is not None and try_hash(entry.record) != entry.hash:
        verdict.problems.append(f"{where}: the exported record does not match its stated hash")
    if isinstance(entry.record, dict) and entry.record.get("seq") != entry.seq:
        verdict.problems.append(f"{where}: the exported record says seq"
                                f" {str(entry.record.get('seq'))[:20]}")
    mine = box.hashes.get(entry.seq)
    if mine is None:
        verdict.notes.append(f"{where}: no longer held by the box (pruned, or journaled before"
                             " the chain): not compared")
    elif entry.hash != mine:
        verdict.problems.append(f"{where}: differs from the box's record ({entry.status},"
                                f" hash {entry.hash} at the hub, {mine} on the box)")
    elif len(verdict.problems) == found:
        verdict.matched += 1


def _missing(box: BoxChain, held: dict[int, ExportEntry], lost: list[tuple[int, int]],
             span: tuple[int, int], verdict: Verdict) -> None:
    """The box's chained records the export lacks, within the export's span (its first to
    its last record or lost range): outside it, only counted."""
    lowest, highest = span
    before = after = waiting = 0
    for seq in sorted(box.hashes):
        if seq < lowest:
            before += 1
        elif seq > highest:
            after += 1
        elif seq in held:
            continue
        elif seq in box.waiting:
            waiting += 1
        elif any(first <= seq <= last for first, last in lost):
            verdict.problems.append(f"seq {seq}: declared lost by the hub; the box made it")
        else:
            verdict.problems.append(f"seq {seq}: the box made it and the hub acknowledged it,"
                                    " but the export lacks it")
    if waiting:
        verdict.notes.append(f"{waiting} record(s) not at the hub yet (still in the box's"
                             " outbox): not compared")
    if before:
        verdict.notes.append(f"{before} record(s) of the box before the export's first"
                             f" (seq {lowest}): not compared")
    if after:
        verdict.notes.append(f"{after} record(s) of the box after the export's last"
                             f" (seq {highest}), made or acknowledged since: not compared")


def iter_export(path: str) -> Iterator[str]:
    """The export's lines, each read to at most :data:`MAX_LINE` + 1 characters (a hostile
    file of one huge line is refused without being read whole); an unreadable file is
    :class:`ExportUnreadable`."""
    try:
        with open(path, encoding="utf-8") as export:
            while line := export.readline(MAX_LINE + 1):
                yield line
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportUnreadable(f"{path}: cannot read the export: {exc}") from None


def verify_against(journal_path: str, export_path: str) -> tuple[BoxChain, Verdict, int]:
    """Read both and compare; returns the box's chain, the verdict and the count of export
    lines of other journals."""
    box = read_box(journal_path)
    try:
        entries, lost, others = read_export(iter_export(export_path), box.journal_id)
    except ExportUnreadable as exc:
        message = str(exc)
        if message.startswith("line "):
            raise ExportUnreadable(f"{export_path}: {message}") from None
        raise
    return box, verify(box, entries, lost), others


#: Problems listed one by one; past them, a count (a restored journal, or a chain recomputed
#: after an alteration, differs on every record after the first: that first one matters).
PROBLEMS_SHOWN = 20


def render(box: BoxChain, verdict: Verdict, others: int) -> str:
    """One line per problem (the first :data:`PROBLEMS_SHOWN`), the notes, the summary."""
    lines = [f"MISMATCH {p}" for p in verdict.problems[:PROBLEMS_SHOWN]]
    if len(verdict.problems) > PROBLEMS_SHOWN:
        lines.append(f"... and {len(verdict.problems) - PROBLEMS_SHOWN} more: the first"
                     " mismatch is where the copies part (a journal restored, or a chain"
                     " recomputed after an alteration, differs from there on)")
    lines += [f"note: {n}" for n in verdict.notes]
    if others:
        lines.append(f"note: {others} line(s) of other journals ignored")
    state = "matches" if verdict.ok else f"{len(verdict.problems)} problem(s)"
    lines.append(f"Journal {box.journal_id}: {verdict.matched} record(s) identical on the box"
                 f" and at the hub, last seq {box.last_seq}: {state}")
    return "\n".join(lines)
