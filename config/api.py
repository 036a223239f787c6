"""API wiring shared by every app: the JSON parser with size limits, and the one
exception handler that gives every error the same JSON shape::

    {"error": {"code": "invalid", "message": "...", "fields": {"confidence": ["..."]}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from cases import errors

_DOMAIN_STATUS: list[tuple[type[errors.LoopgateError], int]] = [
    (errors.NotFound, status.HTTP_404_NOT_FOUND),
    (errors.Forbidden, status.HTTP_403_FORBIDDEN),
    (errors.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (errors.Conflict, status.HTTP_409_CONFLICT),
]


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "Request body too large."


class LimitedJSONParser(BaseParser):
    """Strict JSON (no NaN/Infinity) with a byte limit: the setting a view names in
    ``max_body_setting``, LOOPGATE_MAX_CASE_BYTES by default."""

    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        context = parser_context or {}
        view = context.get("view")
        limit: int = getattr(settings, getattr(view, "max_body_setting", "LOOPGATE_MAX_CASE_BYTES"))
        request = context.get("request")
        declared = 0
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
        if declared > limit:
            raise RequestTooLarge(f"Request body is {declared} bytes; the limit is {limit} bytes.")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge(f"Request body is over the limit of {limit} bytes.")
        return json_loads(body)


def json_loads(body: bytes) -> Any:
    """Parse a request body as strict JSON: NaN, Infinity and numbers too large for a float
    are refused (ParseError), like malformed JSON and bytes that are not UTF-8.

    orjson parses several times faster than the json module and answers the same for any
    body it accepts, with one exception: integers beyond 64 bits, which it turns into
    floats. Bodies with a run of 19 or more digits that is not the fraction of a decimal
    number, and everything orjson refuses (including all the errors), go through the json
    module as before, so every error and its message stay the same. A property test
    holds the two to the same results."""
    if not _maybe_long_integer(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(
            body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


# A body's bytes with every digit as "0" and everything else but "." as a space.
_SHAPE = bytes(48 if 48 <= byte <= 57 else 46 if byte == 46 else 32 for byte in range(256))
_LONG_RUN = b"0" * 19


def _maybe_long_integer(body: bytes) -> bool:
    """Whether ``body`` has a run of 19 or more digits not right after a ".", which could
    be an integer beyond 64 bits (or one in a string: then the json module parses it)."""
    shape = body.translate(_SHAPE)
    start = shape.find(_LONG_RUN)
    while start != -1:
        if start == 0 or shape[start - 1] != 46:  # not the fraction of a decimal number
            return True
        start = shape.find(_LONG_RUN, start + len(_LONG_RUN))
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    """A number too large for a float (1e999) would become infinity, which no JSON column
    can store: refuse it here, like NaN and Infinity, so everything after parsing only ever
    sees finite numbers."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


class FastJSONRenderer(JSONRenderer):
    """DRF's JSONRenderer through orjson: the same JSON content (not always the same bytes:
    orjson writes 1e-05 as 0.00001), an order of magnitude sooner for a large body, such as
    a thousand bulk results. Whatever orjson cannot write the way DRF would (an indent, an
    integer beyond 64 bits, a lone surrogate, types only DRF's encoder knows) is rendered by
    JSONRenderer itself, errors included.

    Only for views whose data holds no NaN or infinite floats: orjson writes them as null
    where JSONRenderer (strict JSON) refuses them. The case views qualify: their floats come
    from request JSON that the parser checked, from jsonb, which cannot hold them, or from
    checked confidences."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None or not self.compact or self.ensure_ascii or not self.strict:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type or "", dict(renderer_context or {})) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data)
        except TypeError:
            return super().render(data, accepted_media_type, renderer_context)
        # As JSONRenderer: U+2028 and U+2029 escaped, so the body is also valid JavaScript.
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.LoopgateError):
        for family, http_status in _DOMAIN_STATUS:
            if isinstance(exc, family):
                fields: dict[str, Any] | None = (
                    dict(exc.fields) if isinstance(exc, errors.InvalidInput) else None
                )
                return Response(error_body(exc.code, exc.message, fields), status=http_status)
        return Response(error_body(exc.code, exc.message), status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    # Imported here: importing rest_framework.views reads DEFAULT_PARSER_CLASSES, which names
    # this module, so it cannot be imported while this module is.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        field_errors = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("invalid", "Invalid input.", dict(field_errors))
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response
