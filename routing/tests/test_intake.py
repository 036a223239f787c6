"""Routing at ingestion, through the real API: stored decisions, entries, events, queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from routing.models import EntryKind, EntryState, QueueEntry
from routing.services import policy_edit_and_publish

pytestmark = pytest.mark.django_db
URL = "/api/v1/cases/"


@pytest.fixture
def refund(db: None) -> Any:
    return CaseTypeFactory(slug="refund")


@pytest.fixture
def client(client_for: Any, refund: Any) -> Any:
    return client_for(SourceFactory(name="billing-bot").api_key)


def _post(client: Any, **overrides: Any) -> dict[str, Any]:
    response = client.post(URL, case_payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_middle_band_goes_to_the_generalist_queue_with_reason_version_and_sla(client):
    before = timezone.now()
    body = _post(client, confidence=0.82)

    assert body["status"] == "pending_review"
    assert body["queue"] == "generalist"
    assert body["routing"]["reason"] == (
        "confidence 0.82 is between the expert threshold 0.70 and the auto-approve threshold 0.95"
    )
    assert body["routing"]["policy"] == "default"
    assert body["routing"]["policy_version"] == 1
    assert body["routing"]["rule"] == "threshold:generalist"
    due = parse_datetime(body["sla_due_at"])
    assert before + timedelta(minutes=240) <= due <= timezone.now() + timedelta(minutes=240)
    entry = QueueEntry.objects.get(case_id=body["id"])
    assert (entry.queue.slug, entry.kind, entry.state) == ("generalist", "review", "open")
    assert entry.sla_due_at == due
    assert (entry.confidence, entry.priority_rank, entry.fast_tracked) == (0.82, 1, False)


def test_low_confidence_goes_to_experts(client):
    body = _post(client, confidence=0.62)
    assert body["queue"] == "expert"
    assert body["routing"]["reason"] == "confidence 0.62 is below the expert threshold 0.70"


def test_confident_case_is_auto_approved_with_its_output_as_final(client):
    body = _post(client, confidence=0.97)
    case = Case.objects.get(pk=body["id"])
    assert body["status"] == "auto_approved"
    assert body["queue"] is None
    assert case.final_output == case.ai_output
    assert case.decided_at is not None
    assert case.sla_due_at is None
    assert not QueueEntry.objects.filter(case=case, kind=EntryKind.REVIEW).exists()
    # 5% of auto-approved cases are also sampled for audit, by a draw on the case id.
    sampled = QueueEntry.objects.filter(case=case, kind=EntryKind.AUDIT).exists()
    assert sampled is body["routing"]["audit_sample"]


def test_urgent_case_is_fast_tracked_by_the_default_rule(client):
    body = _post(client, confidence=0.99, priority="urgent")
    assert body["queue"] == "fast-track"
    assert body["fast_tracked"] is True
    assert body["routing"]["rule"] == "rule:urgent-fast-track"
    assert QueueEntry.objects.get(case_id=body["id"]).fast_tracked is True


def test_callers_deadline_tightens_the_sla(client):
    due = (timezone.now() + timedelta(minutes=90)).replace(microsecond=0)
    body = _post(client, confidence=0.8, due_at=due.isoformat())
    assert parse_datetime(body["sla_due_at"]) == due


def test_audit_sample_puts_an_auto_approved_case_on_the_audit_queue(client, admin_user):
    policy_edit_and_publish(actor=admin_user, case_type=None, values={"audit_sample_rate": 1.0})
    body = _post(client, confidence=0.99)
    assert body["status"] == "auto_approved"
    assert body["routing"]["audit_sample"] is True
    entry = QueueEntry.objects.get(case_id=body["id"])
    assert (entry.queue.slug, entry.kind, entry.state) == ("audit", EntryKind.AUDIT, "open")


def test_case_type_policy_wins_over_the_default(client, admin_user, refund):
    policy_edit_and_publish(
        actor=admin_user, case_type=refund, values={"mode": "validator"}, note="all refunds"
    )
    body = _post(client, confidence=0.99)
    assert body["queue"] == "generalist"
    assert body["routing"]["policy"] == "refund"
    assert body["routing"]["policy_version"] == 1
    assert body["routing"]["rule"] == "mode:validator"


def test_editing_a_policy_never_changes_how_routed_cases_are_explained(client, admin_user):
    before = _post(client, external_id="before", confidence=0.75)
    version = policy_edit_and_publish(
        actor=admin_user, case_type=None, values={"expert_threshold": 0.8}
    )
    after = _post(client, external_id="after", confidence=0.75)

    assert version.number == 2
    old = client.get(f"{URL}{before['id']}/").json()
    assert old["routing"] == before["routing"]
    assert old["queue"] == "generalist"
    assert old["routing"]["policy_version"] == 1
    assert after["queue"] == "expert"
    assert after["routing"]["policy_version"] == 2
    assert after["routing"]["reason"] == "confidence 0.75 is below the expert threshold 0.80"


def test_routing_writes_a_case_routed_event_with_the_reason(client):
    body = _post(client, confidence=0.62)
    event = AuditEvent.objects.get(case_id=body["id"], kind="case.routed")
    assert event.reason == "confidence 0.62 is below the expert threshold 0.70"
    assert event.data["queue"] == "expert"
    assert event.data["policy_version"] == 1
    assert event.actor.username == "source:billing-bot"


def test_single_ingestion_runs_a_fixed_number_of_queries(
    client, is_postgres, django_assert_num_queries
):
    _post(client, external_id="warm-up")
    # auth, configuration stamp (case types, policies and queues come from the process's
    # cache while it holds), savepoint, insert case (no look-up first: a repeat fails on
    # the unique constraint), insert entry, audit chain lock (PostgreSQL only), chain tail,
    # insert events, release savepoint
    with django_assert_num_queries(9 if is_postgres else 8):
        _post(client, external_id="measured")


def test_bulk_routes_1000_cases_without_per_case_policy_queries(
    client, is_postgres, django_assert_max_num_queries
):
    items = [case_payload(external_id=f"b-{i}", confidence=i / 1000) for i in range(1000)]
    with django_assert_max_num_queries(16 if is_postgres else 100):
        body = client.post("/api/v1/cases/bulk/", {"cases": items}, format="json").json()
    assert body["created"] == 1000
    queues = {r["case"]["queue"] for r in body["results"]}
    assert queues == {"expert", "generalist", None}
    assert QueueEntry.objects.filter(state=EntryState.OPEN, kind="review").count() == sum(
        1 for r in body["results"] if r["case"]["queue"]
    )


def test_a_repost_does_not_route_again(client):
    first = _post(client, confidence=0.62)
    again = client.post(URL, case_payload(confidence=0.62), format="json")
    assert again.status_code == 200
    assert again.json()["routing"] == first["routing"]
    assert QueueEntry.objects.count() == 1
    assert AuditEvent.objects.filter(kind="case.routed").count() == 1
