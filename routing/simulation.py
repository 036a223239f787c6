"""Dry run: replay a policy version over recent real cases and report what would happen."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from cases.models import Case, CaseStatus
from routing import selectors
from routing.intake import case_facts
from routing.models import PolicyVersion, RoutingPolicy
from routing.router import route

HUMAN_OUTCOMES = (CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.EDITED)
OVERRIDES = (CaseStatus.REJECTED, CaseStatus.EDITED)


@dataclass
class SimulationReport:
    policy: str
    version_id: int
    version_number: int | None
    since: datetime
    until: datetime
    cases: int = 0
    auto_approved: int = 0
    audit_sampled: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)
    # What actually happened to the same cases, for comparison.
    actual_auto_approved: int = 0
    actual_by_queue: dict[str, int] = field(default_factory=dict)
    human_reviewed: int = 0
    would_auto_approve_reviewed: int = 0
    would_auto_approve_overridden: int = 0

    @property
    def days(self) -> float:
        return max((self.until - self.since).total_seconds() / 86400, 1 / 24)

    @property
    def auto_approved_share(self) -> float:
        return self.auto_approved / self.cases if self.cases else 0.0

    @property
    def queue_shares(self) -> dict[str, float]:
        return {q: n / self.cases for q, n in self.by_queue.items()} if self.cases else {}

    @property
    def load_per_day(self) -> dict[str, float]:
        load = {q: n / self.days for q, n in self.by_queue.items()}
        if self.audit_sampled:
            load["(audit sample)"] = self.audit_sampled / self.days
        return load

    @property
    def reviews_per_day(self) -> float:
        return (sum(self.by_queue.values()) + self.audit_sampled) / self.days


def _cases_governed_by(version: PolicyVersion) -> list[int] | None:
    """Case type ids whose cases this policy routes; None means 'all but those with their own'."""
    policy = version.policy
    if policy.case_type_id is not None:
        return [policy.case_type_id]
    return None


def policy_simulate(
    *, version: PolicyVersion, since: datetime, until: datetime | None = None
) -> SimulationReport:
    until = until or timezone.now()
    snapshot = selectors.snapshot_of(version)
    report = SimulationReport(
        policy=version.policy.key,
        version_id=version.pk,
        version_number=version.number,
        since=since,
        until=until,
    )
    cases = Case.objects.filter(created_at__gte=since, created_at__lt=until).select_related(
        "case_type"
    )
    governed = _cases_governed_by(version)
    if governed is not None:
        cases = cases.filter(case_type_id__in=governed)
    else:
        own = RoutingPolicy.objects.filter(
            case_type__isnull=False, current_version__isnull=False
        ).values_list("case_type_id", flat=True)
        cases = cases.exclude(case_type_id__in=list(own))

    queues: Counter[str] = Counter()
    actual_queues: Counter[str] = Counter()
    for case in cases.only(
        "id",
        "external_id",
        "case_type__slug",
        "confidence",
        "priority",
        "risk_tags",
        "metadata",
        "input",
        "ai_output",
        "due_at",
        "created_at",
        "status",
        "routing",
    ).iterator(chunk_size=2000):
        decision = route(snapshot, case_facts(case, received_at=case.created_at))
        report.cases += 1
        would_auto = decision.outcome == "auto_approved"
        if would_auto:
            report.auto_approved += 1
            report.audit_sampled += int(decision.audit_sample)
        else:
            queues[decision.queue or "?"] += 1
        actual = case.routing or {}
        if actual.get("outcome") == "auto_approved":
            report.actual_auto_approved += 1
        elif actual.get("queue"):
            actual_queues[actual["queue"]] += 1
        if case.status in HUMAN_OUTCOMES:
            report.human_reviewed += 1
            if would_auto:
                report.would_auto_approve_reviewed += 1
                if case.status in OVERRIDES:
                    report.would_auto_approve_overridden += 1
    report.by_queue = dict(sorted(queues.items()))
    report.actual_by_queue = dict(sorted(actual_queues.items()))
    return report


def default_since(days: int = 30) -> datetime:
    return timezone.now() - timedelta(days=days)
