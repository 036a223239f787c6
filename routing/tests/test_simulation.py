"""The dry run over real cases, against hand-counted answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.tests.factories import CaseFactory, CaseTypeFactory, SourceFactory
from routing.services import policy_draft_create, policy_edit_and_publish
from routing.simulation import policy_simulate

pytestmark = pytest.mark.django_db


def _case(source, case_type, confidence, status, *, days_ago=1, queue="generalist"):
    return CaseFactory(
        source=source,
        case_type=case_type,
        confidence=confidence,
        status=status,
        created_at=timezone.now() - timedelta(days=days_ago),
        routing={"outcome": "queued", "queue": queue},
    )


def test_report_counts_outcomes_load_and_overrides_it_would_have_missed(admin_user):
    source, refund = SourceFactory(name="bot"), CaseTypeFactory(slug="refund")
    _case(source, refund, 0.91, "approved")  # would auto-approve; humans agreed
    _case(source, refund, 0.92, "rejected")  # would auto-approve; humans overrode
    _case(source, refund, 0.93, "edited")  # would auto-approve; humans overrode
    _case(source, refund, 0.75, "approved")  # generalist either way
    _case(source, refund, 0.40, "pending_review", queue="expert")  # expert either way
    _case(source, refund, 0.95, "pending_review", days_ago=40)  # outside the window
    draft = policy_draft_create(
        actor=admin_user,
        case_type=None,
        values={"auto_approve_threshold": 0.9, "audit_sample_rate": 0.0},
    )

    report = policy_simulate(version=draft, since=timezone.now() - timedelta(days=30))

    assert report.cases == 5
    assert report.auto_approved == 3
    assert report.by_queue == {"expert": 1, "generalist": 1}
    assert report.actual_by_queue == {"expert": 1, "generalist": 4}
    assert report.human_reviewed == 4
    assert report.would_auto_approve_reviewed == 3
    assert report.would_auto_approve_overridden == 2
    assert report.auto_approved_share == pytest.approx(0.6)
    assert report.load_per_day["generalist"] == pytest.approx(1 / 30, rel=0.01)


def test_default_policy_simulation_skips_case_types_with_their_own_policy(admin_user):
    source = SourceFactory(name="bot")
    refund, moderation = CaseTypeFactory(slug="refund"), CaseTypeFactory(slug="moderation")
    policy_edit_and_publish(actor=admin_user, case_type=moderation, values={})
    _case(source, refund, 0.5, "pending_review")
    _case(source, moderation, 0.5, "pending_review")
    default_draft = policy_draft_create(actor=admin_user, case_type=None, values={})
    moderation_draft = policy_draft_create(actor=admin_user, case_type=moderation, values={})
    since = timezone.now() - timedelta(days=30)

    assert policy_simulate(version=default_draft, since=since).cases == 1
    assert policy_simulate(version=moderation_draft, since=since).cases == 1


def test_empty_window_reports_zeros_without_dividing_by_zero(admin_user):
    draft = policy_draft_create(actor=admin_user, case_type=None, values={})
    report = policy_simulate(version=draft, since=timezone.now() - timedelta(days=1))
    assert (report.cases, report.auto_approved_share, report.queue_shares) == (0, 0.0, {})
    assert report.reviews_per_day == 0.0
