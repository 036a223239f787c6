"""Retention: personal payloads go, the audit skeleton and its chain stay."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cases.audit_chain import audit_chain_verify
from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(client_for) -> Case:
    CaseTypeFactory(slug="refund")
    body = (
        client_for(SourceFactory(name="shop").api_key)
        .post("/api/v1/cases/", case_payload(confidence=0.99), format="json")
        .json()
    )
    Case.objects.filter(pk=body["id"]).update(decided_at=timezone.now() - timedelta(days=400))
    return Case.objects.get(pk=body["id"])


def test_expired_cases_are_redacted_and_the_chain_still_verifies(decided):
    out = StringIO()
    call_command("redact_expired_cases", "--days", "365", stdout=out)
    case = Case.objects.get(pk=decided.pk)
    assert "Redacted 1 case(s)" in out.getvalue()
    assert (case.input, case.ai_output, case.final_output) == (
        {"redacted": True},
        {"redacted": True},
        {"redacted": True},
    )
    assert (case.context, case.metadata) == ([], {})
    assert case.redacted_at is not None
    # the skeleton stays: status, routing explanation, timestamps
    assert case.status == "auto_approved"
    assert case.routing == decided.routing
    assert case.decided_at == decided.decided_at
    event = AuditEvent.objects.get(kind="case.redacted", case=case)
    assert "retention" in event.reason
    assert audit_chain_verify().intact


def test_recent_cases_and_dry_runs_are_left_alone(decided):
    out = StringIO()
    call_command("redact_expired_cases", "--days", "500", stdout=out)
    call_command("redact_expired_cases", "--days", "365", "--dry-run", stdout=out)
    assert "1 case(s) would be redacted" in out.getvalue()
    assert Case.objects.get(pk=decided.pk).redacted_at is None


def test_retention_needs_a_period(decided, settings):
    settings.LOOPGATE_RETENTION_DAYS = None
    with pytest.raises(CommandError, match="No retention period"):
        call_command("redact_expired_cases")
