"""canonical_json is json.dumps with the canonical options: the same bytes, the same errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.canonical_json import canonical_json, canonical_scalar


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_text = st.text(max_size=8) | st.sampled_from(
    ["naïve", "\u2028", '"q"\\', "😀", "\x00\n", "\ud800"]
)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _text
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values)
def test_the_same_text_as_json_dumps(value):
    assert canonical_json(value) == _dumps(value)


@settings(deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(value=_scalars)
def test_scalars_the_same_text_as_json_dumps(value):
    assert canonical_scalar(value) == _dumps(value)


def _error(encode: Any, value: Any) -> Any:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - comparing whatever is raised
        encode(value)
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": Decimal("1.5")},
        {1: "mixed", "b": "keys"},  # sort_keys cannot order int and str keys
        {"set": {1, 2}},
        object(),
    ],
)
def test_the_same_errors_as_json_dumps(value):
    assert _error(canonical_json, value) == _error(_dumps, value)


def test_a_circular_structure_is_refused_as_json_dumps_refuses_it():
    loop: list[Any] = []
    loop.append(loop)
    assert _error(canonical_json, loop) == _error(_dumps, loop)
    assert canonical_json([1, {"b": 2, "a": 1}]) == '[1,{"a":1,"b":2}]'  # and still works
