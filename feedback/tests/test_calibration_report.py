"""The calibration report over real decisions: API, page, and the one-click draft."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Case, CaseStatus
from cases.tests.factories import CaseTypeFactory, SourceFactory
from routing.models import PolicyVersion

pytestmark = pytest.mark.django_db
URL = "/api/v1/feedback/calibration"


def _judged(case_type: Any, source: Any, confidence: float, approved: bool, n: int) -> None:
    status = CaseStatus.APPROVED if approved else CaseStatus.REJECTED
    Case.objects.bulk_create(
        [
            Case(
                source=source,
                case_type=case_type,
                external_id=f"{confidence}-{approved}-{i}",
                input={},
                ai_output={},
                confidence=confidence,
                status=status,
                payload_hash="0",
                decision={"action": "approve" if approved else "reject"},
                decided_at="2026-11-01T00:00:00Z",
            )
            for i in range(n)
        ]
    )


@pytest.fixture
def judged(db: None) -> Any:
    """400 approved cases at 0.90-0.99 and, below 0.80, a quarter rejected."""
    refund, source = CaseTypeFactory(slug="refund"), SourceFactory(name="shop")
    for tenth in range(90, 100):
        _judged(refund, source, tenth / 100, True, 40)
    _judged(refund, source, 0.75, True, 30)
    _judged(refund, source, 0.75, False, 10)
    return refund


def test_report_recommends_the_lowest_safe_threshold(client_for, admin_user, judged):
    body = client_for(admin_user.api_key).get(URL, {"case_type": "refund"}).json()
    # 400 judged cases at or above 0.90 with no error: Wilson upper bound 0.0095 < 1%;
    # at 0.76..0.89 the same 400 (nothing in between); at 0.75 the 10 rejections count.
    assert body["recommendation"]["threshold"] == 0.76
    assert body["current_thresholds"] == {"auto_approve": 0.95, "expert": 0.7}
    at_recommendation = body["at_recommendation"]
    assert (at_recommendation["labelled"], at_recommendation["errors"]) == (400, 0)
    assert at_recommendation["error_upper"] == pytest.approx(0.009512, abs=1e-6)
    assert at_recommendation["review_share"] == pytest.approx(40 / 440)
    bucket = next(b for b in body["reliability"] if b["lower"] == 0.7)
    assert (bucket["labelled"], bucket["accepted"], bucket["accepted_share"]) == (40, 30, 0.75)
    assert body["audit_sample"]["sampled"] == 0


def test_cost_model_picks_the_cheapest_threshold(client_for, admin_user, judged):
    body = (
        client_for(admin_user.api_key)
        .get(URL, {"case_type": "refund", "review_cost": 2, "error_cost": 100})
        .json()
    )
    # below 0.76 the 25% error costs 100 each; from 0.76 up nothing goes wrong, and the
    # lowest such threshold reviews the fewest cases.
    assert body["recommendation"]["cheapest_threshold"] == 0.76


def test_too_few_reviewed_cases_says_so(client_for, admin_user):
    refund, source = CaseTypeFactory(slug="refund"), SourceFactory(name="shop")
    _judged(refund, source, 0.97, True, 12)
    body = client_for(admin_user.api_key).get(URL, {"case_type": "refund"}).json()
    assert body["recommendation"]["threshold"] is None
    assert body["recommendation"]["reason"].startswith("Not enough reviewed cases")


@pytest.mark.parametrize(
    "params", [{}, {"case_type": "nope"}, {"case_type": "refund", "review_cost": 1}]
)
def test_bad_parameters_are_400s(client_for, admin_user, judged, params):
    assert client_for(admin_user.api_key).get(URL, params).status_code == 400


def test_only_admins(client_for, supervisor, judged):
    assert client_for(supervisor.api_key).get(URL, {"case_type": "refund"}).status_code == 403


def test_page_draws_the_diagram_and_one_click_makes_a_draft(client, admin_user, judged):
    client.force_login(admin_user)
    page = client.get("/feedback/calibration/", {"case_type": "refund"}).content.decode()
    assert "<svg" in page and "polyline" in page
    assert "Create a draft policy at 0.76" in page
    response = client.post(
        "/feedback/calibration/draft/", {"case_type": "refund", "threshold": "0.76"}
    )
    draft = PolicyVersion.objects.get(policy__case_type=judged)
    assert (draft.auto_approve_threshold, draft.is_published) == (0.76, False)
    assert response["Location"] == f"/admin/routing/policyversion/{draft.pk}/simulate/"


def test_reviewers_cannot_open_the_page_or_make_drafts(client, supervisor, judged):
    client.force_login(supervisor)
    assert client.get("/feedback/calibration/").status_code == 404
    assert (
        client.post(
            "/feedback/calibration/draft/", {"case_type": "refund", "threshold": "0.5"}
        ).status_code
        == 404
    )
    assert not PolicyVersion.objects.filter(policy__case_type=judged).exists()
