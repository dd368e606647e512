"""A run of readings stored at once stores exactly what the record-by-record path stores
(issue 18 item 2, :mod:`hub.ingest.runs`, :mod:`hub.ingest.store_run`).

The same messages go to five cores: one storing record by record (runs turned off: the
path every message took before), one making its runs itself, one fed the worker's whole
decode (pickled and back, as it travels), two fed the worker's decode of half of each
batch (its first half; its second, as the service now shares a batch). Journals are
drawn to reach every branch a run meets: gaps, resends and overlaps (the run refused for
the record-by-record path, the worker's decoded again), links broken at either end or
within, altered copies (conflicts), clocks out of the plausible window, an ``oldest``
declaring records lost, jumps beyond the window.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from operator import attrgetter
from typing import Any, get_args
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.chain.arrival import as_received, breaks
from hub.db.chain_store import STAMPED_WIDTH, Link
from hub.db.schema import READING_FIELDS
from hub.db.store import READING_WIDTH, Store
from hub.ingest.predecode import decode_all
from hub.ingest.records import reading_row, reading_rows
from hub.ingest.runs import run_of
from hub.ingest.sequences import JournalSeqs
from hub.ingest.store_run import store_run
from hub.timefmt import iso
from tests import hub_factory as hf
from tests.contract_strategies import record
from tests.test_fast_decode import Msg, table_rows
from wire.chain import GENESIS, record_hash
from wire.contract import READINGS, WINDOW, ReadingItem

FAR = 10 * 365 * 86_400.0  # a clock ten years ahead: outside the plausible window


def chain(length: int, altered: frozenset[int], broken: frozenset[int],
          late: frozenset[int]) -> list[dict[str, Any]]:
    """Readings 1..length, each carrying the hash of the one before (GENESIS first), but
    ``altered`` ones (other counts), ``broken`` ones (a wrong prev), ``late`` ones (a
    clock far ahead)."""
    out: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        changes: dict[str, Any] = {"prev": "f" * 64 if seq in broken else prev}
        if seq in altered:
            changes["counts"] = 13
        if seq in late:
            changes.update(start=iso(hf.T0 + FAR), end=iso(hf.T0 + FAR + 10))
        item = hf.reading(seq, **changes)
        out.append(item)
        prev = record_hash(item)
    return out


@st.composite
def journeys(draw: st.DrawFn) -> list[list[Msg]]:
    """Batches of readings messages of one or two journals, in any order."""
    length = draw(st.integers(3, 24))
    seqs = st.frozensets(st.integers(1, length), max_size=3)
    good = chain(length, frozenset(), draw(seqs), draw(seqs))
    other = chain(length, draw(seqs), draw(seqs), frozenset())  # copies, some altered
    second = chain(length, frozenset(), frozenset(), frozenset())
    messages: list[Msg] = []
    for _ in range(draw(st.integers(1, 7))):
        first = draw(st.integers(1, length))
        last = draw(st.integers(first, min(length, first + 6)))
        source = draw(st.sampled_from(["good", "good", "other", "second"]))
        items = {"good": good, "other": other, "second": second}[source][first - 1:last]
        journal = hf.JOURNAL_2 if source == "second" else hf.JOURNAL
        oldest = draw(st.sampled_from([None, None, first]))
        messages.append(hf.batch(READINGS, items, journal=journal, oldest=oldest))
    if draw(st.booleans()):  # a jump beyond the acknowledgement's window
        at = draw(st.integers(0, len(messages)))
        messages.insert(at, hf.readings(WINDOW + 5, WINDOW + 7))
    cuts = sorted(draw(st.frozensets(st.integers(1, max(1, len(messages) - 1)), max_size=2)))
    return [messages[a:b] for a, b in zip([0, *cuts], [*cuts, len(messages)], strict=True)]


def played(batches: list[list[Msg]], feed: str) -> tuple[Any, ...]:
    """Rows, acks, counters and journals' bookkeeping of a core fed ``batches`` the
    ``feed`` way."""
    store = Store.open(":memory:")
    try:
        core = hf.core(store, hf.T0 + 100)
        acks = []
        for number, batch in enumerate(batches):
            now = hf.T0 + 100 + number
            decoded: list[Any] | None = None
            if feed == "worker":
                decoded = pickle.loads(pickle.dumps(decode_all(batch)))
            elif feed == "half":
                half = (len(batch) + 1) // 2
                decoded = [*pickle.loads(pickle.dumps(decode_all(batch[:half]))),
                           *[None] * (len(batch) - half)]
            elif feed == "end":  # the worker's share as the service cuts it: the end
                half = len(batch) // 2
                decoded = [*[None] * half,
                           *pickle.loads(pickle.dumps(decode_all(batch[half:])))]
            if feed == "one by one":
                with mock.patch("hub.ingest.intake.run_of", lambda *_: None):
                    acks += hf.acked(core.handle_batch(batch, now, decoded))
            else:
                acks += hf.acked(core.handle_batch(batch, now, decoded))
        rows = table_rows(store)
        for name in ("chain_breaks", "record_conflicts"):
            rows[name] = sorted(map(tuple, store.conn.execute(f"SELECT * FROM {name}")),
                                key=repr)
        journals = {key: (s.upto, sorted(s.above), s.top, s.gaps, s.waiting_since,
                          sorted(s.quarantined), s.last_records_at)
                    for key, s in core.seqs.items()}
        return rows, acks, core.stats(), journals
    finally:
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys())
def test_a_run_stores_what_the_records_one_by_one_store(batches: list[list[Msg]]) -> None:
    reference = played(batches, "one by one")
    for feed in ("writer", "worker", "half", "end"):
        assert played(batches, feed) == reference, feed


def test_the_journeys_take_the_run_and_its_fallbacks() -> None:
    """The run path is taken, and so is the worker's run decoded again (a resend)."""
    good = chain(6, frozenset(), frozenset(), frozenset())
    batches = [[hf.batch(READINGS, good[0:3]), hf.batch(READINGS, good[1:5])]]
    with mock.patch("hub.ingest.intake.store_run", side_effect=store_run) as spy:
        assert played(batches, "worker") == played(batches, "one by one")
    assert spy.call_count == 1  # the first message; the second overlaps it: one by one


def test_a_run_is_only_what_each_record_would_take_alike() -> None:
    good = chain(5, frozenset(), frozenset(), frozenset())
    found = decode_all([hf.batch(READINGS, good)])[0]
    assert found is not None and len(found) == 3  # a run
    run = found[2]
    assert (run.first, run.last, len(run.readings), len(run.received)) == (
        1, 5, 5 * READING_WIDTH, 5 * STAMPED_WIDTH)
    assert run.received[STAMPED_WIDTH - 1::STAMPED_WIDTH] == [None] * 5  # the stamps' places
    assert [run.readings[i * READING_WIDTH + 4] for i in range(5)] == [1, 2, 3, 4, 5]
    for items in (chain(5, frozenset(), frozenset({3}), frozenset()), good[:2] + good[3:]):
        made = decode_all([hf.batch(READINGS, items)])[0]  # a break within; a hole
        assert made is not None and len(made) == 4
    spoilt = [*good[:2], dict(good[2], counts=-1), *good[3:]]
    made = decode_all([hf.batch(READINGS, spoilt)])[0]
    assert made is not None and len(made) == 4  # a refused record: one by one
    assert run_of(type("E", (), {"kind": "exposures"})(), [], []) is None


def test_add_run_is_add_in_turn() -> None:
    for upto, above, first, last in [(0, set(), 1, 5), (3, set(), 6, 9), (2, {5}, 6, 6),
                                     (0, {2, 3}, 4, 8), (5, set(), 7, 7)]:
        one = JournalSeqs.restore(upto, above, [], 1.0)[0]
        run = JournalSeqs.restore(upto, above, [], 1.0)[0]
        filled_one = [g for seq in range(first, last + 1) for g in one.add(seq, 2.0)]
        filled_run = run.add_run(first, last, 2.0)
        assert (one.upto, one.above, one.top, one.gaps, one.waiting_since) == (
            run.upto, run.above, run.top, run.gaps, run.waiting_since)
        assert [(g.first, g.last) for g in filled_one] == [(g.first, g.last) for g in filled_run]


@settings(max_examples=60, deadline=None)
@given(record(ReadingItem, hf.T0), st.booleans())
def test_a_reading_row_is_every_field_with_its_booleans_as_0_or_1(
        fields: dict[str, Any], flagged: bool) -> None:
    item = ReadingItem.model_validate(fields)
    every = [int(v) if v.__class__ is bool else v for v in attrgetter(*READING_FIELDS)(item)]
    assert reading_row("d", "s", "r", "j", item, flagged) == ["d", "s", "r", "j", *every,
                                                               int(flagged)]


@settings(max_examples=60, deadline=None)
@given(st.lists(record(ReadingItem, hf.T0), max_size=6))
def test_a_run_s_rows_are_each_reading_row_one_after_another(
        drawn: list[dict[str, Any]]) -> None:
    """:func:`reading_rows` (a run's rows at once, each column's booleans made 0/1 at once)
    is :func:`reading_row` of each reading in turn: the same values of the same types."""
    items = [ReadingItem.model_validate(fields) for fields in drawn]
    items += [ReadingItem.model_validate(dict(hf.reading(9), saturated=saturated,
                                              clock_synced=synced))
              for saturated in (True, False) for synced in (True, False, None)]
    made = reading_rows("d", "s", "r", "j", items)
    expected = [v for item in items for v in reading_row("d", "s", "r", "j", item, False)]
    assert [(type(v), v) for v in made] == [(type(v), v) for v in expected]


def test_the_contract_refuses_a_boolean_where_it_types_no_boolean() -> None:
    """What lets :func:`reading_row` look for booleans only in the fields typed so."""
    good = hf.reading(1)
    for name in READING_FIELDS:
        annotation = ReadingItem.model_fields[name].annotation
        if annotation is bool or bool in get_args(annotation):
            continue
        with pytest.raises(ValidationError):
            ReadingItem.model_validate_json(json.dumps(dict(good, **{name: True})))


def test_a_run_meets_a_kept_record_after_its_last() -> None:
    """Records a device sent under another name are kept under its own (never counted):
    a run just below them meets one as its stored next, and its link is checked."""
    good = chain(12, frozenset(), frozenset({10}), frozenset())
    batches = [[hf.batch(READINGS, good[9:12], device="another.device")],
               [hf.batch(READINGS, good[6:9])]]
    reference = played(batches, "one by one")
    assert reference[0]["chain_breaks"] and reference[0]["quarantine"]
    for feed in ("writer", "worker"):
        assert played(batches, feed) == reference, feed


#: How a record's ``prev`` may stand to the record before: each of breaks()'s branches.
PREVS = st.sampled_from(["linked", "linked", "none", "genesis", "wrong", "absent"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(PREVS, st.booleans()), min_size=1, max_size=8))
def test_a_run_is_made_exactly_when_breaks_lets_every_link_within_through(
        drawn: list[tuple[str, bool]]) -> None:
    """:func:`run_of` checks the usual links without calling breaks() (issue 18 item 2):
    it makes a run exactly when breaks() finds nothing between any two of its records, and
    its ends are their links. Records the chain cannot hash (a lone surrogate as sent)
    and every kind of prev: the hash before, none, GENESIS, another hash, the key absent."""
    items: list[dict[str, Any]] = []
    for seq, (kind, unhashable) in enumerate(drawn, start=1):
        before = record_hash(items[-1]) if items and "\ud800" not in items[-1][
            "calibration"] else None
        prev = {"linked": before, "none": None, "genesis": GENESIS, "wrong": "f" * 64,
                "absent": None}[kind]
        item = hf.reading(seq, prev=prev)
        if kind == "absent":
            del item["prev"]
        if unhashable:
            item["calibration"] = "\ud800"
        items.append(item)
    records = [ReadingItem.model_validate(dict(item, calibration="x")) for item in items]
    envelope = type("E", (), {"kind": READINGS, "device": "d", "site": "s", "room": "r",
                              "journal": "j"})()
    links = [Link(*as_received(item)[:2]) for item in items]
    whole = all(breaks(seq, links[seq - 1], links[seq - 2]) is None
                for seq in range(2, len(items) + 1))
    run = run_of(envelope, records, items)
    assert (run is not None) == whole
    if run is not None:
        assert (run.head, run.tail) == (links[0], links[-1])


def test_what_the_worker_sends_back_comes_back_equal() -> None:
    """A run, its head, its topic and its ends are pickled as their fields (their own
    ``__reduce__``: issue 18 item 2): every protocol and copy gives them back equal."""
    good = chain(5, frozenset(), frozenset(), frozenset())
    found = decode_all([hf.batch(READINGS, good)])[0]
    assert found is not None and len(found) == 3
    for made in (*found, found[2].head, found[2].tail, Link(None, None)):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(made, protocol))
            assert back == made and type(back) is type(made)
        assert copy.deepcopy(made) == made and copy.copy(made) == made


def test_each_hand_written_reduce_lists_every_field_in_order() -> None:
    """A field added later to one of these would be dropped (or break loading) silently
    where it keeps its default: their ``__reduce__`` must hand back every field, in the
    order of the constructor."""
    found = decode_all([hf.batch(READINGS, chain(3, frozenset(), frozenset(), frozenset()))])[0]
    assert found is not None
    for made in (*found, found[2].head, found[2].tail):
        if not dataclasses.is_dataclass(made):
            continue
        cls, args = made.__reduce__()
        assert cls is type(made)
        assert args == tuple(getattr(made, f.name) for f in dataclasses.fields(made)), cls
    seen = {type(m).__name__ for m in (*found, found[2].head, found[2].tail)}
    assert {"Run", "Head", "Link", "Topic"} <= seen
