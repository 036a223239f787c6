"""The canonical JSON that hashes are computed over: payload hashes (idempotent re-posting)
and the audit chain. Its bytes must never change, or stored hashes stop matching."""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring
from typing import Any

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
