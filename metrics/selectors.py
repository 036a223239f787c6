"""The loop measured: figures for any window, from hourly rollups (closed hours; whole UTC
days from day rollups where only totals are needed) and the raw tables (the current hour,
and any hour not rolled up yet).

Reads stay cheap with millions of cases: counters are summed in SQL or over plain tuples, a
window's hours are found with one aggregate over the rolled-hour marks, and the window
before (read only for its totals) is mostly day rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from feedback.calibration import wilson
from metrics.cache import stored_get, stored_put
from metrics.histograms import merge, percentile
from metrics.models import (
    CaseTypeDay,
    CaseTypeHour,
    QueueHour,
    ReviewerDay,
    ReviewerHour,
    RolledDay,
    RolledHour,
)
from metrics.rollups import (
    CASE_TYPE_COUNTERS,
    CASE_TYPE_HISTOGRAMS,
    DAY,
    HOUR,
    HourRollup,
    compute_hour,
    first_case_hour,
    hour_floor,
)
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


COUNTERS = CASE_TYPE_COUNTERS
# A case type row as read: its counters in COUNTERS order, then its two histograms.
CASE_TYPE_VALUES = (*COUNTERS, *CASE_TYPE_HISTOGRAMS)
SERIES_COUNTERS = ("received", "to_human", "overrides", "decided")


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

    def copy(self) -> Totals:
        return replace(self, resolution=list(self.resolution), wait=list(self.wait))

    def add_values(self, values: Sequence[Any]) -> None:
        """Add a row read as CASE_TYPE_VALUES."""
        (
            received,
            auto_approved,
            to_human,
            decided,
            overrides,
            within_sla,
            breaches,
            audit_judged,
            audit_disagreed,
            validations,
            contradicted,
            resolution,
            wait,
        ) = values
        self.received += received
        self.auto_approved += auto_approved
        self.to_human += to_human
        self.decided += decided
        self.overrides += overrides
        self.within_sla += within_sla
        self.breaches += breaches
        self.audit_judged += audit_judged
        self.audit_disagreed += audit_disagreed
        self.validations += validations
        self.contradicted += contradicted
        _merge_into(self.resolution, resolution)
        _merge_into(self.wait, wait)


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


REVIEWER_VALUES = ("decisions", "approvals", "overrides", "second_reviews", "agreed")


def _reviewers(per: dict[int, dict[str, Any]], hours: int) -> list[dict[str, Any]]:
    """The reviewer table from each reviewer's sums (REVIEWER_VALUES and merged buckets)."""
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


# ---------------------------------------------------------------------------- stored hours


@dataclass(frozen=True)
class RolledHours:
    """The rolled hours among those read: one unbroken run (the usual case: the task rolls
    hour after hour) held as its ends, or else the explicit set; and the latest time any of
    them was (re)rolled. Equal values mean equal stored rows (the cache's stamp)."""

    low: datetime | None = None
    high: datetime | None = None
    hours: frozenset[datetime] | None = None
    stamp: datetime | None = None

    def __contains__(self, hour: object) -> bool:
        if self.hours is not None:
            return hour in self.hours
        if self.low is None or self.high is None or not isinstance(hour, datetime):
            return False
        return self.low <= hour <= self.high

    def within(self, first: datetime, last: datetime) -> Q:
        """A filter for rollup rows of the rolled hours in [first, last]."""
        if self.hours is not None:
            return Q(hour__in=sorted(h for h in self.hours if first <= h <= last))
        if self.low is None or self.high is None:
            return Q(pk__in=[])
        return Q(hour__gte=max(first, self.low), hour__lte=min(last, self.high))


def rolled_hours(first: datetime, last: datetime) -> RolledHours:
    """Which hours in [first, last] are rolled up: one aggregate query (two if broken)."""
    marks = RolledHour.objects.filter(hour__gte=first, hour__lte=last)
    found = marks.aggregate(
        n=Count("id"), low=Min("hour"), high=Max("hour"), stamp=Max("rolled_at")
    )
    if not found["n"]:
        return RolledHours()
    if (found["high"] - found["low"]) // HOUR + 1 == found["n"]:
        return RolledHours(low=found["low"], high=found["high"], stamp=found["stamp"])
    return RolledHours(hours=frozenset(marks.values_list("hour", flat=True)), stamp=found["stamp"])


def _runs(days: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted days as [start, end) runs of consecutive days."""
    runs: list[tuple[datetime, datetime]] = []
    for day in days:
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + DAY)
        else:
            runs.append((day, day + DAY))
    return runs


def _days_within(
    days: list[datetime], rolled: RolledHours, first: datetime, last: datetime
) -> list[datetime]:
    """The rolled days inside [first, last] whose 24 hours are all rolled now (a day row
    stands for its hours only while they are stored; marks deleted to force a recompute
    must not count a day twice)."""
    return [
        day
        for day in days
        if day >= first
        and day + 23 * HOUR <= last
        and all(day + n * HOUR in rolled for n in range(24))
    ]


def _hours_outside(rolled: RolledHours, first: datetime, last: datetime, days: list[datetime]) -> Q:
    """Rolled hours in [first, last] not inside ``days`` (read from day rows instead)."""
    where = rolled.within(first, last)
    for start, end in _runs(days):
        where &= ~Q(hour__gte=start, hour__lt=end)
    return where


@dataclass
class _HourFigures:
    """One hour of the series: the counters it shows and its merged resolution histogram."""

    received: int = 0
    to_human: int = 0
    overrides: int = 0
    decided: int = 0
    resolution: list[int] = field(default_factory=list)
    queue_depth: int = 0

    def point(self, hour: datetime) -> dict[str, Any]:
        return {
            "hour": hour.isoformat(),
            "received": self.received,
            "escalation_rate": _share(self.to_human, self.received),
            "override_rate": _share(self.overrides, self.decided),
            "resolution_seconds_p50": percentile(self.resolution, 0.5),
            "queue_depth": self.queue_depth,
        }


@dataclass(frozen=True)
class StoredFigures:
    """What the stored rollups hold for a window (its hours ``start``..``current``) and the
    window before it. Shared through the cache: copy before changing anything."""

    totals: Totals
    before: Totals
    series: dict[datetime, dict[str, Any]]  # a point per hour; hours not rolled are empty
    queue_flow: dict[int, tuple[int, int]]  # queue -> (arrivals, completions)
    reviewers: dict[int, dict[str, Any]]  # reviewer -> REVIEWER_VALUES sums and "buckets"


def stored_figures(
    rolled: RolledHours,
    *,
    start: datetime,
    current: datetime,
    hours: int,
    case_type_id: int | None,
) -> StoredFigures:
    """Read the stored rows: every hour of the window (the series needs each); for the
    window before (only its totals count) and for the reviewer table, day rows where whole
    rolled days fit and hour rows around them. Six queries, whatever the window."""
    before_start, before_last = start - hours * HOUR, start - HOUR
    days = sorted(
        RolledDay.objects.filter(day__gte=before_start, day__lte=current - 23 * HOUR).values_list(
            "day", flat=True
        )
    )
    only = Q() if case_type_id is None else Q(case_type_id=case_type_id)

    series = {start + n * HOUR: _HourFigures() for n in range(hours)}
    totals = Totals()
    window_rows = CaseTypeHour.objects.filter(only, rolled.within(start, current))
    for hour, *values in window_rows.values_list("hour", *CASE_TYPE_VALUES):
        totals.add_values(values)
        point = series[hour]
        point.received += values[0]
        point.to_human += values[2]
        point.decided += values[3]
        point.overrides += values[4]
        _merge_into(point.resolution, values[11])

    before = Totals()
    before_days = _days_within(days, rolled, before_start, before_last)
    for values in (
        CaseTypeDay.objects.filter(only, day__in=before_days)
        .values_list(*CASE_TYPE_VALUES)
        .union(
            CaseTypeHour.objects.filter(
                only, _hours_outside(rolled, before_start, before_last, before_days)
            ).values_list(*CASE_TYPE_VALUES),
            all=True,
        )
    ):
        before.add_values(values)

    stored_queues = QueueHour.objects.filter(rolled.within(start, current))
    for hour, depth in (
        stored_queues.values("hour").annotate(depth=Sum("depth_end")).values_list("hour", "depth")
    ):
        series[hour].queue_depth += depth
    queue_flow = {
        queue_id: (arrivals, completions)
        for queue_id, arrivals, completions in stored_queues.values("queue_id")
        .annotate(arrivals=Sum("arrivals"), completions=Sum("completions"))
        .values_list("queue_id", "arrivals", "completions")
    }

    reviewers: dict[int, dict[str, Any]] = {}
    window_days = _days_within(days, rolled, start, current)
    columns = ("reviewer_id", *REVIEWER_VALUES, "seconds_buckets")
    for reviewer_id, *counts, buckets in (
        ReviewerDay.objects.filter(day__in=window_days)
        .values_list(*columns)
        .union(
            ReviewerHour.objects.filter(
                _hours_outside(rolled, start, current, window_days)
            ).values_list(*columns),
            all=True,
        )
    ):
        _reviewer_add(reviewers, reviewer_id, counts, buckets)

    return StoredFigures(
        totals=totals,
        before=before,
        series={hour: point.point(hour) for hour, point in series.items()},
        queue_flow=queue_flow,
        reviewers=reviewers,
    )


def _reviewer_add(
    per: dict[int, dict[str, Any]], reviewer_id: int, counts: Sequence[int], buckets: list[int]
) -> None:
    slot = per.get(reviewer_id)
    if slot is None:
        slot = per[reviewer_id] = {name: 0 for name in REVIEWER_VALUES} | {"buckets": []}
    for name, count in zip(REVIEWER_VALUES, counts, strict=True):
        slot[name] += count
    _merge_into(slot["buckets"], buckets)


def _computed_hours(
    rolled: RolledHours, first: datetime, last: datetime
) -> list[tuple[datetime, HourRollup]]:
    """Rollups computed on read for the hours in [first, last] not rolled up, from the first
    case's hour on (earlier hours are empty): usually just the current hour."""
    every = (first + n * HOUR for n in range((last - first) // HOUR + 1))
    missing = [hour for hour in every if hour not in rolled]
    if not missing:
        return []
    start = first_case_hour()
    if start is None:
        return []
    return [(hour, compute_hour(hour)) for hour in missing if hour >= start]


# ---------------------------------------------------------------------------- the summary


def metrics_summary(
    *,
    window: str = "24h",
    case_type_id: int | None = None,
    now: datetime | None = None,
    reviewer_id: int | None = None,
) -> dict[str, Any]:
    """Headline figures for the window, the same figures for the window before it (trend),
    per-queue and per-reviewer tables, and an hourly series for charts.

    Stored rollups are read once per window, case type and hour in each process (until an
    hour in the two windows is rolled again: see ``metrics.cache``); hours not rolled up yet
    (the current one, mostly) are computed from the raw tables on every read."""
    now = now or timezone.now()
    hours = WINDOWS[window]
    current = hour_floor(now)
    start = current - (hours - 1) * HOUR
    rolled = rolled_hours(start - hours * HOUR, current)
    key = ("summary", hours, case_type_id, current)
    stored: StoredFigures | None = stored_get(key, rolled)
    if stored is None:
        stored = stored_figures(
            rolled, start=start, current=current, hours=hours, case_type_id=case_type_id
        )
        stored_put(key, rolled, stored)

    totals, before = stored.totals.copy(), stored.before.copy()
    series = dict(stored.series)
    queue_flow = {
        queue_id: {"arrivals": arrivals, "completions": completions}
        for queue_id, (arrivals, completions) in stored.queue_flow.items()
    }
    per_reviewer = {
        reviewer_id: {**sums, "buckets": list(sums["buckets"])}
        for reviewer_id, sums in stored.reviewers.items()
    }
    for hour, rollup in _computed_hours(rolled, start - hours * HOUR, current):
        if hour < start:
            for ct_id, row in rollup.case_types.items():
                if case_type_id is None or ct_id == case_type_id:
                    before.add(row)
            continue
        point = _HourFigures()
        for ct_id, row in rollup.case_types.items():
            if case_type_id is None or ct_id == case_type_id:
                totals.add(row)
                for name in SERIES_COUNTERS:
                    setattr(point, name, getattr(point, name) + getattr(row, name))
                _merge_into(point.resolution, row.resolution_buckets)
        for queue_id, queue_row in rollup.queues.items():
            point.queue_depth += queue_row.depth_end
            flow = queue_flow.setdefault(queue_id, {"arrivals": 0, "completions": 0})
            flow["arrivals"] += queue_row.arrivals
            flow["completions"] += queue_row.completions
        series[hour] = point.point(hour)
        for reviewer, row in rollup.reviewers.items():
            counts = [getattr(row, name) for name in REVIEWER_VALUES]
            _reviewer_add(per_reviewer, reviewer, counts, row.seconds_buckets)

    slugs = dict(Queue.objects.values_list("pk", "slug"))
    queues = _queues_now(now)
    by_slug = {slugs[k]: v for k, v in queue_flow.items() if k in slugs}
    for queue in queues:
        flow = by_slug.get(queue["queue"], {"arrivals": 0, "completions": 0})
        queue["arrivals_per_hour"] = flow["arrivals"] / hours
        queue["completions_per_hour"] = flow["completions"] / hours

    reviewers = _reviewers(per_reviewer, hours)
    if reviewer_id is not None:
        reviewers = [r for r in reviewers if r["reviewer_id"] == reviewer_id]
    return {
        "window": window,
        "from": start.isoformat(),
        "until": now.isoformat(),
        "figures": _figures(totals, hours),
        "previous": _figures(before, hours),
        "sla_at_risk_now": sum(q["at_risk"] for q in queues),
        "queues": queues,
        "reviewers": reviewers,
        "series": [dict(series[hour]) for hour in sorted(series)],
    }
