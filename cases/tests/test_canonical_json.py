"""canonical_json is json.dumps with the canonical options: the same bytes, the same errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.canonical_json import canonical_json, canonical_json_of_parsed, canonical_scalar


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_text = st.text(max_size=8) | st.sampled_from(
    ["naïve", "\u2028", '"q"\\', "😀", "\x00\n", "\ud800"]
)
# Floats where orjson writes other text than json.dumps (1e-05 as 0.00001, 1e-07 as 1e-7),
# and their neighbours.
_small_floats = st.builds(
    lambda mantissa, exponent: mantissa * 10.0**exponent,
    st.floats(min_value=-10, max_value=10, allow_nan=False),
    st.integers(min_value=-12, max_value=-2),
)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _small_floats | _text
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


@settings(deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values)
def test_for_parsed_json_the_same_text_as_json_dumps(value):
    assert canonical_json_of_parsed(value) == _dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"tiny": 1e-05, "smaller": 1.5e-07, "tinier": 2e-09, "tiniest": 1e-10},
        [float("nan"), float("inf"), -float("inf")],
        {"big": 2**64, "negative": -(2**63) - 1},
        {"text": "0.0000 e-mail null", "n": None},
        {"b": {"z": [1, 2.5, True, False]}, "a": "naïve 😀 \u2028 \x00"},
        "\ud800",
    ],
)
def test_for_parsed_json_the_same_text_where_orjson_would_differ(value):
    assert canonical_json_of_parsed(value) == _dumps(value)


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
