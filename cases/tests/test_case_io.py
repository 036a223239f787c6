"""The case API's fast paths agree with the serializers that define the contract."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.api.case_io import case_input_fast, case_out
from cases.api.serializers import CaseInSerializer, CaseOutSerializer, parse_bulk_item
from cases.errors import InvalidInput
from cases.tests.factories import CaseFactory, case_payload

# --- reading a posted case ------------------------------------------------------------------


def _serializer_says(item: Any) -> Any:
    serializer = CaseInSerializer(data=item)
    return serializer.to_case_input() if serializer.is_valid() else None


def test_a_plain_case_takes_the_fast_path_and_reads_as_the_serializer_reads_it():
    item = case_payload(risk_tags=["vip", "refund"], priority="high")
    fast = case_input_fast(item)
    assert fast is not None
    assert fast == _serializer_says(item)


def test_defaults_match_the_serializer():
    item = {k: v for k, v in case_payload().items() if k in ("external_id", "case_type")}
    item.update(input={"a": 1}, ai_output=[1, 2], confidence=1)
    fast = case_input_fast(item)
    assert fast is not None and fast == _serializer_says(item)
    assert (fast.context, fast.risk_tags, fast.priority, fast.metadata) == ([], [], "normal", {})
    assert isinstance(fast.confidence, float)


@pytest.mark.parametrize(
    "change",
    [
        {"external_id": " padded "},  # the serializer trims
        {"external_id": "ünïcode"},
        {"external_id": ""},
        {"external_id": 12},
        {"case_type": "not a slug"},
        {"confidence": True},
        {"confidence": 1.5},
        {"confidence": "0.5"},
        {"context": None},
        {"context": [{"source": "no text"}]},
        {"risk_tags": ["ok", ""]},
        {"risk_tags": "vip"},
        {"priority": "asap"},
        {"metadata": []},
        {"due_at": "2030-01-01T00:00:00Z"},  # valid, but the serializer parses dates
        {"surprise": 1},
        {"input": None},
    ],
)
def test_anything_unusual_is_left_to_the_serializer(change):
    assert case_input_fast(case_payload(**change)) is None


def test_parse_bulk_item_gives_the_serializers_errors_for_bad_items():
    result = parse_bulk_item(case_payload(confidence=2, priority="asap"))
    assert isinstance(result, InvalidInput)
    assert set(result.fields) == {"confidence", "priority"}


def test_a_due_date_goes_through_the_serializer_and_is_read():
    result = parse_bulk_item(case_payload(due_at="2030-01-01T10:00:00+02:00"))
    assert not isinstance(result, InvalidInput)
    assert result.due_at is not None and result.due_at.hour == 8


_text = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["refund", "order-1", " x", "x ", "a\x00b", "", "ü", "vip"]),
)
# Finite floats: items come from LimitedJSONParser, which refuses NaN, Infinity and 1e999.
_finite = st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _finite | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_fragment = st.fixed_dictionaries(
    {"text": _text}, optional={"source": st.none() | _text, "score": st.none() | _json}
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    item=st.fixed_dictionaries(
        {},
        optional={
            "external_id": _text | st.integers(),
            "case_type": _text,
            "input": _json,
            "ai_output": _json,
            "confidence": st.floats() | st.integers(-1, 2) | st.booleans() | _text,
            "context": st.lists(_fragment | _json, max_size=3) | _json,
            "risk_tags": st.lists(_text | st.integers(), max_size=3) | _json,
            "priority": st.sampled_from(["low", "normal", "high", "urgent", "asap", ""]) | _json,
            "metadata": st.dictionaries(_text, _json, max_size=2) | _json,
            "due_at": st.none() | _text,
            "extra": _json,
        },
    )
)
def test_the_fast_path_never_accepts_what_the_serializer_would_read_otherwise(item):
    fast = case_input_fast(item)
    if fast is not None:
        assert fast == _serializer_says(item)


# --- writing a case out ---------------------------------------------------------------------


def _routing(**overrides: Any) -> dict[str, Any]:
    routing = {
        "outcome": "queued",
        "queue": "generalist",
        "reason": "confidence below the auto-approve threshold",
        "rule": None,
        "policy": "default",
        "policy_version": 3,
        "policy_version_id": 7,
        "required_reviews": 1,
        "audit_sample": False,
        "thresholds": {"auto_approve": 0.9},
    }
    routing.update(overrides)
    return routing


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"routing": None},
        {"routing": _routing(), "sla_due_at": "soon", "priority": "high"},
        {
            "routing": _routing(outcome="auto_approved", queue=None, rule="low-risk"),
            "status": "auto_approved",
            "final_output": {"label": "ok"},
            "decided_at": "now",
        },
        {
            "routing": _routing(audit_sample=True),
            "status": "approved",
            "due_at": "soon",
            "fast_tracked": True,
            "final_output": [1, "two"],
            "decision": {"id": 1, "action": "approve", "reviewer": "gail"},
            "decided_at": "now",
            "confidence": 0,
        },
    ],
)
def test_case_out_renders_what_the_serializer_renders(fields):
    now = timezone.now()
    times = {"now": now, "soon": now + timedelta(minutes=90, microseconds=5)}
    case = CaseFactory(
        **{k: times.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    )
    assert case_out(case) == CaseOutSerializer(case).data
    case.refresh_from_db()  # as read back: microseconds and time zone from the database
    assert case_out(case) == CaseOutSerializer(case).data
    with timezone.override("America/Sao_Paulo"):  # rendered in the current time zone
        assert case_out(case) == CaseOutSerializer(case).data
        assert case_out(case)["created_at"].endswith("-03:00")


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(sorted(CaseInSerializer().fields)),
    value=_json | st.lists(_fragment, max_size=2) | st.lists(_text, max_size=2),
)
def test_one_changed_field_reads_the_same_both_ways(key, value):
    item = case_payload(**{key: value})
    fast = case_input_fast(item)
    expected = _serializer_says(item)
    if fast is not None:
        assert fast == expected
    elif expected is not None:  # what the fast path leaves out must be unusual, not plain
        assert key in ("external_id", "case_type", "risk_tags", "due_at", "confidence")
