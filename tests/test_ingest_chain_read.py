"""The faster reading of a record batch (:func:`hub.ingest.chain_read.read_chain`, in the
decode worker) accepts and refuses exactly what the contract's ``decode_chain`` does, with
the same models, the same records as sent (values, types and key order) and the same
reasons (issue 18 item 2).

It reads the records as sent with pydantic's JSON parser instead of Python's, on payloads
where both are known to read alike; the rest goes to ``decode_chain``. So: its answer is
``decode_chain``'s over the hostile devices' payloads, malformed bytes, batches drawn from
the contract's bounds and payloads built to part the two parsers (a key written twice
over a value one of them cannot read, a lone surrogate, an integer of 4,301 digits,
control characters, odd white space); random bytes put into valid payloads; and where
pydantic's parser reads such a payload at all, Python's reads the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import from_json

from hub.ingest import chain_read
from hub.ingest.chain_read import read_chain
from tests import hub_factory as hf
from tests.test_fast_decode import Msg, batches, hostile, malformed
from wire.contract import READINGS, WireError, decode_chain, topic

WHERE = topic(hf.SITE, hf.ROOM, READINGS)


def answer(read: Any, message: Msg) -> tuple[str, str]:
    """What a reading gives, written out whole: its models and records as sent (``repr``:
    NaN is itself, never equal to itself; key order shows), or its refusal."""
    try:
        found = read(*message)
    except WireError as exc:
        return "refused", exc.reason
    return "ok", repr((found.topic, found.envelope, found.records, found.raws,
                       [list(raw) if isinstance(raw, dict) else raw for raw in found.raws]))


def same(message: Msg) -> bool:
    return answer(read_chain, message) == answer(decode_chain, message)


@contextmanager
def counted() -> Iterator[list[Msg]]:
    """The messages ``read_chain`` left to ``decode_chain``."""
    left: list[Msg] = []

    def contract(topic_text: str, payload: bytes) -> Any:
        left.append((topic_text, payload))
        return decode_chain(topic_text, payload)

    with mock.patch.object(chain_read, "decode_chain", contract):
        yield left


def edge_payloads() -> list[Msg]:
    """Payloads where Python's and pydantic's parsers may part: each on its own and as the
    first value of a key written twice (both parsers keep the second)."""
    good = json.loads(hf.readings(1, 2)[1])
    text = json.dumps(good)
    tricky = ['"\\ud800"', '"\\ud83d\\ude00"', '"\\u00e9"', "1" * 4300, "1" * 4301,
              "NaN", "Infinity", "-Infinity", "1e400", "-0", "[" * 150 + "]" * 150,
              "[" * 300 + "]" * 300, '"a\\x"', '"tab\there"', '"nul\x00"', "0.1e-400",
              "123456789012345678901234567890.5", "01", "+1", '"é"']
    out = []
    for value in tricky:
        out.append((WHERE, text.replace('"counts": 12', f'"counts": {value}', 1).encode()))
        out.append((WHERE, text.replace('"counts": 12', f'"counts": {value}, "counts": 12',
                                        1).encode()))
        out.append((WHERE, text.replace('{"v": 1', f'{{"v": {value}, "v": 1', 1).encode()))
    for space in ["\f", "\v", "\u00a0", "\r\n\t "]:
        out.append((WHERE, text.replace(", ", "," + space, 3).encode()))
    out.append((WHERE, b"\xef\xbb\xbf" + text.encode()))
    out.append((WHERE, text.encode() + b"\x00"))
    out.append((WHERE, text.replace('"calibration": "', '"calibration": "\\"\\\\\\/\\b\\f\\n'
                                    '\\r\\t', 1).encode()))
    out.append((WHERE, text.replace('"calibration": "', '"calibration": "caf\u00e9',
                                    1).encode()))
    return out


def test_hostile_and_malformed_payloads_get_the_contracts_answer() -> None:
    messages = hostile() + malformed() + edge_payloads()
    with counted() as left:
        for message in messages:
            assert same(message), message[1][:300]
    read_here = len(messages) - len(left)
    assert read_here >= 20  # the faster way was taken, and not for everything
    assert len(left) >= len(malformed())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_batches_drawn_from_the_contract_get_its_answer(messages: list[Msg]) -> None:
    for message in messages:
        assert same(message), message[1][:300]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_bytes_in_a_valid_payload_get_the_contracts_answer(data: st.DataObject) -> None:
    """Both parsers meet the same bytes: what one reads and the other refuses would show."""
    payload = bytearray(hf.readings(1, 3)[1])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(payload)))
        cut = data.draw(st.integers(0, 2))
        payload[at:at + cut] = data.draw(st.binary(min_size=0, max_size=3) | st.sampled_from(
            [b'"', b"\\", b",", b":", b"{", b"}", b"[", b"]", b"1", b"e", b"-", b" ", b"\\u"]))
    assert same((WHERE, bytes(payload)))


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers()
                    | st.text(st.characters(max_codepoint=127)),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=12))
def test_where_pydantic_reads_a_plain_payload_python_reads_the_same(value: Any) -> None:
    text = json.dumps(value).encode()
    if not chain_read._plain(text):
        return
    assert repr(from_json(text)) == repr(json.loads(text))
    assert [type(x) for x in _leaves(from_json(text))] == [type(x) for x in _leaves(
        json.loads(text))]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [k for k in value] + [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def test_python_reading_fewer_digits_sends_every_payload_to_the_contract(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Python reads integers of at most ``sys.get_int_max_str_digits()`` digits; pydantic
    4,300. Set lower, a longer one in a key written twice would part them."""
    payload = json.dumps(json.loads(hf.readings(1, 1)[1])).replace(
        '"counts": 12', '"counts": ' + "7" * 1000 + ', "counts": 12').encode()
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with counted() as left:
            assert answer(read_chain, (WHERE, payload))[0] == "refused"
        assert left == [(WHERE, payload)]
    finally:
        sys.set_int_max_str_digits(before)
    with counted() as left:
        assert answer(read_chain, (WHERE, payload))[0] == "ok"
    assert left == []
