"""Builders for hand-made metrics datasets: cases and decisions at chosen moments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.models import Case
from cases.tests.factories import CaseFactory
from reviews.models import Decision
from routing.models import Queue


def make_case(source: Any, case_type: Any, created_at: datetime, **fields: Any) -> Case:
    outcome = fields.pop("outcome", None)
    return CaseFactory(
        source=source,
        case_type=case_type,
        created_at=created_at,
        routing={"outcome": outcome} if outcome else None,
        **fields,
    )


def decide(
    case: Case,
    reviewer: Any,
    *,
    action: str,
    stage: str,
    seconds: float,
    at: datetime,
    agrees: bool | None = None,
    queue: str = "generalist",
) -> Decision:
    decision = Decision.objects.create(
        case=case,
        queue=Queue.objects.get(slug=queue),
        reviewer=reviewer,
        role="generalist",
        action=action,
        reason_code="" if action in ("approve", "compare") else "other",
        seconds_to_decide=seconds,
        stage=stage,
        agrees_with_auto=agrees,
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=at)  # created_at is auto_now_add
    return decision
