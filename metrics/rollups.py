"""Computing the hourly rollups. One function computes an hour from the raw tables; the
scheduled task stores closed hours, and reads compute the current hour the same way. A UTC
day whose 24 hours are stored is summed into day rows, so long windows read few rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case as Choice
from django.db.models import Count, F, OuterRef, Q, Subquery, When
from django.db.models.functions import TruncDay
from django.utils import timezone

from cases.models import AuditEvent, Case, CaseStatus
from metrics.cache import stored_clear
from metrics.histograms import histogram, merge
from metrics.models import (
    CaseTypeDay,
    CaseTypeHour,
    QueueHour,
    ReviewerDay,
    ReviewerHour,
    RolledDay,
    RolledHour,
)
from reviews.models import Action, Decision, Stage
from routing.models import EntryState, QueueEntry

HUMAN = (CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.EDITED)
REVIEW_STAGES = (Stage.FIRST_REVIEW, Stage.SECOND_REVIEW, Stage.SUPERVISOR)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Days rolled per catch-up run when backfilling day rows for hours stored before day
# rollups existed (a day is 2 queries and 24 rows per case type and reviewer: cheap).
MAX_DAYS_PER_RUN = 400

CASE_TYPE_COUNTERS = (
    "received",
    "auto_approved",
    "to_human",
    "decided",
    "overrides",
    "within_sla",
    "breaches",
    "audit_judged",
    "audit_disagreed",
    "validations",
    "contradicted",
)
CASE_TYPE_HISTOGRAMS = ("resolution_buckets", "wait_buckets")
REVIEWER_COUNTERS = ("decisions", "approvals", "overrides", "seconds", "second_reviews", "agreed")
REVIEWER_HISTOGRAMS = ("seconds_buckets",)


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def day_floor(moment: datetime) -> datetime:
    """Midnight UTC of the day holding ``moment`` (day rollups are UTC days)."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class HourRollup:
    hour: datetime
    # model rows when computed, plain rows (same attributes) when read from storage
    case_types: dict[int, Any] = field(default_factory=dict)
    queues: dict[int, Any] = field(default_factory=dict)
    reviewers: dict[int, Any] = field(default_factory=dict)


def _ct(rollup: HourRollup, case_type_id: int) -> CaseTypeHour:
    row = rollup.case_types.get(case_type_id)
    if row is None:
        row = rollup.case_types[case_type_id] = CaseTypeHour(
            hour=rollup.hour, case_type_id=case_type_id
        )
    return row


def compute_hour(hour: datetime) -> HourRollup:
    """Everything that happened in [hour, hour + 1h), from the raw tables."""
    start, end = hour_floor(hour), hour_floor(hour) + timedelta(hours=1)
    rollup = HourRollup(hour=start)
    row: Any  # rows of several differently shaped aggregations

    # Arrivals and human outcomes in one pass (each side backed by its time index).
    is_received = Q(created_at__gte=start, created_at__lt=end)
    is_decided = Q(decided_at__gte=start, decided_at__lt=end, status__in=HUMAN)
    for row in (
        Case.objects.filter(is_received | is_decided)
        .values("case_type_id")
        .annotate(
            received=Count("id", filter=is_received),
            auto=Count("id", filter=is_received & Q(routing__outcome="auto_approved")),
            human=Count("id", filter=is_received & Q(routing__outcome="queued")),
            decided=Count("id", filter=is_decided),
            overrides=Count(
                "id", filter=is_decided & Q(status__in=[CaseStatus.REJECTED, CaseStatus.EDITED])
            ),
            within_sla=Count(
                "id",
                filter=is_decided & Q(sla_due_at__isnull=False, decided_at__lte=F("sla_due_at")),
            ),
        )
        .order_by()
    ):
        ct = _ct(rollup, row["case_type_id"])
        ct.received, ct.auto_approved, ct.to_human = row["received"], row["auto"], row["human"]
        ct.decided, ct.overrides, ct.within_sla = (
            row["decided"],
            row["overrides"],
            row["within_sla"],
        )

    for row in (
        AuditEvent.objects.filter(
            kind="sla.breached", occurred_at__gte=start, occurred_at__lt=end, case__isnull=False
        )
        .values("case__case_type_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        _ct(rollup, row["case__case_type_id"]).breaches = row["n"]

    # A second review or supervisor decision validates the case's first human verdict (its
    # first first-review approve/reject/edit by id, in any hour), looked up in the same query.
    first_verdict = Subquery(
        Decision.objects.filter(
            case_id=OuterRef("case_id"),
            stage=Stage.FIRST_REVIEW,
            action__in=[Action.APPROVE, Action.REJECT, Action.EDIT],
        )
        .order_by("id")
        .values("action")[:1]
    )
    decisions = list(
        Decision.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            first_verdict=Choice(
                When(stage__in=[Stage.SECOND_REVIEW, Stage.SUPERVISOR], then=first_verdict)
            )
        )
        .values_list(
            "case__case_type_id",
            "case__created_at",
            "reviewer_id",
            "action",
            "stage",
            "seconds_to_decide",
            "created_at",
            "agrees_with_auto",
            "first_verdict",
        )
    )
    resolution: dict[int, list[float]] = defaultdict(list)
    waits: dict[int, list[float]] = defaultdict(list)
    reviewer_seconds: dict[int, list[float]] = defaultdict(list)
    for (
        ct_id,
        received,
        reviewer_id,
        action,
        stage,
        seconds,
        decided_at,
        agrees,
        first,
    ) in decisions:
        ct = _ct(rollup, ct_id)
        person = rollup.reviewers.get(reviewer_id) or rollup.reviewers.setdefault(
            reviewer_id, ReviewerHour(hour=start, reviewer_id=reviewer_id)
        )
        if stage == Stage.AUDIT:
            ct.audit_judged += 1
            ct.audit_disagreed += agrees is False
        elif action != Action.ESCALATE:
            resolution[ct_id].append(seconds)
            if stage == Stage.FIRST_REVIEW:
                waits[ct_id].append(
                    (decided_at - timedelta(seconds=seconds) - received).total_seconds()
                )
            if stage in (Stage.SECOND_REVIEW, Stage.SUPERVISOR):
                if first is not None:
                    ct.validations += 1
                    contradicted = first != action
                    ct.contradicted += contradicted
                    if stage == Stage.SECOND_REVIEW:
                        person.second_reviews += 1
                        person.agreed += not contradicted
        if action == Action.ESCALATE:
            continue
        person.decisions += 1
        person.approvals += action == Action.APPROVE
        person.overrides += action in (Action.REJECT, Action.EDIT)
        person.seconds += seconds
        reviewer_seconds[reviewer_id].append(seconds)
    for ct_id, values in resolution.items():
        _ct(rollup, ct_id).resolution_buckets = histogram(values)
    for ct_id, values in waits.items():
        _ct(rollup, ct_id).wait_buckets = histogram(values)
    for reviewer_id, values in reviewer_seconds.items():
        rollup.reviewers[reviewer_id].seconds_buckets = histogram(values)

    arrived = Q(created_at__gte=start, created_at__lt=end)
    completed = Q(closed_at__gte=start, closed_at__lt=end, state=EntryState.DONE)
    open_at_end = Q(created_at__lt=end) & (Q(closed_at__isnull=True) | Q(closed_at__gte=end))
    for queue_id, arrivals, completions, depth in (
        QueueEntry.objects.filter(arrived | completed | open_at_end)
        .values("queue_id")
        .annotate(
            arrivals=Count("id", filter=arrived),
            completions=Count("id", filter=completed),
            depth=Count("id", filter=open_at_end),
        )
        .values_list("queue_id", "arrivals", "completions", "depth")
        .order_by()
    ):
        rollup.queues[queue_id] = QueueHour(
            hour=start,
            queue_id=queue_id,
            arrivals=arrivals,
            completions=completions,
            depth_end=depth,
        )
    return rollup


@transaction.atomic
def rollup_store(hour: datetime) -> HourRollup:
    """(Re)compute and store one hour, and (re)store its day once all of the day's hours are
    stored; safe to run twice."""
    rollup = compute_hour(hour)
    start = rollup.hour
    CaseTypeHour.objects.filter(hour=start).delete()
    QueueHour.objects.filter(hour=start).delete()
    ReviewerHour.objects.filter(hour=start).delete()
    CaseTypeHour.objects.bulk_create(rollup.case_types.values())
    QueueHour.objects.bulk_create(rollup.queues.values())
    ReviewerHour.objects.bulk_create(rollup.reviewers.values())
    RolledHour.objects.update_or_create(hour=start)
    rollup_day_store(start)
    stored_clear()
    return rollup


def _sum_rows(rows: Any, key: str, counters: tuple[str, ...], histograms: tuple[str, ...]) -> dict:
    """Sum rollup rows (dicts) per ``key``: counters added, histograms merged."""
    sums: dict[Any, dict[str, Any]] = {}
    for row in rows:
        total = sums.get(row[key])
        if total is None:
            sums[row[key]] = {**row}
            continue
        for name in counters:
            total[name] += row[name]
        for name in histograms:
            total[name] = merge([total[name], row[name]])
    return sums


@transaction.atomic
def rollup_day_store(moment: datetime) -> bool:
    """(Re)store the day rows of the UTC day holding ``moment`` as the sums of its stored
    hours, if all 24 are stored (returns whether it did). Reads use a day row only when the
    day is marked rolled, so a day never counts hours it does not hold."""
    day = day_floor(moment)
    hours = {"hour__gte": day, "hour__lt": day + DAY}
    if RolledHour.objects.filter(**hours).count() < 24:
        return False
    case_types = _sum_rows(
        CaseTypeHour.objects.filter(**hours)
        .order_by("hour")
        .values("case_type_id", *CASE_TYPE_COUNTERS, *CASE_TYPE_HISTOGRAMS),
        "case_type_id",
        CASE_TYPE_COUNTERS,
        CASE_TYPE_HISTOGRAMS,
    )
    reviewers = _sum_rows(
        ReviewerHour.objects.filter(**hours)
        .order_by("hour")
        .values("reviewer_id", *REVIEWER_COUNTERS, *REVIEWER_HISTOGRAMS),
        "reviewer_id",
        REVIEWER_COUNTERS,
        REVIEWER_HISTOGRAMS,
    )
    CaseTypeDay.objects.filter(day=day).delete()
    ReviewerDay.objects.filter(day=day).delete()
    CaseTypeDay.objects.bulk_create(CaseTypeDay(day=day, **row) for row in case_types.values())
    ReviewerDay.objects.bulk_create(ReviewerDay(day=day, **row) for row in reviewers.values())
    RolledDay.objects.update_or_create(day=day)
    return True


def rollup_days_catch_up(*, max_days: int = MAX_DAYS_PER_RUN) -> int:
    """Store the days whose 24 hours are stored but which are not rolled yet (hours stored
    before day rollups existed), oldest first."""
    complete = (
        RolledHour.objects.annotate(day=TruncDay("hour", tzinfo=UTC))
        .values("day")
        .annotate(hours=Count("id"))
        .filter(hours=24)
        .values_list("day", flat=True)
    )
    rolled = set(RolledDay.objects.values_list("day", flat=True))
    missing = sorted(day for day in complete if day not in rolled)[:max_days]
    for day in missing:
        rollup_day_store(day)
    return len(missing)


def first_case_hour() -> datetime | None:
    first = Case.objects.order_by("created_at").values_list("created_at", flat=True).first()
    return hour_floor(first) if first else None


def rollups_catch_up(*, now: datetime | None = None, max_hours: int = 24 * 7) -> int:
    """Store finished hours not rolled up yet, oldest first, at most ``max_hours`` per run
    (a long backfill continues on the next run), and the last rolled hour again, so late
    writes within it are counted; each day is stored as its last hour is. Returns the number
    of hours stored."""
    now = now or timezone.now()
    current = hour_floor(now)
    last = RolledHour.objects.order_by("-hour").values_list("hour", flat=True).first()
    start = last if last else first_case_hour()
    if start is None:
        return 0
    rollup_days_catch_up()
    count = 0
    hour = start
    while hour < current and count < max_hours:
        rollup_store(hour)
        hour += timedelta(hours=1)
        count += 1
    return count
