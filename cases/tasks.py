"""Background tasks of the case domain: thin, id-based, safe to run twice."""

from __future__ import annotations

from cases import webhooks


def deliver_webhook(delivery_id: str) -> str:
    delivery = webhooks.webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "not due"


def webhooks_deliver_due() -> int:
    return webhooks.webhooks_deliver_due()
