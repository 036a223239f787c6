"""Reads for the feedback loop: training records, calibration histograms, the audit-sample
error estimate. Everything streams or aggregates in the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Floor, Least

from cases.models import Case, CaseStatus, CaseType, CaseTypeKind
from cases.pairwise import candidate_ids, preference_pairs
from feedback.calibration import BinCounts, Histogram, Traffic, wilson
from reviews.models import Action, Decision, Stage

HUMAN_OUTCOMES = (CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.EDITED)
EXPORT_KINDS = ("labels", "edits", "preferences")


@dataclass(frozen=True)
class FeedbackFilter:
    case_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _decided_cases(f: FeedbackFilter) -> QuerySet[Case]:
    cases = Case.objects.filter(
        status__in=HUMAN_OUTCOMES, decision__isnull=False, redacted_at__isnull=True
    )
    if f.case_type:
        cases = cases.filter(case_type__slug=f.case_type)
    if f.since:
        cases = cases.filter(decided_at__gte=f.since)
    if f.until:
        cases = cases.filter(decided_at__lt=f.until)
    return cases.select_related("case_type").order_by("decided_at", "id")


def _audit_decisions(f: FeedbackFilter) -> QuerySet[Decision]:
    decisions = Decision.objects.filter(
        stage=Stage.AUDIT,
        action__in=[Action.APPROVE, Action.REJECT, Action.EDIT],
        case__redacted_at__isnull=True,
    )
    if f.case_type:
        decisions = decisions.filter(case__case_type__slug=f.case_type)
    if f.since:
        decisions = decisions.filter(created_at__gte=f.since)
    if f.until:
        decisions = decisions.filter(created_at__lt=f.until)
    return decisions.select_related("case__case_type", "reviewer").order_by("created_at", "id")


def _text(value: Any) -> str:
    """Preference-tuning tools read strings: JSON values are written as canonical JSON."""
    return (
        value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    )


def label_records(f: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """One record per final human decision, and per audit judgement of an auto-approval."""
    for case in _decided_cases(f).iterator(chunk_size=2000):
        decision = case.decision or {}
        label = decision.get("action")
        yield {
            "case_id": str(case.pk),
            "external_id": case.external_id,
            "case_type": case.case_type.slug,
            "input": case.input,
            "model_output": case.ai_output,
            "human_output": case.final_output,
            "label": label,
            "reason_code": decision.get("reason_code") or None,
            "overrode": label in (Action.REJECT, Action.EDIT),
            "confidence": case.confidence,
            "policy_version": (case.routing or {}).get("policy_version"),
            "stage": decision.get("stage"),
            "decided_at": case.decided_at.isoformat() if case.decided_at else None,
        }
    for audit in _audit_decisions(f).iterator(chunk_size=2000):
        case = audit.case
        yield {
            "case_id": str(case.pk),
            "external_id": case.external_id,
            "case_type": case.case_type.slug,
            "input": case.input,
            "model_output": case.ai_output,
            "human_output": audit.final_output
            if audit.action == Action.EDIT
            else (case.ai_output if audit.action == Action.APPROVE else None),
            "label": audit.action,
            "reason_code": audit.reason_code or None,
            "overrode": audit.action != Action.APPROVE,
            "confidence": case.confidence,
            "policy_version": (case.routing or {}).get("policy_version"),
            "stage": Stage.AUDIT.value,
            "decided_at": audit.created_at.isoformat(),
        }


def edit_records(f: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """Supervised fine-tuning pairs: input -> the human-corrected output."""
    for record in label_records(f):
        if record["label"] == Action.EDIT:
            yield {
                "case_id": record["case_id"],
                "case_type": record["case_type"],
                "input": record["input"],
                "output": record["human_output"],
                "model_output": record["model_output"],
            }


def preference_records(f: FeedbackFilter) -> Iterator[dict[str, Any]]:
    """(prompt, chosen, rejected): a human's edit over the model's output, and every pair a
    pairwise comparison implies. Ties imply no pair."""
    for record in label_records(f):
        if record["label"] == Action.EDIT:
            yield {
                "prompt": _text(record["input"]),
                "chosen": _text(record["human_output"]),
                "rejected": _text(record["model_output"]),
                "case_id": record["case_id"],
                "case_type": record["case_type"],
                "source": "edit",
            }
        elif record["label"] == Action.COMPARE and isinstance(record["human_output"], dict):
            outputs = {c["id"]: c["output"] for c in record["model_output"]["candidates"]}
            ids = candidate_ids(record["model_output"])
            for chosen, rejected in preference_pairs(record["human_output"], ids):
                yield {
                    "prompt": _text(record["input"]),
                    "chosen": _text(outputs[chosen]),
                    "rejected": _text(outputs[rejected]),
                    "case_id": record["case_id"],
                    "case_type": record["case_type"],
                    "source": "pairwise",
                    "chosen_id": chosen,
                    "rejected_id": rejected,
                }


RECORDS = {"labels": label_records, "edits": edit_records, "preferences": preference_records}


def export_lines(kind: str, f: FeedbackFilter) -> Iterator[bytes]:
    for record in RECORDS[kind](f):
        yield (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- calibration ----------------------------------------------------------------------------


def _bin_expression(field: str = "confidence") -> Any:
    # floor(confidence * 100), clamped to 100 (confidence 1.0 has a bin of its own)
    scaled = ExpressionWrapper(F(field) * 100.0 + 1e-9, output_field=FloatField())
    return Least(Cast(Floor(scaled), IntegerField()), Value(100), output_field=IntegerField())


def calibration_histogram(f: FeedbackFilter) -> Histogram:
    """Judged cases per confidence bin: humans' final verdicts on reviewed cases and audit
    judgements of auto-approved ones (comparisons carry no single output and are left out)."""
    counts: dict[int, list[int]] = {}
    reviewed = (
        _decided_cases(f)
        .exclude(decision__action=Action.COMPARE)
        .annotate(bin=_bin_expression())
        .values("bin")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(status=CaseStatus.APPROVED)))
        .order_by()
    )
    audits = (
        _audit_decisions(f)
        .annotate(bin=_bin_expression("case__confidence"))
        .values("bin")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(action=Action.APPROVE)))
        .order_by()
    )
    for row in [*reviewed, *audits]:
        slot = counts.setdefault(int(row["bin"]), [0, 0])
        slot[0] += row["n"]
        slot[1] += row["ok"]
    return {k: BinCounts(labelled=n, accepted=ok) for k, (n, ok) in counts.items()}


def traffic_histogram(f: FeedbackFilter) -> Traffic:
    cases = Case.objects.all()
    if f.case_type:
        cases = cases.filter(case_type__slug=f.case_type)
    if f.since:
        cases = cases.filter(created_at__gte=f.since)
    if f.until:
        cases = cases.filter(created_at__lt=f.until)
    rows = cases.annotate(bin=_bin_expression()).values("bin").annotate(n=Count("id")).order_by()
    return {int(row["bin"]): row["n"] for row in rows}


@dataclass(frozen=True)
class AuditEstimate:
    case_type: str | None
    sampled: int
    disagreed: int
    lower: float
    upper: float

    @property
    def error_rate(self) -> float | None:
        return self.disagreed / self.sampled if self.sampled else None


def audit_sample_estimate(f: FeedbackFilter) -> AuditEstimate:
    """The post-automation error rate, from humans' judgements of sampled auto-approvals."""
    totals = _audit_decisions(f).aggregate(
        n=Count("id"), bad=Count("id", filter=Q(agrees_with_auto=False))
    )
    low, high = wilson(totals["bad"], totals["n"])
    return AuditEstimate(f.case_type, totals["n"], totals["bad"], low, high)


def calibratable_case_types() -> QuerySet[CaseType]:
    return CaseType.objects.filter(kind=CaseTypeKind.STANDARD).order_by("slug")


@dataclass(frozen=True)
class CalibrationReport:
    case_type: CaseType
    buckets: list[Any]
    candidates: list[Any]
    recommendation: Any
    current_threshold: float
    expert_threshold: float
    current: Any  # the candidate at the current threshold
    recommended: Any  # the candidate at the recommendation, if any
    audit: AuditEstimate
    target_error: float
    min_labelled: int
    policy_version: int


def calibration_report(
    *,
    case_type: CaseType,
    since: datetime | None = None,
    target_error: float = 0.01,
    review_cost: float | None = None,
    error_cost: float | None = None,
    min_labelled: int = 30,
) -> CalibrationReport:
    from feedback import calibration
    from routing.selectors import policy_snapshots_for

    f = FeedbackFilter(case_type=case_type.slug, since=since)
    histogram = calibration_histogram(f)
    options = calibration.candidates(
        histogram, traffic_histogram(f), review_cost=review_cost, error_cost=error_cost
    )
    advice = calibration.recommend(options, target_error=target_error, min_labelled=min_labelled)
    snapshots = policy_snapshots_for([case_type.pk])
    policy = snapshots.get(case_type.pk) or snapshots[None]
    recommended = (
        calibration.nearest(options, advice.threshold) if advice.threshold is not None else None
    )
    return CalibrationReport(
        case_type=case_type,
        buckets=calibration.reliability(histogram),
        candidates=options,
        recommendation=advice,
        current_threshold=policy.auto_approve_threshold,
        expert_threshold=policy.expert_threshold,
        current=calibration.nearest(options, policy.auto_approve_threshold),
        recommended=recommended,
        audit=audit_sample_estimate(f),
        target_error=target_error,
        min_labelled=min_labelled,
        policy_version=policy.number,
    )
