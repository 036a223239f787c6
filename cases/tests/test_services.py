"""Ingestion services: the payload's canonical encoding and the look-up of existing cases."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.selectors import cases_by_external_id
from cases.services import CaseInput
from cases.tests.factories import CaseFactory, SourceFactory


def _old_payload_hash(data: CaseInput) -> str:
    """The formula every stored payload_hash was made with: json.dumps of the whole payload."""
    due = data.due_at.astimezone(UTC).isoformat() if data.due_at else None
    canonical = json.dumps(
        {
            "case_type": data.case_type,
            "input": data.input,
            "ai_output": data.ai_output,
            "confidence": float(data.confidence),
            "context": data.context,
            "risk_tags": data.risk_tags,
            "priority": data.priority,
            "due_at": due,
            "metadata": data.metadata,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_text = st.text(max_size=6) | st.sampled_from(["refund", "naïve", "\u2028", '"q"\\', "😀"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_when = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - made aware by timezones=
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=5))]),
)


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.builds(
        CaseInput,
        external_id=_text,
        case_type=_text,
        input=_json,
        ai_output=_json,
        confidence=st.floats() | st.integers(-(2**70), 2**70).map(float),
        context=st.lists(_json, max_size=2),
        risk_tags=st.lists(_text, max_size=2),
        priority=st.sampled_from(["low", "normal", "high", "urgent"]) | _text,
        due_at=st.none() | _when,
        metadata=st.dictionaries(_text, _json, max_size=3),
    )
)
def test_the_payload_hash_is_the_one_every_stored_case_was_hashed_with(data):
    """Re-posting a case stored before this encoding must still be recognised as the same."""
    encoded = data.encoded()
    assert encoded.digest == data.payload_hash() == _old_payload_hash(data)
    for name, text in encoded.json.items():  # each part is the JSON of its field
        _assert_same_json(json.loads(text), getattr(data, name))


def _assert_same_json(got: Any, want: Any) -> None:
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got)
    elif isinstance(want, dict):
        assert list(got) == sorted(want)  # canonical: sorted keys
        for key, value in want.items():
            _assert_same_json(got[key], value)
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            _assert_same_json(a, b)
    else:
        assert (type(got), got) == (type(want), want)


@pytest.mark.django_db
def test_cases_by_external_id_finds_the_sources_own_cases_only():
    source, other = SourceFactory(), SourceFactory()
    mine = CaseFactory(source=source, external_id="a")
    CaseFactory(source=other, external_id="b")
    found = cases_by_external_id(source=source, external_ids={"a", "b", "c"})
    assert found == {"a": mine}
    assert found["a"].case_type.slug == mine.case_type.slug
    assert cases_by_external_id(source=source, external_ids={"x"}) == {}
    assert cases_by_external_id(source=source, external_ids=[]) == {}
