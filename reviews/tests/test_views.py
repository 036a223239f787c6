"""The reviewer pages through Django's test client: access, flows and query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cases.models import Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from reviews.models import Decision
from routing.models import EntryState, QueueEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def post_case(client_for: Any) -> Any:
    CaseTypeFactory(slug="refund")
    source = client_for(SourceFactory(name="shop").api_key)

    def post(external_id: str, confidence: float, **extra: Any) -> str:
        payload = case_payload(external_id=external_id, confidence=confidence, **extra)
        response = source.post("/api/v1/cases/", payload, format="json")
        assert response.status_code == 201
        return response.json()["id"]

    return post


def _login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def test_pages_need_a_login(client):
    for url in ("/", "/history/", "/queues/generalist/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_login_page_logs_a_reviewer_in(client, generalist):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "gina", "password": "pw-12345678"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_my_queues_shows_only_permitted_queues_with_counts(client, generalist, post_case):
    post_case("a", 0.8)
    post_case("b", 0.85)
    post_case("c", 0.4)
    page = _login(client, generalist).get("/").content.decode()
    assert "General review" in page
    assert "Fast track" in page
    assert "Expert review" not in page
    assert "Supervisor" not in page


def test_my_queues_page_runs_a_fixed_number_of_queries(
    client, supervisor, post_case, django_assert_max_num_queries
):
    for i in range(5):
        post_case(f"c-{i}", 0.5 + i / 20)
    _login(client, supervisor)
    with django_assert_max_num_queries(8):
        response = client.get("/")
    assert response.status_code == 200
    assert response.context["queues"][0].slug == "audit"


def test_empty_queue_says_so(client, generalist):
    response = _login(client, generalist).post("/queues/generalist/next/", follow=True)
    assert "Nothing to review in General review: the queue is empty." in response.content.decode()


def test_next_case_claims_and_opens_the_review_page(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    response = _login(client, generalist).post("/queues/generalist/next/")
    assert response["Location"] == f"/cases/{case_id}/"
    page = client.get(response["Location"]).content.decode()
    assert "confidence 0.80 is between the expert threshold 0.70" in page
    assert 'id="decision-form"' in page
    assert "Refund policy: parcels lost in transit are refunded." in page


def test_review_page_runs_a_fixed_number_of_queries(
    client, generalist, post_case, django_assert_max_num_queries
):
    case_id = post_case("a", 0.8)
    for i in range(4):
        post_case(f"same-subject-{i}", 0.9)
    _login(client, generalist).post("/queues/generalist/next/")
    # includes writing the access record (chain lock on PostgreSQL, chain tail, insert)
    with django_assert_max_num_queries(14):
        response = client.get(f"/cases/{case_id}/")
    assert len(response.context["ctx"].subject_history) == 4


def test_queue_not_permitted_is_a_404_and_claims_nothing(client, generalist, post_case):
    post_case("x", 0.4)
    response = _login(client, generalist).post("/queues/expert/next/")
    assert response.status_code == 404
    assert not QueueEntry.objects.filter(state=EntryState.CLAIMED).exists()


def test_case_outside_my_queues_is_a_404(client, generalist, post_case):
    case_id = post_case("x", 0.4)
    assert _login(client, generalist).get(f"/cases/{case_id}/").status_code == 404


def test_deciding_with_the_form_moves_on_to_the_next_case(client, generalist, post_case):
    first, second = post_case("a", 0.8), post_case("b", 0.85)
    _login(client, generalist).post("/queues/generalist/next/")
    response = client.post(
        f"/cases/{first}/decide/",
        {
            "action": "edit",
            "reason_code": "wrong_amount",
            "final_output": json.dumps({"decision": "refund", "amount": 1}),
        },
    )
    assert response["Location"] == f"/cases/{second}/"
    case = Case.objects.get(pk=first)
    assert (case.status, case.final_output) == ("edited", {"decision": "refund", "amount": 1})


def test_invalid_decision_shows_form_errors_and_changes_nothing(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    _login(client, generalist).post("/queues/generalist/next/")
    bad_json = client.post(
        f"/cases/{case_id}/decide/",
        {"action": "edit", "reason_code": "other", "final_output": "{nope"},
    )
    no_reason = client.post(f"/cases/{case_id}/decide/", {"action": "reject"})
    assert bad_json.status_code == 400
    assert "Not valid JSON" in bad_json.content.decode()
    assert no_reason.status_code == 400
    assert "A reason code is required to reject." in no_reason.content.decode()
    assert Decision.objects.count() == 0
    assert Case.objects.get(pk=case_id).status == "in_review"


def test_diff_preview_renders_the_structured_change(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    _login(client, generalist).post("/queues/generalist/next/")
    changed = client.post(
        f"/cases/{case_id}/diff/", {"final_output": '{"decision": "refund", "amount": 40}'}
    )
    broken = client.post(f"/cases/{case_id}/diff/", {"final_output": "{"})
    assert "/amount" in changed.content.decode()
    assert "Not valid JSON yet" in broken.content.decode()


def test_release_hands_the_case_back(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    _login(client, generalist).post("/queues/generalist/next/")
    client.post(f"/cases/{case_id}/release/")
    assert Case.objects.get(pk=case_id).status == "pending_review"
    assert QueueEntry.objects.get(case_id=case_id).state == EntryState.OPEN


def test_history_lists_my_decisions(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    _login(client, generalist).post("/queues/generalist/next/")
    client.post(f"/cases/{case_id}/decide/", {"action": "approve"})
    page = client.get("/history/").content.decode()
    assert "Approve" in page and ">a<" in page


def test_supervisor_sees_all_cases_of_a_queue_and_reassigns(
    client, supervisor, generalist, post_case
):
    case_id = post_case("a", 0.8)
    _login(client, supervisor)
    page = client.get("/queues/generalist/")
    assert page.status_code == 200
    entry = QueueEntry.objects.get(case_id=case_id)
    client.post(f"/entries/{entry.pk}/reassign/", {"reviewer": "gina"})
    entry.refresh_from_db()
    assert (entry.state, entry.claimed_by) == (EntryState.CLAIMED, generalist)
    assert generalist.has_perm("cases.decide_case", Case.objects.get(pk=case_id))


def test_reviewers_cannot_open_the_supervisor_pages(client, generalist, post_case):
    case_id = post_case("a", 0.8)
    entry = QueueEntry.objects.get(case_id=case_id)
    _login(client, generalist)
    assert client.get("/queues/generalist/").status_code == 404
    assert client.post(f"/entries/{entry.pk}/reassign/", {"reviewer": "gina"}).status_code == 404
    entry.refresh_from_db()
    assert entry.state == EntryState.OPEN


def test_alerts_show_on_my_queues_until_read(client, supervisor, post_case):
    from reviews.models import Notification

    case_id = post_case("a", 0.8)
    Notification.objects.create(
        user=supervisor,
        kind="sla.breached",
        case_id=case_id,
        message="Case a (refund) breached its SLA.",
    )
    _login(client, supervisor)
    assert "Case a (refund) breached its SLA." in client.get("/").content.decode()
    client.post("/notifications/read/")
    assert "breached its SLA" not in client.get("/").content.decode()
