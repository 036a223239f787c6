"""The case API's hot loops without DRF's per-object machinery: reading a posted case and
writing a case out. A bulk request runs each of them a thousand times, where building a DRF
serializer per item cost more than storing the case.

Both are held to their serializers (``CaseInSerializer``, ``CaseOutSerializer``), which stay
the contract and the OpenAPI schema: ``case_input_fast`` accepts only what it can check
completely and returns None for anything else, which then goes through the serializer (and
gets its error messages); ``case_out`` renders exactly what ``CaseOutSerializer`` renders.
The tests compare both with their serializer."""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import Case, Priority
from cases.services import CaseInput
from cases.validators import MAX_RISK_TAGS, validate_context_fragments

FIELDS = frozenset(
    (
        "external_id",
        "case_type",
        "input",
        "ai_output",
        "confidence",
        "context",
        "risk_tags",
        "priority",
        "due_at",
        "metadata",
    )
)
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")
_PRIORITIES = frozenset(Priority.values)


def _plain(value: Any, max_length: int) -> TypeGuard[str]:
    """A string DRF's CharField would take unchanged: not blank, nothing to trim, short
    enough, no NUL; ASCII only (so no surrogates to look for)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    )


def case_input_fast(item: Any) -> CaseInput | None:
    """The CaseInput ``CaseInSerializer`` would make of ``item``, or None when the item is
    not a plainly valid case (then ask the serializer). ``item`` is parsed request JSON:
    ``config.api.LimitedJSONParser`` has already refused NaN, Infinity and numbers too large
    for a float, so the JSON values inside need no second look."""
    if not isinstance(item, dict) or not FIELDS.issuperset(item):
        return None
    external_id, case_type = item.get("external_id"), item.get("case_type")
    if not _plain(external_id, 255) or not _plain(case_type, 64) or not _SLUG.match(case_type):
        return None
    data, output = item.get("input"), item.get("ai_output")
    if data is None or output is None:
        return None
    confidence = item.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not math.isfinite(confidence)
        or not 0.0 <= confidence <= 1.0
    ):
        return None
    context = item.get("context", [])
    try:
        validate_context_fragments(context)
    except ValidationError:
        return None
    risk_tags = item.get("risk_tags", [])
    if not isinstance(risk_tags, list) or len(risk_tags) > MAX_RISK_TAGS:
        return None
    if not all(_plain(tag, 64) for tag in risk_tags):
        return None
    priority = item.get("priority", Priority.NORMAL)
    metadata = item.get("metadata", {})
    if not isinstance(priority, str) or priority not in _PRIORITIES:
        return None
    if not isinstance(metadata, dict):
        return None
    if item.get("due_at") is not None:
        return None  # date parsing and time zones: the serializer's job
    return CaseInput(
        external_id=external_id,
        case_type=case_type,
        input=data,
        ai_output=output,
        confidence=float(confidence),
        context=context,
        risk_tags=risk_tags,
        priority=str(priority),
        due_at=None,
        metadata=metadata,
    )


ROUTING_FIELDS = (
    "outcome",
    "queue",
    "reason",
    "rule",
    "policy",
    "policy_version",
    "required_reviews",
    "audit_sample",
)


def when(value: Any, zone: Any = None) -> Any:
    """A date-time as DRF renders it: in the current time zone, ISO 8601, UTC as "Z" (None
    stays None). Pass ``zone`` (the current time zone) when rendering many."""
    if value is None:
        return None
    return _rendered(value, value.tzinfo, zone or timezone.get_current_timezone())


@functools.lru_cache(maxsize=1024)
def _rendered(value: datetime, tzinfo: Any, zone: Any) -> str:
    # Cached: the cases of a bulk request share their timestamps and a few deadlines. The
    # key holds the tzinfo, which a datetime's own equality and hash leave out.
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def case_out(case: Case, zone: Any = None) -> dict[str, Any]:
    """``CaseOutSerializer(case).data`` as a plain dict (load cases with their case type).
    Pass ``zone`` (the current time zone) when rendering many."""
    routing = case.routing
    zone = zone or timezone.get_current_timezone()
    return {
        "id": str(case.pk),
        "external_id": case.external_id,
        "case_type": case.case_type.slug,
        "status": case.status,
        "queue": (routing or {}).get("queue"),
        "routing": (
            {name: routing.get(name) for name in ROUTING_FIELDS} if routing is not None else None
        ),
        "priority": case.priority,
        "confidence": float(case.confidence),
        "due_at": when(case.due_at, zone),
        "sla_due_at": when(case.sla_due_at, zone),
        "fast_tracked": case.fast_tracked,
        "final_output": case.final_output,
        "decision": case.decision,
        "decided_at": when(case.decided_at, zone),
        "created_at": when(case.created_at, zone),
        "updated_at": when(case.updated_at, zone),
    }


def case_detail_out(case: Case) -> dict[str, Any]:
    """``CaseDetailSerializer(case).data`` as a plain dict."""
    return {
        **case_out(case),
        "input": case.input,
        "ai_output": case.ai_output,
        "context": case.context,
        "risk_tags": case.risk_tags,
        "metadata": case.metadata,
    }
