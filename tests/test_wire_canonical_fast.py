"""The hub's canonical bytes of a record as received (:func:`wire.chain.try_canonical`, one C
encoder made once) are exactly ``canonical``'s (``json.dumps`` as ``docs/protocol.md`` pins
it), and it refuses exactly what ``canonical`` cannot write: every hash and body the hub
stores depends on it (issue 18 item 2).

Checked over random JSON values (NaN, infinities, -0.0, lone surrogates, non-ASCII text,
keys of every kind), records nested past the recursion limit, a record holding itself,
and :func:`hub.chain.arrival.as_received` against its definition; and a batch's records
written together (:func:`wire.chain.try_canonical_texts`, each column at once) against
each written alone, over batches sharing keys whose columns repeat values of one kind or
mix them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.chain.arrival import as_received
from wire.chain import (
    canonical,
    try_canonical,
    try_canonical_text,
    try_canonical_texts,
    try_hash,
)


def reference(record: object) -> bytes | None:
    """``canonical``'s bytes, None where it raises (what ``try_canonical`` was)."""
    if not isinstance(record, dict):
        return None
    try:
        return canonical(record)
    except (ValueError, TypeError, RecursionError):
        return None


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-5, 2.8e-05,
                                  1e16, 5e-324, 0.1]),
    st.text(), st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    st.sampled_from(["é", "\x00", "\u2028", '"', "\\", "sbm20/Cs-137", "\ud83d"]),
)
KEYS = st.one_of(st.text(), st.sampled_from(["seq", "prev", "\ud800", "é", ""]))
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner,
                                                                          max_size=4),
    max_leaves=30)
RECORDS = st.dictionaries(KEYS, VALUES, max_size=12)


@settings(max_examples=600, deadline=None)
@given(RECORDS)
def test_the_same_bytes_and_refusals_as_canonical(record: dict[str, Any]) -> None:
    assert try_canonical(record) == reference(record)
    made = try_canonical_text(record)
    expected = reference(record)
    assert (None if made is None else made[1]) == expected
    if made is not None:
        assert made[0].encode("utf-8") == made[1]


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_anything_not_an_object_has_no_bytes(value: Any) -> None:
    if not isinstance(value, dict):
        assert try_canonical(value) is None and try_canonical_text(value) is None


def test_keys_json_writes_as_text_and_keys_it_refuses() -> None:
    numbers: dict[Any, Any] = {2: "a", 1.5: [4], True: 3}  # written as text, sorted
    assert try_canonical(numbers) == reference(numbers) == canonical(numbers)
    mixed: dict[Any, Any] = {1: "a", "z": 5}  # sorting them: TypeError in canonical
    assert try_canonical(mixed) is None and reference(mixed) is None
    assert try_canonical({(1, 2): 0}) is None and reference({(1, 2): 0}) is None


def test_nested_past_the_recursion_limit_and_holding_itself() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(50_000):
        inner["a"] = {}
        inner = inner["a"]
    assert try_canonical(deep) is None and reference(deep) is None
    looped: dict[str, Any] = {"seq": 1}
    looped["self"] = looped
    assert try_canonical(looped) is None and reference(looped) is None
    assert try_canonical({"seq": 1, "ok": [1.5, "x"]}) == canonical({"seq": 1, "ok": [1.5, "x"]})


@settings(max_examples=200, deadline=None)
@given(st.one_of(RECORDS, VALUES))
def test_as_received_is_its_definition(raw: Any) -> None:
    prev = raw.get("prev") if isinstance(raw, dict) else None
    prev = prev if isinstance(prev, str) else None
    body = reference(raw)
    expected = ((None, prev, None) if body is None
                else (hashlib.sha256(body).hexdigest(), prev, body.decode("utf-8")))
    assert as_received(raw) == expected
    assert try_hash(raw) == expected[0]


#: Values of one column: a few drawn for each kind, so that a batch repeats some of them.
POOLS: dict[str, st.SearchStrategy[Any]] = {
    "float": st.one_of(st.floats(), st.sampled_from([-0.0, 0.0, 1e16, 2.8e-05, 120.0, 5e-324,
                                                     math.nan, math.inf])),
    "int": st.one_of(st.integers(), st.sampled_from([0, -1, 2**53 - 1, 10**4300, 10**5000])),
    "str": st.one_of(st.text(), st.sampled_from(["%s", "%%", '"', "\\", "\x00", "é", "\ud800",
                                                 "sbm20/Cs-137", "2026-01-05T07:00:01Z"])),
    "bool": st.booleans(),
    "none": st.none(),
    "mixed": SCALARS,
    "nested": VALUES,
}


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    """Records sharing their keys (in any order), each key's values of one kind or mixed,
    repeating some; at times one record with a key less or more, or not an object."""
    keys = draw(st.lists(st.one_of(KEYS, st.sampled_from(["%s", "a%", '"k"'])), max_size=6,
                         unique=True))
    pools = {key: draw(st.lists(POOLS[draw(st.sampled_from(sorted(POOLS)))], min_size=1,
                                max_size=3)) for key in keys}
    records: list[Any] = []
    for _ in range(draw(st.integers(0, 7))):
        order = draw(st.permutations(keys))
        records.append({key: draw(st.sampled_from(pools[key])) for key in order})
    if records and draw(st.integers(0, 4)) == 0:
        spoilt = draw(st.sampled_from(["less", "more", "not an object", "int key"]))
        at = draw(st.integers(0, len(records) - 1))
        if spoilt == "less" and records[at]:
            records[at].pop(next(iter(records[at])))
        elif spoilt == "more":
            records[at]["zz-more"] = 1
        elif spoilt == "int key":
            records[at][7] = 1
        else:
            records[at] = [1, 2]
    return records


@settings(max_examples=1000, deadline=None)
@given(batches())
def test_a_batch_written_at_once_is_each_record_written_alone(records: list[Any]) -> None:
    """:func:`try_canonical_texts` (a batch's columns at once, each repeated value written
    once) gives each record's :func:`try_canonical_text`, and ``canonical``'s bytes."""
    found = try_canonical_texts(records)
    assert found == [try_canonical_text(record) for record in records]
    assert [None if made is None else made[1] for made in found] == [
        reference(record) for record in records]


def test_the_batch_way_is_taken_and_writes_what_the_encoder_does() -> None:
    """The way at once is taken for a batch of plain columns (else the test above would
    compare the encoder with itself), and it writes every kind of value as the encoder."""
    records = [{"seq": seq, "x": 0.1, "z": -0.0 if seq % 2 else 0.0, "s": "é%s\"\\\x01",
                "b": seq % 2 == 0, "n": None, "big": 10**30, "%k": "same"}
               for seq in range(1, 6)]
    with mock.patch("wire.chain.try_canonical_text", side_effect=AssertionError):
        found = try_canonical_texts(records)
    assert [made and made[1] for made in found] == [canonical(r) for r in records]
