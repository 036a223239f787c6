"""Hourly rollups of the loop, and alerting. Rollups are derived data: a rollup row for an
hour can always be recomputed from the cases, entries, decisions and events of that hour."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from cases.models import CaseType
from routing.models import Queue


def empty_buckets() -> list[int]:
    return []


class CaseTypeCounts(models.Model):
    """What a case type's rollup row holds, for an hour or a day (the same fields, so a day
    row is the sum of its hours' rows)."""

    received = models.PositiveIntegerField(default=0)
    auto_approved = models.PositiveIntegerField(default=0)
    to_human = models.PositiveIntegerField(default=0)
    decided = models.PositiveIntegerField(default=0, help_text="Final human outcomes.")
    overrides = models.PositiveIntegerField(default=0, help_text="Of those, rejected or edited.")
    within_sla = models.PositiveIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    audit_judged = models.PositiveIntegerField(default=0)
    audit_disagreed = models.PositiveIntegerField(default=0)
    validations = models.PositiveIntegerField(default=0, help_text="Second reviews, supervisor.")
    contradicted = models.PositiveIntegerField(default=0)
    # Log2 histograms of seconds (bucket i holds [2**(i-1), 2**i)), so percentiles of any
    # window can be read off summed hours.
    resolution_buckets = models.JSONField(default=empty_buckets)
    wait_buckets = models.JSONField(default=empty_buckets)

    class Meta:
        abstract = True


class CaseTypeHour(CaseTypeCounts):
    hour = models.DateTimeField()
    case_type = models.ForeignKey(CaseType, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "case_type"], name="casetypehour_unique")
        ]
        indexes = [models.Index(fields=["hour"], name="casetypehour_hour")]

    def __str__(self) -> str:
        return f"{self.case_type_id} @ {self.hour:%Y-%m-%d %H}:00"


class QueueHour(models.Model):
    hour = models.DateTimeField()
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    arrivals = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)
    depth_end = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "queue"], name="queuehour_unique")]
        indexes = [models.Index(fields=["hour"], name="queuehour_hour")]

    def __str__(self) -> str:
        return f"{self.queue_id} @ {self.hour:%Y-%m-%d %H}:00"


class ReviewerCounts(models.Model):
    """What a reviewer's rollup row holds, for an hour or a day."""

    decisions = models.PositiveIntegerField(default=0)
    approvals = models.PositiveIntegerField(default=0)
    overrides = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    second_reviews = models.PositiveIntegerField(default=0)
    agreed = models.PositiveIntegerField(
        default=0, help_text="Second reviews agreeing with the first."
    )
    seconds_buckets = models.JSONField(default=empty_buckets)

    class Meta:
        abstract = True


class ReviewerHour(ReviewerCounts):
    hour = models.DateTimeField()
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "reviewer"], name="reviewerhour_unique")
        ]
        indexes = [models.Index(fields=["hour"], name="reviewerhour_hour")]

    def __str__(self) -> str:
        return f"{self.reviewer_id} @ {self.hour:%Y-%m-%d %H}:00"


class RolledHour(models.Model):
    """Which hours have been rolled up (an hour is rolled once it is over)."""

    hour = models.DateTimeField(unique=True)
    rolled_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00"


# Day rollups: the sum of a UTC day's 24 hourly rows, so long windows read about one row per
# day instead of 24 (hours are still read where a window cuts a day). A day is rolled, from
# its stored hours, once all 24 of them are; re-rolling any of its hours rolls it again in
# the same transaction, so a day row always equals the sum of its hours. Queues need no day
# table: their counters are summed in SQL and their depth is per hour.


class CaseTypeDay(CaseTypeCounts):
    day = models.DateTimeField(help_text="Midnight UTC.")
    case_type = models.ForeignKey(CaseType, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "case_type"], name="casetypeday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.case_type_id} @ {self.day:%Y-%m-%d}"


class ReviewerDay(ReviewerCounts):
    day = models.DateTimeField(help_text="Midnight UTC.")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "reviewer"], name="reviewerday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} @ {self.day:%Y-%m-%d}"


class RolledDay(models.Model):
    """Which days have been rolled up from their 24 stored hours."""

    day = models.DateTimeField(unique=True)
    rolled_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d}"


class AlertMetric(models.TextChoices):
    ESCALATION_SPIKE = "escalation_spike", "Escalation rate up vs its 7-day baseline"
    RESOLUTION_SLOWDOWN = "resolution_slowdown", "Human resolution time up vs its baseline"
    QUEUE_GROWTH = "queue_growth", "Queue arrivals outpace completions for N hours"
    SLA_BREACHES = "sla_breaches", "SLA breaches in the last hour above a count"
    OVERRIDE_BAND = "override_band", "Override rate outside its band"
    AUDIT_ERROR = "audit_error", "Audit-sample error estimate above the target"


class AlertRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=30, choices=AlertMetric.choices)
    case_type = models.ForeignKey(
        CaseType,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Empty: all case types.",
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.CASCADE, help_text="For queue growth."
    )
    threshold = models.FloatField(
        help_text="Spike: relative rise (0.2 = +20%); slowdown: factor (2 = doubled); queue "
        "growth: hours; breaches: count; override band: upper share (lower in "
        "threshold_low); audit error: error rate."
    )
    threshold_low = models.FloatField(null=True, blank=True)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    notify_email = models.TextField(blank=True, help_text="Comma-separated addresses.")
    notify_webhook = models.URLField(blank=True, help_text="Slack-compatible incoming webhook.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    fired_at = models.DateTimeField()
    value = models.FloatField()
    message = models.TextField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at"]
        indexes = [
            models.Index(fields=["rule", "-fired_at"], name="alert_rule_recent"),
            models.Index(
                fields=["fired_at"], name="alert_open", condition=Q(acknowledged_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"
