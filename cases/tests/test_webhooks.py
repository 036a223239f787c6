"""Decision webhooks through the outbox, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from cases.models import AuditEvent, Case, DeliveryStatus, WebhookDelivery
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from cases.tests.receiver import closed_port_url, receiver
from cases.webhooks import sign, verify, webhook_deliver, webhook_retry, webhooks_deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def refund(db: None) -> Any:
    return CaseTypeFactory(slug="refund")


def _source_with(url: str) -> Any:
    source = SourceFactory(name="shop")
    source.callback_url = url
    source.save(update_fields=["callback_url"])
    return source


def _auto_approved(client_for: Any, source: Any, external_id: str = "a-1") -> dict[str, Any]:
    response = client_for(source.api_key).post(
        "/api/v1/cases/", case_payload(external_id=external_id, confidence=0.99), format="json"
    )
    assert response.json()["status"] == "auto_approved"
    return response.json()


def test_final_outcome_writes_an_outbox_row_in_the_same_transaction(client_for, refund):
    source = _source_with("http://127.0.0.1:9/never-called")
    body = _auto_approved(client_for, source)
    delivery = WebhookDelivery.objects.get(case_id=body["id"])
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.payload == {
        "event": "case.decided",
        "case_id": body["id"],
        "external_id": "a-1",
        "case_type": "refund",
        "outcome": "auto_approved",
        "final_output": case_payload()["ai_output"],
        "reason_code": None,
        "comment": None,
        "decided_by": "auto",
        "decided_at": Case.objects.get(pk=body["id"]).decided_at.isoformat(),
        "policy": "default",
        "policy_version": 1,
    }


def test_no_outbox_row_for_sources_without_a_callback_or_undecided_cases(client_for, refund):
    quiet = SourceFactory(name="quiet")
    _auto_approved(client_for, quiet)
    noisy = _source_with("http://127.0.0.1:9/x")
    client_for(noisy.api_key).post(
        "/api/v1/cases/", case_payload(external_id="q", confidence=0.5), format="json"
    )
    assert WebhookDelivery.objects.count() == 0


def test_delivery_is_signed_and_verifiable(client_for, refund):
    with receiver() as hook:
        source = _source_with(hook.url)
        body = _auto_approved(client_for, source)
        delivery = WebhookDelivery.objects.get(case_id=body["id"])
        webhook_deliver(delivery_id=delivery.pk)

    assert len(hook.requests) == 1
    received = hook.requests[0]
    assert verify(
        source.signing_secret,
        received.headers["X-Loopgate-Timestamp"],
        received.body,
        received.headers["X-Loopgate-Signature"],
    )
    assert not verify(
        "wrong-secret",
        received.headers["X-Loopgate-Timestamp"],
        received.body,
        received.headers["X-Loopgate-Signature"],
    )
    assert received.headers["X-Loopgate-Delivery"] == str(delivery.pk)
    assert json.loads(received.body)["case_id"] == body["id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )
    assert AuditEvent.objects.filter(kind="webhook.delivered", case_id=body["id"]).count() == 1


def test_replayed_old_signature_is_refused_by_verify():
    body = b'{"a":1}'
    old = 1_700_000_000
    assert verify("s", str(old), body, sign("s", old, body), now=old + 10)
    assert not verify("s", str(old), body, sign("s", old, body), now=old + 3600)


def test_a_500_is_retried_with_backoff_and_then_delivered(client_for, refund):
    with receiver() as hook:
        hook.statuses = [500]
        source = _source_with(hook.url)
        delivery = WebhookDelivery.objects.get(case_id=_auto_approved(client_for, source)["id"])
        now = timezone.now()
        first = webhook_deliver(delivery_id=delivery.pk, now=now)
        assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
        assert now + timedelta(seconds=15) <= first.next_attempt_at <= now + timedelta(seconds=30)
        assert webhook_deliver(delivery_id=delivery.pk, now=now) is None  # not due yet
        later = first.next_attempt_at + timedelta(seconds=1)
        assert webhooks_deliver_due(now=later) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(hook.requests) == 2
    assert (
        hook.requests[0].headers["X-Loopgate-Delivery"]
        == hook.requests[1].headers["X-Loopgate-Delivery"]
    )


def test_a_receiver_down_for_an_hour_loses_nothing(client_for, refund):
    source = _source_with(closed_port_url())
    delivery = WebhookDelivery.objects.get(case_id=_auto_approved(client_for, source)["id"])
    clock = timezone.now()
    for _ in range(8):  # an hour of failed attempts
        result = webhook_deliver(delivery_id=delivery.pk, now=clock)
        assert result.status == DeliveryStatus.PENDING
        assert "ConnectionRefused" in result.last_error or "URLError" in result.last_error
        clock = result.next_attempt_at
    assert clock - delivery.created_at < timedelta(hours=24)
    with receiver() as hook:
        source.callback_url = hook.url
        source.save(update_fields=["callback_url"])
        WebhookDelivery.objects.filter(pk=delivery.pk).update(url=hook.url)
        webhooks_deliver_due(now=clock)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(hook.requests) == 1


def test_after_24_hours_of_failures_the_delivery_is_dead_and_can_be_retried(
    client_for, refund, admin_user
):
    source = _source_with(closed_port_url())
    delivery = WebhookDelivery.objects.get(case_id=_auto_approved(client_for, source)["id"])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(hours=24)
    )
    dead = webhook_deliver(delivery_id=delivery.pk)
    assert dead.status == DeliveryStatus.DEAD
    assert AuditEvent.objects.filter(kind="webhook.dead").count() == 1

    with receiver() as hook:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(url=hook.url)
        webhook_retry(delivery=dead, actor=admin_user)
        webhooks_deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(hook.requests) == 1


def test_no_webhook_when_the_transaction_rolls_back(client_for, refund):
    from cases.services import CaseInput, case_ingest

    source = _source_with("http://127.0.0.1:9/x")
    with pytest.raises(RuntimeError), transaction.atomic():
        case_ingest(
            source=source,
            data=CaseInput(
                external_id="rolled-back",
                case_type="refund",
                input={"x": 1},
                ai_output={"y": 2},
                confidence=0.99,
            ),
        )
        raise RuntimeError("something after the ingestion failed")
    assert not Case.objects.filter(external_id="rolled-back").exists()
    assert WebhookDelivery.objects.count() == 0


def test_human_decision_enqueues_the_webhook_with_reason_and_reviewer(
    client_for, refund, generalist
):
    from reviews.selectors import queue_get_for_user
    from reviews.services import queue_claim_next, review_decide

    source = _source_with("http://127.0.0.1:9/x")
    client_for(source.api_key).post(
        "/api/v1/cases/", case_payload(external_id="h", confidence=0.8), format="json"
    )
    entry = queue_claim_next(
        queue=queue_get_for_user(generalist, "generalist"), reviewer=generalist
    )
    review_decide(
        case=entry.case,
        reviewer=generalist,
        action="reject",
        reason_code="policy_violation",
        comment="not eligible",
    )
    payload = WebhookDelivery.objects.get().payload
    assert (payload["outcome"], payload["reason_code"], payload["decided_by"]) == (
        "rejected",
        "policy_violation",
        "gina",
    )
    assert payload["final_output"] is None
