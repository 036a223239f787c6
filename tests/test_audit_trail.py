"""Across apps: every business decision leaves its named event, every human look at a case
leaves an access record, and the chain stays verifiable through all of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cases.audit_chain import audit_chain_verify
from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from cases.tests.receiver import receiver
from reviews.selectors import queue_get_for_user
from reviews.services import case_release, queue_claim_next, review_decide
from reviews.sweeps import sla_sweep
from routing.services import policy_edit_and_publish

pytestmark = pytest.mark.django_db


def _kinds(case_id: Any) -> list[str]:
    return list(
        AuditEvent.objects.filter(case_id=case_id)
        .exclude(kind__startswith="record.")
        .order_by("seq")
        .values_list("kind", flat=True)
    )


def test_every_step_of_a_case_writes_its_event(client_for, generalist, expert, admin_user):
    from cases.webhooks import webhooks_deliver_due

    CaseTypeFactory(slug="refund")
    policy_edit_and_publish(actor=admin_user, case_type=None, values={"audit_sample_rate": 0.0})
    with receiver() as hook:
        source = SourceFactory(name="shop")
        source.callback_url = hook.url
        source.save(update_fields=["callback_url"])
        body = (
            client_for(source.api_key)
            .post("/api/v1/cases/", case_payload(confidence=0.8), format="json")
            .json()
        )
        case = Case.objects.get(pk=body["id"])
        generalist_queue = queue_get_for_user(generalist, "generalist")
        queue_claim_next(queue=generalist_queue, reviewer=generalist)
        case_release(case=case, reviewer=generalist)
        queue_claim_next(queue=generalist_queue, reviewer=generalist)
        review_decide(
            case=case,
            reviewer=generalist,
            action="escalate",
            reason_code="other",
            comment="needs an expert",
        )
        queue_claim_next(queue=queue_get_for_user(expert, "expert"), reviewer=expert)
        review_decide(case=case, reviewer=expert, action="approve")
        webhooks_deliver_due()
    assert len(hook.requests) == 1

    assert _kinds(case.pk) == [
        "case.received",
        "case.routed",
        "case.claimed",
        "case.released",
        "case.claimed",
        "case.escalated",
        "case.claimed",
        "case.decided",
        "webhook.delivered",
    ]
    decided = AuditEvent.objects.get(case=case, kind="case.decided")
    assert (decided.actor, decided.data["policy_version"]) == (expert, 2)
    escalated = AuditEvent.objects.get(case=case, kind="case.escalated")
    assert (escalated.reason, escalated.data["from"], escalated.data["to"]) == (
        "needs an expert",
        "generalist",
        "expert",
    )
    assert AuditEvent.objects.filter(kind="policy.published", actor=admin_user).count() == 1
    assert audit_chain_verify().intact


def test_sla_events_are_written(client_for):
    CaseTypeFactory(slug="refund")
    body = (
        client_for(SourceFactory(name="shop").api_key)
        .post("/api/v1/cases/", case_payload(confidence=0.8), format="json")
        .json()
    )
    case = Case.objects.get(pk=body["id"])
    sla_sweep(now=case.sla_due_at - timedelta(minutes=1))
    sla_sweep(now=case.sla_due_at + timedelta(minutes=1))
    assert _kinds(case.pk)[-2:] == ["sla.at_risk", "sla.breached"]


def test_viewing_a_case_is_recorded_in_the_ui_api_and_admin(
    client, client_for, supervisor, admin_user
):
    CaseTypeFactory(slug="refund")
    body = (
        client_for(SourceFactory(name="shop").api_key)
        .post("/api/v1/cases/", case_payload(confidence=0.8), format="json")
        .json()
    )
    client.force_login(supervisor)
    client.get(f"/cases/{body['id']}/", REMOTE_ADDR="10.1.2.3")
    client_for(supervisor.api_key).get(f"/api/v1/reviews/cases/{body['id']}/")
    client.force_login(admin_user)
    client.get(f"/admin/cases/case/{body['id']}/change/")
    client.get(f"/compliance/cases/{body['id']}/")

    views = AuditEvent.objects.filter(case_id=body["id"], kind="case.viewed").order_by("seq")
    assert [(v.actor_label, v.data["channel"]) for v in views] == [
        ("sam", "ui"),
        ("sam", "api"),
        ("ada", "admin"),
        ("ada", "compliance"),
    ]
    assert views[0].remote_addr == "10.1.2.3"
    # the source reading its own case is a system, not a person: not an access record
    client_for(SourceFactory(name="x").api_key).get(f"/api/v1/cases/{body['id']}/")
    assert views.count() == 4


def test_case_story_page_shows_timeline_decisions_and_accesses(
    client, client_for, compliance_officer, generalist
):
    CaseTypeFactory(slug="refund")
    body = (
        client_for(SourceFactory(name="shop").api_key)
        .post("/api/v1/cases/", case_payload(confidence=0.8), format="json")
        .json()
    )
    case = Case.objects.get(pk=body["id"])
    queue_claim_next(queue=queue_get_for_user(generalist, "generalist"), reviewer=generalist)
    review_decide(
        case=case, reviewer=generalist, action="reject", reason_code="other", comment="not covered"
    )
    client.force_login(compliance_officer)
    page = client.get(f"/compliance/cases/{case.pk}/").content.decode()
    for text in (
        "case.received",
        "case.routed",
        "case.claimed",
        "case.decided",
        "not covered",
        "Default policy v1",
        "confidence 0.80 is between",
        "cora",
    ):
        assert text in page, text
