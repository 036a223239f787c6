"""Validation rules for case data and case-type configuration, shared by the model fields
(and so Django admin and DRF model serializers) and by ingestion."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

REASON_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
MAX_CONTEXT_FRAGMENTS = 200
MAX_RISK_TAGS = 50


def validate_reason_codes(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Reason codes must be a JSON list of strings.")
    seen: set[str] = set()
    for position, code in enumerate(value):
        if not isinstance(code, str) or not REASON_CODE_RE.match(code):
            raise ValidationError(
                f"Reason code #{position + 1} ({code!r}) must be a lowercase slug: "
                "letters, digits, '-' or '_', at most 64 characters."
            )
        if code in seen:
            raise ValidationError(f"Reason code {code!r} is listed twice.")
        seen.add(code)


def validate_json_schema(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValidationError("A JSON Schema must be a JSON object.")
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from None


def validate_context_fragments(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Context must be a list of fragments.")
    if len(value) > MAX_CONTEXT_FRAGMENTS:
        raise ValidationError(f"At most {MAX_CONTEXT_FRAGMENTS} context fragments are allowed.")
    for position, fragment in enumerate(value):
        where = f"Fragment #{position + 1}"
        if not isinstance(fragment, dict):
            raise ValidationError(f"{where} must be an object with a 'text'.")
        if not isinstance(fragment.get("text"), str):
            raise ValidationError(f"{where} needs a 'text' string.")
        if "source" in fragment and not isinstance(fragment["source"], str | None):
            raise ValidationError(f"{where}: 'source' must be a string.")
        score = fragment.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise ValidationError(f"{where}: 'score' must be a number.")


def validate_risk_tags(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError("Risk tags must be a list of strings.")
    if len(value) > MAX_RISK_TAGS:
        raise ValidationError(f"At most {MAX_RISK_TAGS} risk tags are allowed.")
    if any(not tag or len(tag) > 64 for tag in value):
        raise ValidationError("Each risk tag must be 1 to 64 characters long.")


def validate_json_object(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.")


@lru_cache(maxsize=256)
def _compiled(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def schema_errors(schema: dict[str, Any] | None, instance: Any, *, limit: int = 10) -> list[str]:
    """Readable messages for where ``instance`` breaks ``schema`` (empty when it conforms)."""
    if not schema:
        return []
    validator = _compiled(json.dumps(schema, sort_keys=True))
    messages: list[str] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        location = "/".join(str(part) for part in error.absolute_path)
        messages.append(f"{location}: {error.message}" if location else error.message)
        if len(messages) >= limit:
            break
    return messages
