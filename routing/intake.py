"""Routing at ingestion: the CaseRouter that cases.intake calls, registered at start-up."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from cases.auditing import EventSpec
from cases.bulk import insert_rows
from cases.models import PRIORITY_RANK, Case, CaseStatus
from routing import selectors
from routing.models import EntryKind, QueueEntry
from routing.router import CaseFacts, route

logger = logging.getLogger(__name__)

# Where a case goes when its policy names a queue that has since been removed: never lost.
FALLBACK_QUEUES = ("supervisor", "expert", "generalist")


# The columns of a new queue entry (the others take their defaults: open, not escalated).
ENTRY_COLUMNS = (
    "case_id",
    "queue_id",
    "kind",
    "fast_tracked",
    "sla_due_at",
    "sla_warn_at",
    "confidence",
    "uncertainty",
    "priority_rank",
)
# What a case.routed record holds: the routing snapshot but the reason (its own field).
ROUTED_DATA = (
    "outcome",
    "queue",
    "rule",
    "policy",
    "policy_version",
    "policy_version_id",
    "audit_sample",
)


# PRIORITY_RANK by plain value: no Priority(...) lookup per case.
_RANK = {str(priority.value): rank for priority, rank in PRIORITY_RANK.items()}
_REVIEW, _AUDIT = str(EntryKind.REVIEW.value), str(EntryKind.AUDIT.value)


def case_facts(case: Case, *, received_at: datetime) -> CaseFacts:
    return CaseFacts(
        case_id=str(case.pk),
        case_type=case.case_type.slug,
        external_id=case.external_id,
        confidence=case.confidence,
        priority=case.priority,
        risk_tags=tuple(case.risk_tags or ()),
        metadata=case.metadata or {},
        input=case.input,
        ai_output=case.ai_output,
        due_at=case.due_at,
        received_at=received_at,
    )


def uncertainty(confidence: float, thresholds: Iterable[float]) -> float:
    """How close a case is to a decision boundary (0: on it). Active-learning queues take the
    smallest first: those are the cases a human label teaches the most."""
    return min((abs(confidence - t) for t in thresholds), default=abs(confidence - 0.5))


@functools.lru_cache(maxsize=256)
def _parse(stamp: str | None) -> datetime | None:
    # Cached: the cases of a batch share a few deadlines (one per queue and priority).
    return datetime.fromisoformat(stamp) if stamp else None


class PolicyRouter:
    """Routes a batch with two queries (policies, queue SLAs), whatever its size."""

    def route(self, cases: Sequence[Case]) -> None:
        if not cases:
            return
        snapshots = selectors.policy_snapshots_for({case.case_type_id for case in cases})
        for case in cases:
            policy = snapshots.get(case.case_type_id) or snapshots[None]
            received_at = case.created_at or timezone.now()
            decision = route(policy, case_facts(case, received_at=received_at))
            case.status = (
                CaseStatus.AUTO_APPROVED
                if decision.outcome == "auto_approved"
                else CaseStatus.PENDING_REVIEW
            )
            case.priority = decision.priority
            case.sla_due_at = decision.sla_due_at
            case.fast_tracked = decision.fast_tracked
            case.routing = decision.snapshot(policy)
            if decision.outcome == "auto_approved":
                case.final_output = case.ai_output
                case.decided_at = received_at

    def enqueue(self, cases: Sequence[Case], *, actor: User | None) -> list[EventSpec]:
        if not cases:
            return []
        queue_ids = selectors.queue_ids_by_slug()
        entries: list[tuple[Any, ...]] = []
        events: list[EventSpec] = []
        for case in cases:
            routing = case.routing or {}
            thresholds = routing.get("thresholds") or {}
            confidence = case.confidence
            closeness = uncertainty(confidence, thresholds.values())
            rank = _RANK[case.priority]
            if routing.get("queue"):
                assert case.sla_due_at is not None  # every queued case has a deadline
                queue_slug = self._existing(routing["queue"], queue_ids, case)
                entries.append(
                    (
                        case.pk,
                        queue_ids[queue_slug],
                        _REVIEW,
                        case.fast_tracked,
                        case.sla_due_at,
                        _parse(routing.get("sla_warn_at")),
                        confidence,
                        closeness,
                        rank,
                    )
                )
            if routing.get("audit_sample") and routing.get("audit_queue"):
                audit_slug = self._existing(routing["audit_queue"], queue_ids, case)
                entries.append(
                    (
                        case.pk,
                        queue_ids[audit_slug],
                        _AUDIT,
                        False,
                        _parse(routing["audit_sla_due_at"]),
                        None,
                        confidence,
                        closeness,
                        rank,
                    )
                )
            events.append(
                EventSpec(
                    kind="case.routed",
                    case=case,
                    reason=routing.get("reason", ""),
                    data={key: routing.get(key) for key in ROUTED_DATA},
                )
            )
        insert_rows(QueueEntry, ENTRY_COLUMNS, entries)
        return events

    @staticmethod
    def _existing(slug: str, queue_ids: dict[str, int], case: Case) -> str:
        if slug in queue_ids:
            return slug
        fallback = next((q for q in FALLBACK_QUEUES if q in queue_ids), None)
        if fallback is None:
            raise RuntimeError("No active queue to route to: create the standard queues.")
        logger.error("Queue %r does not exist; case %s sent to %r", slug, case.pk, fallback)
        assert case.routing is not None
        case.routing["reason"] += f" (queue {slug!r} does not exist: sent to {fallback!r})"
        case.routing["queue"] = fallback
        Case.objects.filter(pk=case.pk).update(routing=case.routing)
        return fallback
