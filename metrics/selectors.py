"""The loop measured: figures for any window, from hourly rollups (closed hours) and the
raw tables (the current hour, and any hour not rolled up yet)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Min, Q
from django.utils import timezone

from feedback.calibration import wilson
from metrics.histograms import merge, percentile
from metrics.models import CaseTypeHour, QueueHour, ReviewerHour, RolledHour
from metrics.rollups import HourRollup, compute_hour, first_case_hour, hour_floor
from routing.models import EntryState, Queue

WINDOWS = {"1h": 1, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _hours(window_hours: int, now: datetime) -> list[datetime]:
    current = hour_floor(now)
    return [current - timedelta(hours=n) for n in range(window_hours - 1, -1, -1)]


def _fields(model: Any) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.attname != "id"]


def _merge_into(total: list[int], counts: list[int]) -> None:
    if len(counts) > len(total):
        total.extend([0] * (len(counts) - len(total)))
    for index, count in enumerate(counts):
        total[index] += count


def _rollups(hours: list[datetime], case_type_id: int | None) -> list[HourRollup]:
    """Stored rows for rolled hours (three queries), computed rollups for the others."""
    rolled = set(RolledHour.objects.filter(hour__in=hours).values_list("hour", flat=True))
    stored: dict[datetime, HourRollup] = {h: HourRollup(hour=h) for h in hours if h in rolled}
    # Plain rows rather than model instances: a 30-day window reads thousands of them.
    in_window = {"hour__gte": min(hours), "hour__lte": max(hours)}
    ct_rows = CaseTypeHour.objects.filter(**in_window)
    if case_type_id is not None:
        ct_rows = ct_rows.filter(case_type_id=case_type_id)
    for values in ct_rows.values(*_fields(CaseTypeHour)):
        if values["hour"] in stored:
            stored[values["hour"]].case_types[values["case_type_id"]] = SimpleNamespace(**values)
    for values in QueueHour.objects.filter(**in_window).values(*_fields(QueueHour)):
        if values["hour"] in stored:
            stored[values["hour"]].queues[values["queue_id"]] = SimpleNamespace(**values)
    for values in ReviewerHour.objects.filter(**in_window).values(*_fields(ReviewerHour)):
        if values["hour"] in stored:
            stored[values["hour"]].reviewers[values["reviewer_id"]] = SimpleNamespace(**values)
    # Hours before the first case are empty; anything else not rolled yet is computed.
    first = first_case_hour()
    result = []
    for hour in hours:
        if hour in stored:
            rollup = stored[hour]
        elif first is None or hour < first:
            rollup = HourRollup(hour=hour)
        else:
            rollup = compute_hour(hour)
        if case_type_id is not None:
            rollup.case_types = {k: v for k, v in rollup.case_types.items() if k == case_type_id}
        result.append(rollup)
    return result


COUNTERS = (
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


@dataclass
class Totals:
    received: int = 0
    auto_approved: int = 0
    to_human: int = 0
    decided: int = 0
    overrides: int = 0
    within_sla: int = 0
    breaches: int = 0
    audit_judged: int = 0
    audit_disagreed: int = 0
    validations: int = 0
    contradicted: int = 0
    resolution: list[int] = field(default_factory=list)
    wait: list[int] = field(default_factory=list)

    def add(self, row: Any) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(row, name))
        _merge_into(self.resolution, row.resolution_buckets)
        _merge_into(self.wait, row.wait_buckets)


def _figures(t: Totals, hours: int) -> dict[str, Any]:
    low, high = wilson(t.audit_disagreed, t.audit_judged)
    override_rate = _share(t.overrides, t.decided)
    return {
        "received": t.received,
        "escalation_rate": _share(t.to_human, t.received),
        "auto_approval_rate": _share(t.auto_approved, t.received),
        "override_rate": override_rate,
        "override_flag": (
            None
            if override_rate is None
            else "high"
            if override_rate > settings.LOOPGATE_OVERRIDE_HIGH
            else "low"
            if override_rate < settings.LOOPGATE_OVERRIDE_LOW
            else None
        ),
        "resolution_seconds_p50": percentile(t.resolution, 0.5),
        "resolution_seconds_p90": percentile(t.resolution, 0.9),
        "queue_wait_seconds_p50": percentile(t.wait, 0.5),
        "queue_wait_seconds_p90": percentile(t.wait, 0.9),
        "resolved_per_hour": (t.auto_approved + t.decided) / hours,
        "machine_per_hour": t.auto_approved / hours,
        "arrivals_per_hour": t.received / hours,
        "sla_compliance": _share(t.within_sla, t.decided),
        "sla_breaches": t.breaches,
        "post_validation_error": _share(t.contradicted, t.validations),
        "audit_sample": {
            "judged": t.audit_judged,
            "disagreed": t.audit_disagreed,
            "error_rate": _share(t.audit_disagreed, t.audit_judged),
            "error_lower": low,
            "error_upper": high,
        },
    }


def _queues_now(now: datetime) -> list[dict[str, Any]]:
    open_ = Q(entries__state=EntryState.OPEN)
    rows = (
        Queue.objects.filter(is_active=True)
        .annotate(
            depth=Count("entries", filter=open_),
            oldest=Min("entries__created_at", filter=open_),
            at_risk=Count(
                "entries",
                filter=open_ & Q(entries__warned_at__isnull=False, entries__sla_due_at__gt=now),
            ),
            breached=Count("entries", filter=open_ & Q(entries__sla_due_at__lte=now)),
        )
        .order_by("slug")
    )
    return [
        {
            "queue": q.slug,
            "name": q.name,
            "depth": q.depth,
            "at_risk": q.at_risk,
            "breached": q.breached,
            "oldest_age_seconds": (now - q.oldest).total_seconds() if q.oldest else None,
        }
        for q in rows
    ]


def _reviewers(rollups: list[HourRollup], hours: int) -> list[dict[str, Any]]:
    per: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "decisions": 0,
            "approvals": 0,
            "overrides": 0,
            "second_reviews": 0,
            "agreed": 0,
            "buckets": [],
        }
    )
    for rollup in rollups:
        for reviewer_id, row in rollup.reviewers.items():
            slot = per[reviewer_id]
            for name in ("decisions", "approvals", "overrides", "second_reviews", "agreed"):
                slot[name] += getattr(row, name)
            _merge_into(slot["buckets"], row.seconds_buckets)
    norm = percentile(merge(p["buckets"] for p in per.values()), 0.5)
    names = dict(get_user_model().objects.filter(pk__in=per).values_list("pk", "username"))
    result = []
    for reviewer_id, p in sorted(per.items(), key=lambda item: names.get(item[0], "")):
        median = percentile(p["buckets"], 0.5)
        approval_share = _share(p["approvals"], p["decisions"])
        rubber_stamp = bool(
            p["decisions"] >= settings.LOOPGATE_RUBBER_STAMP_MIN_DECISIONS
            and median is not None
            and norm
            and median < settings.LOOPGATE_RUBBER_STAMP_SPEED * norm
            and _share(p["overrides"], p["decisions"]) is not None
            and (p["overrides"] / p["decisions"]) < settings.LOOPGATE_OVERRIDE_LOW
        )
        result.append(
            {
                "reviewer_id": reviewer_id,
                "reviewer": names.get(reviewer_id, "?"),
                "decisions": p["decisions"],
                "decisions_per_hour": p["decisions"] / hours,
                "median_seconds": median,
                "approval_share": approval_share,
                "override_rate": _share(p["overrides"], p["decisions"]),
                "peer_agreement": _share(p["agreed"], p["second_reviews"]),
                "rubber_stamp": rubber_stamp,
            }
        )
    return result


def metrics_summary(
    *,
    window: str = "24h",
    case_type_id: int | None = None,
    now: datetime | None = None,
    reviewer_id: int | None = None,
) -> dict[str, Any]:
    """Headline figures for the window, the same figures for the window before it (trend),
    per-queue and per-reviewer tables, and an hourly series for charts."""
    now = now or timezone.now()
    hours = WINDOWS[window]
    rollups = _rollups(_hours(hours * 2, now), case_type_id)
    previous, current = rollups[:hours], rollups[hours:]
    totals, before = Totals(), Totals()
    for rollup in current:
        for row in rollup.case_types.values():
            totals.add(row)
    for rollup in previous:
        for row in rollup.case_types.values():
            before.add(row)
    series = []
    for rollup in current:
        hour_totals = Totals()
        for row in rollup.case_types.values():
            hour_totals.add(row)
        series.append(
            {
                "hour": rollup.hour.isoformat(),
                "received": hour_totals.received,
                "escalation_rate": _share(hour_totals.to_human, hour_totals.received),
                "override_rate": _share(hour_totals.overrides, hour_totals.decided),
                "resolution_seconds_p50": percentile(hour_totals.resolution, 0.5),
                "queue_depth": sum(q.depth_end for q in rollup.queues.values()),
            }
        )
    queue_flow: dict[int, dict[str, int]] = defaultdict(lambda: {"arrivals": 0, "completions": 0})
    for rollup in current:
        for queue_id, queue_row in rollup.queues.items():
            queue_flow[queue_id]["arrivals"] += queue_row.arrivals
            queue_flow[queue_id]["completions"] += queue_row.completions
    slugs = dict(Queue.objects.values_list("pk", "slug"))
    queues = _queues_now(now)
    by_slug = {slugs[k]: v for k, v in queue_flow.items() if k in slugs}
    for queue in queues:
        flow = by_slug.get(queue["queue"], {"arrivals": 0, "completions": 0})
        queue["arrivals_per_hour"] = flow["arrivals"] / hours
        queue["completions_per_hour"] = flow["completions"] / hours
    reviewers = _reviewers(current, hours)
    if reviewer_id is not None:
        reviewers = [r for r in reviewers if r["reviewer_id"] == reviewer_id]
    return {
        "window": window,
        "from": current[0].hour.isoformat(),
        "until": now.isoformat(),
        "figures": _figures(totals, hours),
        "previous": _figures(before, hours),
        "sla_at_risk_now": sum(q["at_risk"] for q in queues),
        "queues": queues,
        "reviewers": reviewers,
        "series": series,
    }
