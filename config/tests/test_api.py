"""The request parser and the fast renderer answer exactly what the json module would."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer

from config.api import FastJSONRenderer, _finite, _reject_constant, json_loads


def _json_module(body: bytes) -> Any:
    """What LimitedJSONParser did before orjson, errors and their messages included."""
    try:
        return json.loads(
            body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


def _outcome(parse: Any, body: bytes) -> Any:
    try:
        return ("value", _typed(parse(body)))
    except exceptions.ParseError as exc:
        return ("error", str(exc.detail))
    except RecursionError:
        return ("recursion", None)


def _typed(value: Any) -> Any:
    """A value with every scalar's type next to it (1 == 1.0 == True otherwise)."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, float):
        return ("float", math.copysign(1.0, value), repr(value))
    return (type(value).__name__, value)


_numbers = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_text = st.text(max_size=8) | st.sampled_from(["\u2028", "\ud800", "😀", "1" * 25, "a\\b"])
_values = st.recursive(
    st.none() | st.booleans() | _numbers | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values, ascii_only=st.booleans(), spaced=st.booleans())
def test_any_json_parses_to_the_same_values_and_types(value, ascii_only, spaced):
    separators = (", ", ": ") if spaced else (",", ":")
    try:
        body = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode()
    except UnicodeEncodeError:  # a lone surrogate, unescaped: not UTF-8, see the next test
        return
    assert _outcome(json_loads, body) == _outcome(_json_module, body)


_tokens = st.sampled_from(
    [
        "{", "}", "[", "]", ",", ":", '"', "\\", "\\u", "d800", "0", "1", "9", "-", "+", ".",
        "e", "E", "1e999", "-1e999", "1e-999", "NaN", "Infinity", "-Infinity", "true", "null",
        " ", "\n", "\t", "\x00", "\x1f", "é", "\u2028", "12345678901234567890",
        "18446744073709551616", "-9223372036854775809", "0.1234567890123456789012", "a",
    ]
)  # fmt: skip


@settings(deadline=None, max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(_tokens, max_size=14).map("".join).map(str.encode) | st.binary(max_size=24))
@example(body=b"\xef\xbb\xbf{}")  # a byte order mark
@example(body=b'"\xed\xa0\x80"')  # a surrogate encoded in UTF-8
@example(body=b"[" * 5000 + b"]" * 5000)  # deeper than both parsers go
@example(body=b"[1.5e308, 2e308]")
@example(body=b"[12345678901234567890.5, -0, -0.0, 1E400]")
def test_any_body_parses_or_fails_exactly_as_with_the_json_module(body):
    assert _outcome(json_loads, body) == _outcome(_json_module, body)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567890",  # beyond 64 bits: orjson would make it a float
        "-9223372036854775809",
        "[1, 184467440737095516160]",
        '{"n": 99999999999999999999999999999}',
        "0.1000000000000000055511151231257827021181583404541015625",  # a fraction
    ],
)
def test_long_numbers_keep_their_type_and_value(text):
    assert _outcome(json_loads, text.encode()) == _outcome(_json_module, text.encode())


# --- rendering --------------------------------------------------------------------------------

_finite_floats = st.floats(allow_nan=False, allow_infinity=False)
_renderable = st.recursive(
    st.none() | st.booleans() | st.integers() | _finite_floats | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def _drf(data: Any, media_type: str | None = None) -> Any:
    return JSONRenderer().render(data, media_type)


@settings(deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=_renderable)
def test_the_fast_renderer_writes_the_same_json_as_drf(data):
    try:
        expected: Any = ("body", _typed(json.loads(_drf(data))))
    except (ValueError, UnicodeEncodeError) as exc:
        expected = ("error", type(exc))
    try:
        got: Any = ("body", _typed(json.loads(FastJSONRenderer().render(data))))
    except (ValueError, UnicodeEncodeError) as exc:
        got = ("error", type(exc))
    assert got == expected


def test_the_fast_renderer_escapes_line_separators_and_falls_back_where_it_must():
    fast = FastJSONRenderer()
    assert fast.render({"a": "x\u2028y\u2029"}) == b'{"a":"x\\u2028y\\u2029"}'
    assert fast.render(None) == b""
    big = {"n": 2**80, "s": "naïve"}
    assert fast.render(big) == _drf(big)  # orjson stops at 64 bits: DRF renders it
    assert fast.render(big, "application/json; indent=2") == _drf(big, "application/json; indent=2")
    with pytest.raises(ValueError, match="Out of range float"):
        fast.render({"x": float("nan"), "n": 2**80})  # DRF refuses NaN
