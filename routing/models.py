from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from cases.errors import ImmutableRecord
from cases.models import Case, CaseType, Priority


class QueueKind(models.TextChoices):
    GENERALIST = "generalist", "Generalist"
    EXPERT = "expert", "Expert"
    FAST_TRACK = "fast_track", "Fast track"
    AUDIT = "audit", "Audit"
    SUPERVISOR = "supervisor", "Supervisor"
    OTHER = "other", "Other"


class QueueOrdering(models.TextChoices):
    STANDARD = "standard", "Fast-track, SLA deadline, priority, lowest confidence"
    UNCERTAINTY = "uncertainty", "Active learning: closest to a decision threshold first"


class Queue(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=QueueKind.choices, default=QueueKind.OTHER)
    role = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="queues",
        help_text="Members of this group may work the queue (more grants: object permissions).",
    )
    ordering = models.CharField(
        max_length=20,
        choices=QueueOrdering.choices,
        default=QueueOrdering.STANDARD,
        help_text="Uncertainty ordering puts the most informative cases first.",
    )
    lease_minutes = models.PositiveIntegerField(
        default=15, help_text="How long a claim lasts before the case returns to the queue."
    )
    sla_minutes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Optional SLA per priority for this queue, e.g. {"urgent": 10}. The tighter '
        "of this and the policy's SLA applies.",
    )
    escalates_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where escalated and SLA-breached cases go next.",
    )
    breach_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where waiting cases go when their SLA is breached (default: the supervisor "
        "queue).",
    )
    business_hours = models.JSONField(
        null=True,
        blank=True,
        help_text='Optional working time for SLA clocks, e.g. {"timezone": "Europe/Berlin", '
        '"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00", "holidays": ["2026-12-25"]}. '
        "Empty: the clock always runs.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("work_queue", "Can claim and decide cases in this queue")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from routing.business_hours import business_hours_errors
        from routing.validators import sla_minutes_errors

        problems: dict[str, list[str]] = {}
        if errors := sla_minutes_errors(self.sla_minutes, partial=True):
            problems["sla_minutes"] = errors
        if errors := business_hours_errors(self.business_hours):
            problems["business_hours"] = errors
        if problems:
            raise ValidationError(problems)


class EntryKind(models.TextChoices):
    REVIEW = "review", "Review"
    AUDIT = "audit", "Audit sample"


class EntryState(models.TextChoices):
    OPEN = "open", "Waiting"
    CLAIMED = "claimed", "Claimed"
    DONE = "done", "Done"
    MOVED = "moved", "Moved to another queue"


class QueueEntryQuerySet(models.QuerySet["QueueEntry"]):
    def open(self) -> QueueEntryQuerySet:
        return self.filter(state=EntryState.OPEN)

    def in_queue(self, queue: Queue) -> QueueEntryQuerySet:
        return self.filter(queue=queue)

    def in_claim_order(self, ordering: str = "standard") -> QueueEntryQuerySet:
        return self.order_by(*(UNCERTAINTY_ORDER if ordering == "uncertainty" else CLAIM_ORDER))


# The order a queue is worked in: fast-tracked first, then the earliest SLA deadline, then the
# highest priority, then the most uncertain (lowest confidence). The claim index matches it.
CLAIM_ORDER = (
    F("fast_tracked").desc(),
    F("sla_due_at").asc(),
    F("priority_rank").desc(),
    F("confidence").asc(),
    F("id").asc(),
)
# Active learning: fast-tracked first, then the cases the model is least sure about.
UNCERTAINTY_ORDER = (
    F("fast_tracked").desc(),
    F("uncertainty").asc(),
    F("sla_due_at").asc(),
    F("id").asc(),
)


class QueueEntry(models.Model):
    """A case waiting in (or claimed from) a queue. A case has at most one live review entry;
    an auto-approved case sampled for audit has an audit entry."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="queue_entries")
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=EntryKind.choices, default=EntryKind.REVIEW)
    escalated = models.BooleanField(
        default=False, help_text="Put here by an escalation (or a disagreement)."
    )
    state = models.CharField(max_length=10, choices=EntryState.choices, default=EntryState.OPEN)
    # Copies of the case's ordering keys, so the claim reads one index of one table.
    fast_tracked = models.BooleanField(default=False)
    sla_due_at = models.DateTimeField()
    sla_warn_at = models.DateTimeField(
        null=True, blank=True, help_text="When the case counts as at risk of breaching its SLA."
    )
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    priority_rank = models.PositiveSmallIntegerField(default=1)
    confidence = models.FloatField()
    uncertainty = models.FloatField(
        default=1.0, help_text="Distance of the confidence from the nearest policy threshold."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_entries",
        db_index=False,  # a partial index in Meta: waiting entries have no one
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = QueueEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "queue entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=EntryState.values), name="queueentry_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=EntryState.CLAIMED)
                | (Q(claimed_by__isnull=False) & Q(lease_expires_at__isnull=False)),
                name="queueentry_claim_has_owner_and_lease",
            ),
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=Q(state__in=[EntryState.OPEN, EntryState.CLAIMED]),
                name="queueentry_one_live_entry_per_case_and_kind",
            ),
            models.UniqueConstraint(
                fields=["queue", "claimed_by"],
                condition=Q(state=EntryState.CLAIMED),
                name="queueentry_one_claim_per_reviewer_and_queue",
            ),
        ]
        indexes = [
            # Who claimed what (the claims themselves are found through the one-claim-per-
            # reviewer constraint's index). Partial: every waiting entry would be a NULL in it.
            models.Index(
                fields=["claimed_by"],
                name="queueentry_claimed_by",
                condition=Q(claimed_by__isnull=False),
            ),
            models.Index(
                "queue",
                *CLAIM_ORDER,
                name="queueentry_claim_order",
                condition=Q(state=EntryState.OPEN),
            ),
            models.Index(
                "queue",
                *UNCERTAINTY_ORDER,
                name="queueentry_uncertainty_order",
                condition=Q(state=EntryState.OPEN),
            ),
            models.Index(fields=["created_at"], name="queueentry_created"),
            # The oldest waiting entry of a queue ("My queues"), read from the first row.
            models.Index(
                fields=["queue", "created_at"],
                name="queueentry_open_age",
                condition=Q(state=EntryState.OPEN),
            ),
            models.Index(
                fields=["closed_at"],
                name="queueentry_closed",
                condition=Q(closed_at__isnull=False),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="queueentry_lease_expiry",
                condition=Q(state=EntryState.CLAIMED),
            ),
            models.Index(
                fields=["sla_due_at"],
                name="queueentry_sla_unbreached",
                condition=Q(state__in=[EntryState.OPEN, EntryState.CLAIMED])
                & Q(breached_at__isnull=True),
            ),
            models.Index(
                fields=["sla_warn_at"],
                name="queueentry_sla_unwarned",
                condition=Q(state=EntryState.OPEN) & Q(warned_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} in {self.queue_id} ({self.state})"


class PolicyMode(models.TextChoices):
    VALIDATOR = "validator", "Validator: every case goes to a human"
    EXCEPTION = "exception", "Exception: thresholds decide who reviews"
    TEACHER = "teacher", "Teacher: everything auto-executes, a sample is reviewed"


def default_sla_minutes() -> dict[str, int]:
    return {
        Priority.LOW: 1440,
        Priority.NORMAL: 240,
        Priority.HIGH: 60,
        Priority.URGENT: 15,
    }


def default_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "urgent-fast-track",
            "when": {"field": "priority", "op": "eq", "value": "urgent"},
            "then": {"route_to": "fast-track"},
        }
    ]


class RoutingPolicy(models.Model):
    """The routing policy of one case type, or the default (no case type). Its configuration
    lives in immutable versions; ``current_version`` is the published one in force."""

    case_type = models.OneToOneField(
        CaseType,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_policy",
        help_text="Leave empty for the default policy, used by case types without their own.",
    )
    current_version = models.ForeignKey(
        "PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "routing policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(is_default=True, case_type__isnull=True)
                | Q(is_default=False, case_type__isnull=False),
                name="routingpolicy_default_has_no_case_type",
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="routingpolicy_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"Policy for {self.case_type.slug}" if self.case_type else "Default policy"

    @property
    def key(self) -> str:
        return self.case_type.slug if self.case_type else "default"


POLICY_CONFIG_FIELDS = (
    "mode",
    "auto_approve_threshold",
    "expert_threshold",
    "audit_sample_rate",
    "high_risk_tags",
    "rules",
    "required_reviews",
    "sla_minutes",
    "fast_track_window_minutes",
    "generalist_queue",
    "expert_queue",
    "fast_track_queue",
    "audit_queue",
)


class PolicyVersion(models.Model):
    """One version of a policy's configuration. A draft can be edited and simulated;
    once published it never changes, and routed cases point at it."""

    policy = models.ForeignKey(RoutingPolicy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Assigned when published."
    )
    mode = models.CharField(max_length=10, choices=PolicyMode.choices, default=PolicyMode.EXCEPTION)
    auto_approve_threshold = models.FloatField(default=0.95)
    expert_threshold = models.FloatField(default=0.70)
    audit_sample_rate = models.FloatField(default=0.05)
    high_risk_tags = models.JSONField(default=list, blank=True)
    rules = models.JSONField(default=default_rules, blank=True)
    required_reviews = models.PositiveSmallIntegerField(default=1)
    sla_minutes = models.JSONField(default=default_sla_minutes)
    fast_track_window_minutes = models.PositiveIntegerField(
        default=30, help_text="Cases due within this many minutes (inclusive) are fast-tracked."
    )
    generalist_queue = models.SlugField(max_length=64, default="generalist")
    expert_queue = models.SlugField(max_length=64, default="expert")
    fast_track_queue = models.SlugField(max_length=64, default="fast-track", blank=True)
    audit_queue = models.SlugField(max_length=64, default="audit", blank=True)
    note = models.TextField(blank=True, help_text="Why this version exists.")
    changes = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "number"], name="policyversion_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(auto_approve_threshold__gte=0) & Q(auto_approve_threshold__lte=1),
                name="policyversion_auto_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(expert_threshold__gte=0)
                & Q(expert_threshold__lte=F("auto_approve_threshold")),
                name="policyversion_expert_below_auto",
            ),
            models.CheckConstraint(
                condition=Q(audit_sample_rate__gte=0) & Q(audit_sample_rate__lte=1),
                name="policyversion_sample_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(required_reviews__gte=1) & Q(required_reviews__lte=5),
                name="policyversion_required_reviews_range",
            ),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | Q(number__isnull=False),
                name="policyversion_published_has_number",
            ),
        ]

    def __str__(self) -> str:
        label = f"v{self.number}" if self.number else f"draft #{self.pk}"
        return f"{self.policy} {label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if (
            self.pk is not None
            and PolicyVersion.objects.filter(pk=self.pk, published_at__isnull=False).exists()
        ):
            raise ImmutableRecord("A published policy version cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in POLICY_CONFIG_FIELDS}

    def clean(self) -> None:
        from routing.validators import policy_config_errors

        known_queues = set(Queue.objects.values_list("slug", flat=True))
        errors = policy_config_errors(self.config(), known_queues=known_queues)
        if errors:
            raise ValidationError(errors)
