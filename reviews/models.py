from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from cases.errors import ImmutableRecord
from cases.models import Case
from routing.models import Queue, QueueEntry


class Action(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    EDIT = "edit", "Edit"
    ESCALATE = "escalate", "Escalate"
    COMPARE = "compare", "Compare (pairwise)"


VERDICTS = (Action.APPROVE, Action.REJECT, Action.EDIT, Action.COMPARE)


class Stage(models.TextChoices):
    FIRST_REVIEW = "first_review", "First review"
    SECOND_REVIEW = "second_review", "Second review"
    AUDIT = "audit", "Audit"
    SUPERVISOR = "supervisor", "Supervisor"


class DecisionQuerySet(models.QuerySet["Decision"]):
    def verdicts(self) -> DecisionQuerySet:
        return self.filter(action__in=VERDICTS)

    def by(self, reviewer: Any) -> DecisionQuerySet:
        return self.filter(reviewer=reviewer)


class Decision(models.Model):
    """What one reviewer decided about one case at one stage. Immutable: there is no update
    or delete path in code, admin or API."""

    # case and reviewer: indexed as the first columns of decision_case and
    # decision_reviewer_recent (see Meta), not on their own as well.
    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    entry = models.ForeignKey(
        QueueEntry, null=True, on_delete=models.PROTECT, related_name="decisions"
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    role = models.CharField(max_length=20)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason_code = models.CharField(max_length=64, blank=True)
    comment = models.TextField(blank=True)
    final_output = models.JSONField(null=True, blank=True)
    diff = models.JSONField(default=list, blank=True)
    seconds_to_decide = models.FloatField()
    stage = models.CharField(max_length=20, choices=Stage.choices)
    agrees_with_auto = models.BooleanField(
        null=True, blank=True, help_text="Audit decisions: did the human agree with the machine?"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=Action.values), name="decision_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="decision_stage_valid"
            ),
            models.CheckConstraint(
                condition=~Q(action__in=[Action.REJECT, Action.EDIT, Action.ESCALATE])
                | ~Q(reason_code=""),
                name="decision_reason_required",
            ),
            models.CheckConstraint(
                condition=Q(seconds_to_decide__gte=0), name="decision_seconds_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "-created_at"], name="decision_reviewer_recent"),
            models.Index(fields=["case", "created_at"], name="decision_case"),
            models.Index(fields=["created_at"], name="decision_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.reviewer_id} on {self.case_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableRecord("Decisions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("Decisions are immutable.")


class Notification(models.Model):
    """An in-app message to one person (SLA breaches, reassignments)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    message = models.TextField()
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                name="notification_unread",
                condition=Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"
