"""The canonical JSON that hashes are computed over: payload hashes (idempotent re-posting)
and the audit chain. Its bytes must never change, or stored hashes stop matching."""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring
from typing import Any

import orjson

# The C encoder json.dumps uses (None without the C accelerator, which CPython always has).
c_make_encoder = getattr(json.encoder, "c_make_encoder", None)

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.

    Made with the C encoder json.dumps itself makes for the call, with the same arguments,
    but without the two Python-level calls around it: a bulk ingestion encodes ten values per
    case, and for small ones those calls cost more than the encoding. A test holds it to
    json.dumps, errors included."""
    if c_make_encoder is None:  # pragma: no cover
        return _ENCODER.encode(value)
    encode = c_make_encoder(
        {}, _ENCODER.default, encode_basestring, None, ":", ",", True, False, True
    )
    return "".join(encode(value, 0))


# orjson writes what canonical_json writes for JSON values (dict, list, str, int, float, bool,
# None), with sorted keys, but for three things, which its output shows:
#  - NaN and the infinities, which it writes as null (json.dumps: NaN, Infinity);
#  - floats from 1e-9 to below 1e-4, which it writes as 0.00001 or 1e-7 (json.dumps: 1e-05,
#    1e-07): every such number has "0.0000" or "e-" followed by one digit in its text.
# Text with "null", "e-" or "0.0000" anywhere (in a string too) goes the slow way. Whatever
# orjson refuses (integers beyond 64 bits, keys that are not strings, lone surrogates, deep
# nesting; with these options, subclasses of str, int, dict and list) does as well.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError


def canonical_json_of_parsed(value: Any) -> str:
    """``canonical_json(value)`` for a value parsed from JSON text (made of dicts, lists,
    strings, numbers, booleans and None, as a request body is), several times quicker: what
    orjson writes where it writes the same, canonical_json otherwise. Not for other values:
    orjson writes a UUID or an Enum member, which json.dumps refuses. A test holds it to
    json.dumps."""
    try:
        text = orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:
        return canonical_json(value)
    if b"null" in text or b"e-" in text or b"0.0000" in text:
        return canonical_json(value)
    return text.decode()


def canonical_scalar(value: Any) -> str:
    """``canonical_json(value)``, quicker still for a plain string, integer, finite float or
    None: what the C encoder writes for each."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    return canonical_json(value)
