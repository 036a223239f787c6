from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from cases import services
from cases.models import Case, CaseType, Source


class CaseTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseType
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"type-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    reason_codes = factory.LazyFunction(lambda: ["wrong_amount", "policy_violation", "other"])


class SourceFactory(factory.django.DjangoModelFactory):
    """A source with a service user; ``source.api_key`` holds a working token."""

    class Meta:
        model = Source

    name = factory.Sequence(lambda n: f"system-{n}")

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Source:
        source, key = services.source_create(
            name=kwargs["name"], callback_url=kwargs.get("callback_url", "")
        )
        source.api_key = key
        return source


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user-{n}")


def case_payload(**overrides: Any) -> dict[str, Any]:
    """A valid POST /api/v1/cases/ body."""
    payload: dict[str, Any] = {
        "external_id": "order-1001",
        "case_type": "refund",
        "input": {"order_id": 1001, "customer_message": "The parcel never arrived."},
        "ai_output": {"decision": "refund", "amount": 42.5},
        "confidence": 0.82,
        "context": [
            {
                "text": "Refund policy: parcels lost in transit are refunded.",
                "source": "kb/refunds.md",
                "score": 0.91,
            }
        ],
        "risk_tags": [],
        "priority": "normal",
        "metadata": {"amount": 42.5, "subject_id": "cust-7"},
    }
    payload.update(overrides)
    return payload


class CaseFactory(factory.django.DjangoModelFactory):
    """A case inserted directly (bypassing routing), for tests that need one in place."""

    class Meta:
        model = Case

    source = factory.SubFactory(SourceFactory)
    case_type = factory.SubFactory(CaseTypeFactory, slug="refund")
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    input = factory.LazyFunction(lambda: {"text": "hello"})
    ai_output = factory.LazyFunction(lambda: {"label": "ok"})
    confidence = 0.8
    status = "pending_review"
    payload_hash = "0" * 64
