from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from cases import validators
from cases.errors import IllegalTransition, ImmutableRecord


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    AUTO_APPROVED = "auto_approved", "Auto-approved"
    PENDING_REVIEW = "pending_review", "Pending review"
    IN_REVIEW = "in_review", "In review"
    ESCALATED = "escalated", "Escalated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EDITED = "edited", "Edited"


FINAL_STATUSES = frozenset(
    {CaseStatus.AUTO_APPROVED, CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.EDITED}
)
OPEN_STATUSES = frozenset({CaseStatus.PENDING_REVIEW, CaseStatus.ESCALATED})

# The case lifecycle. Every status change anywhere goes through check_transition().
TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.RECEIVED: frozenset({CaseStatus.AUTO_APPROVED, CaseStatus.PENDING_REVIEW}),
    CaseStatus.PENDING_REVIEW: frozenset({CaseStatus.IN_REVIEW, CaseStatus.ESCALATED}),
    CaseStatus.ESCALATED: frozenset({CaseStatus.IN_REVIEW}),
    CaseStatus.IN_REVIEW: frozenset(
        {
            CaseStatus.PENDING_REVIEW,  # released, lease expired, or waiting for a second review
            CaseStatus.ESCALATED,
            CaseStatus.APPROVED,
            CaseStatus.REJECTED,
            CaseStatus.EDITED,
        }
    ),
    CaseStatus.AUTO_APPROVED: frozenset(),
    CaseStatus.APPROVED: frozenset(),
    CaseStatus.REJECTED: frozenset(),
    CaseStatus.EDITED: frozenset(),
}


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"A case cannot go from {current!r} to {target!r}.")


class Source(models.Model):
    """A system that posts cases. Requests authenticate as its service user with an ApiToken."""

    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="source", editable=False
    )
    is_active = models.BooleanField(default=True)
    callback_url = models.URLField(blank=True, help_text="Where decision webhooks are sent.")
    signing_secret = models.CharField(
        max_length=128, blank=True, help_text="HMAC-SHA256 key for webhook signatures."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer credential for a person or a source's service user. Only a SHA-256 of the
    key is stored; the key itself is shown once, when it is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="Start of the key.")
    scopes = models.JSONField(
        default=list, blank=True, help_text='Extra powers of this token, e.g. ["feedback"].'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CaseTypeKind(models.TextChoices):
    STANDARD = "standard", "Standard: one model output to approve, reject or edit"
    PAIRWISE = "pairwise", "Pairwise: compare two or more candidate outputs"


class CaseType(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=10,
        choices=CaseTypeKind.choices,
        default=CaseTypeKind.STANDARD,
        help_text='Pairwise cases carry {"candidates": [{"id": "a", "output": ...}, ...]} as '
        "ai_output; reviewers pick the better one, rank them or call a tie.",
    )
    description = models.TextField(blank=True)
    reason_codes = models.JSONField(
        default=list,
        blank=True,
        validators=[validators.validate_reason_codes],
        help_text='Allowed decision reason codes, e.g. ["duplicate", "policy_violation"].',
    )
    input_schema = models.JSONField(
        null=True,
        blank=True,
        validators=[validators.validate_json_schema],
        help_text="Optional JSON Schema (2020-12) that every case's input must match.",
    )
    output_schema = models.JSONField(
        null=True,
        blank=True,
        validators=[validators.validate_json_schema],
        help_text="Optional JSON Schema (2020-12) that every case's ai_output must match.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ConfigStamp(models.Model):
    """One row whose ``stamp`` the database changes (by trigger) whenever case types, queues
    or routing policies change, however they change. Ingestion caches that configuration
    per process and reads only the stamp to know whether the cache still holds (see
    ``cases.config``)."""

    stamp = models.CharField(max_length=32)

    class Meta:
        verbose_name = "configuration stamp"

    def __str__(self) -> str:
        return self.stamp


class CaseQuerySet(models.QuerySet["Case"]):
    def for_source(self, source: Source) -> CaseQuerySet:
        return self.filter(source=source)

    def with_status(self, *statuses: str) -> CaseQuerySet:
        return self.filter(status__in=statuses)

    def final(self) -> CaseQuerySet:
        return self.filter(status__in=FINAL_STATUSES)


class Case(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on the two foreign keys: the composite indexes below start
    # with them, and every case written would keep two more indexes for nothing.
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    external_id = models.CharField(max_length=255)
    case_type = models.ForeignKey(
        CaseType, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    input = models.JSONField()
    ai_output = models.JSONField()
    confidence = models.FloatField()
    context = models.JSONField(default=list, blank=True)
    risk_tags = models.JSONField(default=list, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    due_at = models.DateTimeField(null=True, blank=True, help_text="The caller's deadline.")
    metadata = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the posted body (idempotency)."
    )
    status = models.CharField(
        max_length=20, choices=CaseStatus.choices, default=CaseStatus.RECEIVED
    )
    # Routing outcome, frozen at routing time so later policy edits never re-explain a case.
    routing = models.JSONField(null=True, blank=True, editable=False)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    fast_tracked = models.BooleanField(default=False)
    final_output = models.JSONField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The deciding human decision, frozen when the case reaches its outcome.
    decision = models.JSONField(null=True, blank=True, editable=False)
    redacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the personal payload was removed (retention)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_case", "Can decide this case (granted while claimed)")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="case_unique_external_id_per_source"
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="case_confidence_between_0_and_1",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CaseStatus.values), name="case_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=Priority.values), name="case_priority_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["source", "updated_at", "id"], name="case_source_updated"),
            models.Index(fields=["case_type", "created_at"], name="case_type_created"),
            # hourly metrics rollups read cases by arrival and by decision time
            models.Index(fields=["created_at"], name="case_created"),
            models.Index(
                fields=["decided_at"], name="case_decided", condition=Q(decided_at__isnull=False)
            ),
            models.Index(
                F("source"),
                KeyTextTransform("subject_id", "metadata"),
                name="case_source_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[Priority(self.priority)]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead"


class WebhookDelivery(models.Model):
    """The outbox: one decision webhook to one source, written in the same transaction as
    the outcome it reports and delivered (at least once) by a background task. The id is
    the idempotency key receivers see in ``X-Loopgate-Delivery``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="deliveries")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="deliveries")
    event = models.CharField(max_length=64, default="case.decided")
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_due",
                condition=Q(status=DeliveryStatus.PENDING),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} for {self.case_id} ({self.status})"


class AuditEvent(models.Model):
    """A named business event (``case.received``, ``case.routed`` ...) written by the service
    that caused it, in the same transaction. Append-only."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Indexed in Meta: a plain index (no LIKE index, nothing searches kinds by prefix), and
    # the foreign keys only as the first columns of (actor, seq) and (case, seq).
    kind = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(max_length=150, blank=True)
    case = models.ForeignKey(
        Case,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    # The tamper-evident chain: hash = SHA-256(prev_hash + canonical JSON of this record).
    seq = models.BigIntegerField(unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, default="", editable=False)
    hash = models.CharField(max_length=64, default="", editable=False)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["case", "seq"], name="auditevent_case"),
            models.Index(fields=["actor", "seq"], name="auditevent_actor"),
            models.Index(fields=["kind"], name="auditevent_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableRecord("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("Audit events are append-only.")
