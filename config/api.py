"""API wiring shared by every app: the JSON parser with size limits, and the one
exception handler that gives every error the same JSON shape::

    {"error": {"code": "invalid", "message": "...", "fields": {"confidence": ["..."]}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
        try:
            return json.loads(
                body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


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
