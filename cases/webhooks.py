"""Decision webhooks: the outbox writer, the signature, and delivery with retries.

A receiver verifies a delivery by recomputing
``hex(HMAC-SHA256(secret, f"{X-Loopgate-Timestamp}." + raw_body))`` and comparing it with
``X-Loopgate-Signature`` (``sha256=<hex>``) in constant time, rejecting timestamps older than
a few minutes (replays), and de-duplicating on ``X-Loopgate-Delivery`` (at-least-once)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases.auditing import audit_event_record, audited_transaction
from cases.bulk import bulk_insert
from cases.models import Case, DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Loopgate-Signature"
TIMESTAMP_HEADER = "X-Loopgate-Timestamp"
DELIVERY_HEADER = "X-Loopgate-Delivery"
EVENT_HEADER = "X-Loopgate-Event"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does (and what the tests do): signature and freshness."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((now or time.time()) - stamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def outcome_payload(case: Case) -> dict[str, Any]:
    routing = case.routing or {}
    decision = case.decision or {}
    return {
        "event": "case.decided",
        "case_id": str(case.pk),
        "external_id": case.external_id,
        "case_type": case.case_type.slug if case.case_type_id else None,
        "outcome": case.status,
        "final_output": case.final_output,
        "reason_code": decision.get("reason_code") or None,
        "comment": decision.get("comment") or None,
        "decided_by": decision.get("reviewer")
        or ("auto" if case.status == "auto_approved" else None),
        "decided_at": case.decided_at.isoformat() if case.decided_at else None,
        "policy": routing.get("policy"),
        "policy_version": routing.get("policy_version"),
    }


def webhooks_enqueue(cases: Sequence[Case]) -> list[WebhookDelivery]:
    """Write the outbox rows for cases that reached a final outcome, in the caller's
    transaction; after commit, ask a worker to deliver them."""
    deliveries = [
        WebhookDelivery(
            source=case.source,
            case=case,
            url=case.source.callback_url,
            payload=outcome_payload(case),
        )
        for case in cases
        if case.is_final and case.source.callback_url
    ]
    if not deliveries:
        return []
    bulk_insert(WebhookDelivery, deliveries)
    ids = [str(d.pk) for d in deliveries]
    transaction.on_commit(lambda: _schedule(ids))
    return deliveries


def _schedule(ids: list[str]) -> None:
    from django_q.tasks import async_task

    for delivery_id in ids:
        try:
            async_task(
                "cases.tasks.deliver_webhook", delivery_id, task_name=f"webhook-{delivery_id}"
            )
        except Exception:  # noqa: BLE001 - the scheduled sweep delivers it anyway
            logger.exception("Could not queue webhook %s; the sweep will retry it", delivery_id)


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: about 30 s, 1 min, 2 min ... capped at 1 hour."""
    base = settings.LOOPGATE_WEBHOOK_BACKOFF_SECONDS
    cap = settings.LOOPGATE_WEBHOOK_BACKOFF_CAP_SECONDS
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))  # noqa: S311


def _lease(delivery_id: Any, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt: push its next attempt past the HTTP timeout so
    that another worker does not send it at the same time."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("source", "case")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        timeout = settings.LOOPGATE_WEBHOOK_TIMEOUT_SECONDS
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + timedelta(seconds=timeout * 2 + 5)
        )
        return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - the admin-configured callback URL
        delivery.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Loopgate-Webhook/1",
            SIGNATURE_HEADER: sign(delivery.source.signing_secret, stamp, body),
            TIMESTAMP_HEADER: str(stamp),
            DELIVERY_HEADER: str(delivery.pk),
            EVENT_HEADER: delivery.event,
        },
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.LOOPGATE_WEBHOOK_TIMEOUT_SECONDS
        ) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"


def webhook_deliver(*, delivery_id: Any, now: datetime | None = None) -> WebhookDelivery | None:
    """One delivery attempt; safe to call twice and from several workers. Returns the
    delivery as it now stands, or None if it was not due (or another worker has it)."""
    now = now or timezone.now()
    delivery = _lease(delivery_id, now)
    if delivery is None:
        return None
    status_code, error = _post(delivery)
    attempts = delivery.attempts + 1
    with transaction.atomic():
        if status_code is not None and 200 <= status_code < 300:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.DELIVERED,
                attempts=attempts,
                delivered_at=timezone.now(),
                last_status_code=status_code,
                last_error="",
            )
            audit_event_record(
                kind="webhook.delivered",
                actor=None,
                case=delivery.case,
                data={
                    "delivery": str(delivery.pk),
                    "attempts": attempts,
                    "status_code": status_code,
                },
            )
        else:
            error = error or f"HTTP {status_code}"
            max_age = timedelta(hours=settings.LOOPGATE_WEBHOOK_MAX_AGE_HOURS)
            retry_at = now + backoff(attempts)
            dead = retry_at - delivery.created_at > max_age
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING,
                attempts=attempts,
                last_status_code=status_code,
                last_error=error[:2000],
                next_attempt_at=retry_at,
            )
            if dead:
                audit_event_record(
                    kind="webhook.dead",
                    actor=None,
                    case=delivery.case,
                    reason=error,
                    data={"delivery": str(delivery.pk), "attempts": attempts},
                )
            else:
                logger.info("Webhook %s failed (%s); retry at %s", delivery.pk, error, retry_at)
    return WebhookDelivery.objects.get(pk=delivery.pk)


def webhooks_deliver_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Attempt every due delivery (the scheduled sweep; retries land here)."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if webhook_deliver(delivery_id=pk, now=now) is not None)


@audited_transaction()
def webhook_retry(*, delivery: WebhookDelivery, actor: Any) -> None:
    """An admin sends a dead delivery again (its clock starts afresh)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DEAD).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), created_at=timezone.now()
    )
    audit_event_record(
        kind="webhook.retried", actor=actor, case=delivery.case, data={"delivery": str(delivery.pk)}
    )
    transaction.on_commit(lambda: _schedule([str(delivery.pk)]))
