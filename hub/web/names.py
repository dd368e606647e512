"""The site's own names for its boxes, doors, lamps and measurement points.

A box publishes config keys (``salle-2``, ``door.main``, ``probe``); the PCR reads
"Salle de radiologie 2", "Porte du couloir". An admin sets the labels on
``/admin/names`` (:mod:`hub.web.pages.names`); they are kept in ``display_names``
(:data:`hub.db.schema_app.NAMES`) and every page that shows a key shows its label
instead, through :func:`load` (one query per page) and :class:`Names`. A key with
no label is shown as it is (pages say a door's key in words: "Porte main").

Labels are typed by a person and shown to others: :func:`clean` trims them and
refuses control and formatting characters (a right-to-left override could make a
label read as another) and anything longer than :data:`MAX_LABEL`.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from fastapi import Request

from hub.db.connection import write
from hub.messages import N_
from hub.web import audit
from hub.web.auth import User
from wire.errors import HubError

Kind = Literal["device", "signal", "point"]
KINDS: Final[tuple[Kind, ...]] = ("device", "signal", "point")
#: Characters a label keeps at most (a card's title stays on one or two lines).
MAX_LABEL: Final = 80
#: The signals that get a label: doors and lamps (``door.<key>``, ``light.<key>``).
SIGNAL_PREFIXES: Final = ("door.", "light.")
#: The form's fields, as the page names them in its messages.
FIELDS: Final = {"label": N_("Label"), "kind": N_("Kind of name"), "key": N_("Key")}
#: Unicode categories a label refuses: controls, formats (bidi overrides, zero widths),
#: surrogates, private use, unassigned, line and paragraph separators.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class LabelError(HubError, ValueError):
    """A label or a target refused; ``message`` is an English msgid, ``params`` fill it."""

    def __init__(self, field_name: str, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.field = field_name
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class Names:
    """The labels of a store, read once: ``{(device, kind, key): label}``."""

    labels: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def device(self, device: str) -> str:
        """The box's label, or its key."""
        return self.labels.get((device, "device", device), device)

    def signal(self, device: str, signal: str) -> str | None:
        """The label of a door or lamp signal (``door.main``), None when it has none (the
        page then says the key in words)."""
        return self.labels.get((device, "signal", signal))

    def subject(self, device: str, about: str) -> str | None:
        """The label of what an alarm is about: an input (``door.main``) or, as the
        monitor names a door or a lamp in an alarm, its bare key (``main``)."""
        if "." in about:
            return self.signal(device, about)
        return self.signal(device, "door." + about) or self.signal(device, "light." + about)

    def point(self, device: str, name: str) -> str:
        """A measurement point's label, or its name."""
        return self.labels.get((device, "point", name), name)

    def get(self, device: str, kind: str, key: str) -> str:
        """The label as stored, empty when none (the admin page's fields)."""
        return self.labels.get((device, kind, key), "")


def load(conn: sqlite3.Connection) -> Names:
    """Every label of the store (one query)."""
    rows = conn.execute("SELECT device, kind, key, label FROM display_names").fetchall()
    return Names({(str(r[0]), str(r[1]), str(r[2])): str(r[3]) for r in rows})


def clean(raw: str) -> str:
    """``raw`` trimmed (inner runs of spaces made one), or :class:`LabelError`."""
    text = raw.strip()
    bad = next((c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise LabelError("label", N_("A label cannot hold control or formatting characters"
                                     " (found U+{code})."), code=f"{ord(bad):04X}")
    text = " ".join(text.split())  # what a page shows anyway: runs of spaces as one
    if len(text) > MAX_LABEL:
        raise LabelError("label", N_("A label has at most {max} characters ({n} given)."),
                         max=MAX_LABEL, n=len(text))
    return text


def set_label(conn: sqlite3.Connection, device: str, kind: str, key: str, raw: str,
              actor: User, request: Request | None = None) -> str:
    """Set (or, empty, remove) the label of ``key``; audited in the same transaction.
    The target must exist (:func:`targets`); returns the label kept."""
    if kind not in KINDS:
        raise LabelError("kind", N_("Unknown kind of name: expected device, signal or point."))
    label = clean(raw)
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with write(conn):  # a few indexed lookups: the ingest waits on this lock
        if not is_target(conn, device, kind, key):
            raise LabelError("key", N_("Nothing to name: {key} is not a key of {device}."),
                             key=key, device=device)
        before = conn.execute("SELECT label FROM display_names WHERE device = ? AND kind = ?"
                              " AND key = ?", [device, kind, key]).fetchone()
        if label:
            conn.execute(
                "INSERT INTO display_names (device, kind, key, label, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, kind, key) DO UPDATE SET"
                " label = excluded.label, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                [device, kind, key, label, at, actor.username])
        else:
            conn.execute("DELETE FROM display_names WHERE device = ? AND kind = ? AND key = ?",
                         [device, kind, key])
        audit.record(conn, actor, "names.set", f"{kind}:{device}:{key}",
                     {"before": before[0] if before else "", "label": label}, request)
    return label


def targets(conn: sqlite3.Connection) -> dict[tuple[str, str, str], None]:
    """What can be named, in page order: each box, its door and lamp signals (seen in its
    changes, its live inputs or labelled before), its measurement points."""
    out: dict[tuple[str, str, str], None] = {}
    devices = [str(r[0]) for r in conn.execute(
        "SELECT device FROM devices ORDER BY site, room, device")]
    signals: dict[str, set[str]] = {d: set() for d in devices}
    for device, signal in conn.execute(
            "SELECT DISTINCT device, signal FROM changes WHERE signal LIKE 'door.%'"
            " OR signal LIKE 'light.%' UNION SELECT DISTINCT device, signal FROM signal_changes"
            " WHERE signal LIKE 'door.%' OR signal LIKE 'light.%'"
            " UNION SELECT device, key FROM display_names WHERE kind = 'signal'"):
        signals.setdefault(str(device), set()).add(str(signal))
    for device, payload in conn.execute("SELECT device, json_extract(payload, '$.inputs')"
                                        " FROM live WHERE json_valid(payload)"):
        for name in _input_names(payload):
            if name.startswith(SIGNAL_PREFIXES):
                signals.setdefault(str(device), set()).add(name)
    points: dict[str, list[str]] = {}
    for device, name in conn.execute("SELECT device, name FROM points ORDER BY device, id"):
        points.setdefault(str(device), []).append(str(name))
    for device in devices:
        out[(device, "device", device)] = None
        out.update(dict.fromkeys((device, "signal", s) for s in sorted(signals[device])))
        out.update(dict.fromkeys((device, "point", p) for p in points.get(device, [])))
    return out


def is_target(conn: sqlite3.Connection, device: str, kind: str, key: str) -> bool:
    """Whether :func:`targets` lists ``(device, kind, key)``, by lookups on the device's own
    rows (no scan of the whole ``changes`` table inside the write lock)."""
    if conn.execute("SELECT 1 FROM devices WHERE device = ?", [device]).fetchone() is None:
        return False
    if kind == "device":
        return key == device
    if kind == "point":
        return conn.execute("SELECT 1 FROM points WHERE device = ? AND name = ?",
                            [device, key]).fetchone() is not None
    if kind != "signal" or not key.startswith(SIGNAL_PREFIXES):
        return False
    seen = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM changes WHERE device = ? AND signal = ?)"
        " OR EXISTS (SELECT 1 FROM signal_changes WHERE device = ? AND signal = ?)"
        " OR EXISTS (SELECT 1 FROM display_names WHERE device = ? AND kind = 'signal'"
        " AND key = ?)", [device, key] * 3).fetchone()[0]
    if seen:
        return True
    live = conn.execute("SELECT json_extract(payload, '$.inputs') FROM live WHERE device = ?"
                        " AND json_valid(payload)", [device]).fetchone()
    return live is not None and key in _input_names(live[0])


def _input_names(payload: object) -> list[str]:
    """The input names of a live state's ``inputs`` (JSON text of an object), else none."""
    if not isinstance(payload, str):
        return []
    try:
        inputs = json.loads(payload)
    except ValueError:
        return []
    return [str(k) for k in inputs] if isinstance(inputs, dict) else []
