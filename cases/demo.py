"""Demo data for the case domain: one person per role, a source, case types and cases."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from cases import services
from cases.models import CaseType, Source
from cases.roles import Role

DEMO_PASSWORD = "loopgate-demo"  # noqa: S105 - printed for demo logins
PEOPLE = [
    ("gina", Role.GENERALIST),
    ("gus", Role.GENERALIST),
    ("eric", Role.EXPERT),
    ("sam", Role.SUPERVISOR),
    ("cora", Role.COMPLIANCE),
    ("ada", Role.ADMIN),
]

CASE_TYPES: list[dict[str, Any]] = [
    {
        "slug": "refund",
        "name": "Refund request",
        "description": "A support model decides whether to refund an order.",
        "reason_codes": [
            "wrong_amount",
            "not_eligible",
            "fraud_suspected",
            "policy_exception",
            "other",
        ],
        "input_schema": {"type": "object", "required": ["order_id", "customer_message"]},
        "output_schema": {
            "type": "object",
            "required": ["decision"],
            "properties": {"decision": {"enum": ["refund", "deny"]}, "amount": {"type": "number"}},
        },
    },
    {
        "slug": "content-removal",
        "name": "Content removal",
        "description": "A moderation model flags posts for removal.",
        "reason_codes": ["hate_speech", "spam", "harassment", "false_positive", "other"],
        "input_schema": None,
        "output_schema": None,
    },
]

MESSAGES = [
    "The parcel never arrived and tracking stopped a week ago.",
    "I was charged twice for the same order.",
    "The item arrived broken, photos attached.",
    "I changed my mind, can I get my money back?",
    "Wrong size delivered, I want a refund not an exchange.",
]
POSTS = [
    "Buy cheap followers now!!! link in bio",
    "I disagree with this article, the numbers are wrong.",
    "You people are all idiots and should leave.",
    "Great recipe, thanks for sharing!",
]


def seed(out: Any) -> None:
    User = get_user_model()
    out.write(f"Demo people (password for all: {DEMO_PASSWORD}):")
    for username, role in PEOPLE:
        if User.objects.filter(username=username).exists():
            out.write(f"  {username:<6} {role.label} (exists)")
            continue
        _, key = services.reviewer_create(username=username, role=role, password=DEMO_PASSWORD)
        out.write(f"  {username:<6} {role.label:<22} API token: {key}")

    for spec in CASE_TYPES:
        if not CaseType.objects.filter(slug=spec["slug"]).exists():
            services.case_type_create(actor=None, **spec)

    source = Source.objects.filter(name="demo-shop").first()
    if source is None:
        source, key = services.source_create(name="demo-shop")
        out.write(f"Demo source 'demo-shop' API token: {key}")
    if source.cases.exists():
        return

    rng = random.Random(7)  # noqa: S311 - demo data, not security
    now = timezone.now()
    items: list[services.CaseInput | Any] = []
    for i in range(60):
        confidence = round(rng.betavariate(5, 1.6), 3)
        priority = rng.choices(["low", "normal", "high", "urgent"], [2, 6, 2, 1])[0]
        if i % 3 == 2:
            items.append(
                services.CaseInput(
                    external_id=f"post-{5000 + i}",
                    case_type="content-removal",
                    input={"post": rng.choice(POSTS), "author": f"user{rng.randint(1, 40)}"},
                    ai_output={"remove": confidence > 0.5, "category": "spam"},
                    confidence=confidence,
                    context=[
                        {
                            "text": "Community guideline 4: no spam or commercial solicitation.",
                            "source": "guidelines#4",
                            "score": 0.8,
                        }
                    ],
                    risk_tags=["legal"] if i % 11 == 0 else [],
                    priority=priority,
                    metadata={"subject_id": f"user{i % 7}"},
                )
            )
            continue
        amount = round(rng.uniform(5, 2500), 2)
        items.append(
            services.CaseInput(
                external_id=f"order-{1000 + i}",
                case_type="refund",
                input={
                    "order_id": 1000 + i,
                    "customer_message": rng.choice(MESSAGES),
                    "order_total": amount,
                },
                ai_output={"decision": "refund" if confidence > 0.4 else "deny", "amount": amount},
                confidence=confidence,
                context=[
                    {
                        "text": "Refunds are granted for items lost in transit.",
                        "source": "policy/refunds#lost",
                        "score": round(rng.uniform(0.5, 1), 2),
                    },
                    {
                        "text": f"Customer has {rng.randint(0, 5)} previous refunds this year.",
                        "source": "crm",
                        "score": 0.7,
                    },
                ],
                risk_tags=["vip"] if i % 9 == 0 else [],
                priority=priority,
                due_at=now + timedelta(hours=rng.randint(1, 48)) if i % 4 == 0 else None,
                metadata={"amount": amount, "subject_id": f"cust-{i % 12}"},
            )
        )
    results = services.case_ingest_bulk(source=source, items=items)
    created = sum(1 for r in results if r.outcome == services.IngestOutcome.CREATED)
    out.write(f"Posted {created} demo cases from 'demo-shop'.")
