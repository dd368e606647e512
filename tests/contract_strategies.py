"""Hypothesis strategies for the wire contract's payloads, read from its models' bounds.

Every field's strategy is derived from its annotation and constraints
(``ge``/``le``/``gt``, ``max_length``, ``pattern``, ``Literal``, optional,
nested models), weighted towards the edges: the bounds themselves, the
smallest positive float, years 0001 and 9999, nanosecond fractions, empty and
maximal text, odd unicode, every optional field null. A field added to the
contract later is generated without a change here; :func:`record` then asks the
model itself, so a strategy that drifts from the contract fails loudly instead
of feeding the hub invalid payloads.

    readings = record(ReadingItem, near=T0)          # valid ReadingItems, as JSON-ready dicts
    statuses = record(Status, T0, device=DEVICE, ...)   # fixed fields: a value or a strategy
"""

from __future__ import annotations

import math
import types
import typing
from datetime import datetime, timedelta
from typing import Any, Literal

import annotated_types as at
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from wire.records import (
    READING_RATES,
    TIMESTAMP_PATTERN,
    ExposureItem,
    ReadingItem,
    instant_key,
)

#: Instants at the ends of what the contract's timestamp can name, and a few famous ones.
EDGE_TIMES = (
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000001Z", "0001-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z", "9999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "2038-01-19T03:14:08Z",
    "2024-02-29T23:59:59.5Z", "2026-03-29T01:30:00Z", "2026-10-25T00:30:00Z",
)
#: Text a page must show as text: markup, formulas, bidi overrides, NUL, very wide characters.
ODD_TEXT = (
    "", " ", "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "+1", "-1", "@x",
    "\u202ertl\u202c", "\x00", "a\nb\r\nc\t", "{{ 7*7 }}", "{% raw %}", "%s%n", "💥" * 50,
    "\ufeff", "\u0301", "&amp;", "'\"", "\\", "../../etc/passwd",
)
#: Positive floats that break arithmetic: the smallest subnormal and normal, and near 1.
TINY = (5e-324, 2.2250738585072014e-308, 1e-300, 1e-12)


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            out.update(_constraints(item.metadata))
        elif isinstance(item, at.Ge):
            out["ge"] = item.ge
        elif isinstance(item, at.Gt):
            out["gt"] = item.gt
        elif isinstance(item, at.Le):
            out["le"] = item.le
        elif isinstance(item, at.MaxLen):
            out["max_length"] = item.max_length
        elif getattr(item, "pattern", None) is not None:
            out["pattern"] = item.pattern
    return out


def timestamps(near: float) -> st.SearchStrategy[str]:
    """Real instants of the contract's form: edges, anywhere in 0001-9999, and near ``near``
    (epoch seconds: where the pages' default ranges look), with 0 to 9 decimals."""
    digits = st.integers(0, 9)
    fractions = digits.flatmap(lambda n: st.just("") if n == 0 else st.integers(
        0, 10**n - 1).map(lambda v, n=n: "." + str(v).zfill(n)))
    anywhere = st.datetimes(min_value=datetime(1, 1, 1),
                            max_value=datetime(9999, 12, 31, 23, 59, 59))
    close = st.floats(-4 * 86400, 2 * 86400).map(
        lambda d: datetime(1970, 1, 1) + timedelta(seconds=near + d))
    moments = st.one_of(anywhere, close, close)
    return st.one_of(
        st.sampled_from(EDGE_TIMES),
        st.tuples(moments, fractions).map(
            lambda mf: mf[0].replace(microsecond=0).isoformat() + mf[1] + "Z"),
    )


def _floats(c: dict[str, Any]) -> st.SearchStrategy[float]:
    low = float(c.get("ge", c.get("gt", -1e300)))
    high = float(c.get("le", 1e300))
    edges = [v for v in (low, high, math.nextafter(high, low), 0.0, 1.0, *TINY)
             if low <= v <= high and not ("gt" in c and v <= c["gt"])]
    return st.one_of(st.sampled_from(edges),
                     st.floats(low, high, exclude_min="gt" in c, allow_nan=False,
                               allow_infinity=False))


def _ints(c: dict[str, Any]) -> st.SearchStrategy[int]:
    low = int(c.get("ge", c["gt"] + 1 if "gt" in c else -(2**53)))
    high = int(c.get("le", 2**53))
    return st.one_of(st.sampled_from([low, high, min(low + 1, high)]), st.integers(low, high))


def _text(c: dict[str, Any], near: float) -> st.SearchStrategy[str]:
    pattern = c.get("pattern")
    if pattern == TIMESTAMP_PATTERN:
        return timestamps(near)
    if pattern is not None:
        return st.from_regex(pattern, fullmatch=True)
    size = int(c.get("max_length", 300))
    odd = [t for t in ODD_TEXT if len(t) <= size]
    return st.one_of(st.sampled_from(odd), st.just("Ω" * size), st.text(max_size=size))


def for_annotation(annotation: Any, metadata: list[Any], near: float
                   ) -> st.SearchStrategy[Any]:
    """A strategy for one field's type and constraints (nested models and lists too)."""
    c = _constraints(metadata)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return for_annotation(args[0], [*metadata, *args[1:]], near)
    if origin in (typing.Union, types.UnionType):
        options = [for_annotation(a, metadata, near) for a in args if a is not type(None)]
        if type(None) in args:
            options.append(st.none())
        return st.one_of(options)
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(for_annotation(args[0], [], near), max_size=c.get("max_length", 8))
    if origin is dict:
        return st.dictionaries(for_annotation(args[0], [], near),
                               for_annotation(args[1], [], near),
                               max_size=c.get("max_length", 8))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return fields(annotation, near).map(lambda values: annotation.model_validate(
            values).model_dump(mode="json"))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return _ints(c)
    if annotation is float:
        return _floats(c)
    if annotation is str:
        return _text(c, near)
    raise TypeError(f"no strategy for {annotation!r}: extend tests/contract_strategies.py")


def fields(model: type[BaseModel], near: float, **fixed: Any
           ) -> st.SearchStrategy[dict[str, Any]]:
    """Every field of ``model`` drawn from its bounds (``fixed`` ones as given), then made
    consistent the way the model's own validators require."""
    drawn = {name: _given(fixed[name]) if name in fixed else
             for_annotation(info.annotation, info.metadata, near)
             for name, info in model.model_fields.items()}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        values = {name: draw(strategy) for name, strategy in drawn.items()}
        return _consistent(draw, model, values, near)

    return build()


def _given(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _consistent(draw: st.DrawFn, model: type[BaseModel], values: dict[str, Any],
                near: float) -> dict[str, Any]:
    """What the model validators of wire/records.py ask beyond each field's bounds."""
    if model is ReadingItem:
        values["start"], values["end"] = sorted((values["start"], values["end"]), key=instant_key)
        if values["seconds_covered"] == 0:
            values.update(dict.fromkeys(READING_RATES))
        else:
            for name in READING_RATES:
                if values[name] is None:
                    info = model.model_fields[name]
                    base = typing.get_args(info.annotation)[0]
                    values[name] = draw(for_annotation(base, [], near))
    if model is ExposureItem and values.get("end") is not None:
        values["start"], values["end"] = sorted((values["start"], values["end"]), key=instant_key)
    return values


def record(model: type[BaseModel], near: float, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A record or message of ``model`` as its JSON dict, validated by the model itself."""
    return fields(model, near, **fixed).map(
        lambda values: model.model_validate(values).model_dump(mode="json"))
