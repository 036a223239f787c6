"""The seam through which a higher app routes cases at ingestion, without cases importing it.

``cases`` is the lowest app: it knows nothing about queues or policies. The routing app
registers a CaseRouter when Django starts (routing.apps.RoutingConfig.ready); ingestion calls
it before inserting (to decide status, SLA and the routing snapshot, in memory, for the whole
batch) and after inserting (to enqueue the cases and name the events to record).
Without a registered router, every case waits for review.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.contrib.auth.models import User

from cases.auditing import EventSpec
from cases.models import Case, CaseStatus


class CaseRouter(Protocol):
    def route(self, cases: Sequence[Case]) -> None:
        """Set ``status``, ``routing``, ``sla_due_at`` and ``fast_tracked`` on unsaved cases.
        Must not issue per-case queries."""

    def enqueue(self, cases: Sequence[Case], *, actor: User | None) -> list[EventSpec]:
        """Put freshly inserted cases on their queues; return the events to record."""


class _WaitForReview:
    def route(self, cases: Sequence[Case]) -> None:
        for case in cases:
            case.status = CaseStatus.PENDING_REVIEW

    def enqueue(self, cases: Sequence[Case], *, actor: User | None) -> list[EventSpec]:
        return []


_router: CaseRouter = _WaitForReview()


def register_router(router: CaseRouter) -> None:
    global _router
    _router = router


def current_router() -> CaseRouter:
    return _router
