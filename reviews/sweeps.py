"""The SLA sweep: what happens to waiting cases without anyone clicking.

Run every minute by django-q2 (and safe to run on several workers at once: every row it
changes is taken with FOR UPDATE SKIP LOCKED and marked in the same transaction, so a second
sweep neither waits nor repeats the work).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cases.auditing import audit_event_record, audited_transaction
from cases.models import CaseStatus
from cases.roles import Role
from cases.services import case_transition
from reviews.models import Notification
from reviews.services import _enqueue, _expire_leases
from routing.models import EntryKind, EntryState, Queue, QueueEntry, QueueKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    leases_expired: int
    at_risk: int
    breached: int
    escalated: int


def _at_risk(now: datetime, limit: int) -> int:
    entries = list(
        QueueEntry.objects.filter(
            state=EntryState.OPEN,
            warned_at__isnull=True,
            sla_warn_at__lte=now,
            sla_due_at__gt=now,
        )
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("case", "queue")
        .order_by("sla_warn_at")[:limit]
    )
    for entry in entries:
        QueueEntry.objects.filter(pk=entry.pk).update(fast_tracked=True, warned_at=now)
        audit_event_record(
            kind="sla.at_risk",
            actor=None,
            case=entry.case,
            reason=f"SLA due {entry.sla_due_at:%Y-%m-%d %H:%M %Z} and not yet claimed: "
            "moved to the front of its queue",
            data={
                "queue": entry.queue.slug,
                "entry": entry.pk,
                "sla_due_at": entry.sla_due_at.isoformat(),
            },
        )
    return len(entries)


def _breach_target(queue: Queue) -> Queue | None:
    if queue.breach_to_id is not None and queue.breach_to and queue.breach_to.is_active:
        return queue.breach_to
    if queue.kind == QueueKind.SUPERVISOR:
        return None
    return Queue.objects.filter(kind=QueueKind.SUPERVISOR, is_active=True).order_by("id").first()


def _supervisors_of(queue: Queue) -> list[User]:
    from guardian.shortcuts import get_users_with_perms

    people: QuerySet[User] = get_users_with_perms(  # type: ignore[assignment]
        queue, only_with_perms_in=["work_queue"], with_group_users=True
    )
    return list(
        people.filter(Q(groups__name=Role.SUPERVISOR) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("id")
    )


def _breached(now: datetime, limit: int) -> tuple[int, int]:
    entries = list(
        QueueEntry.objects.filter(
            state__in=[EntryState.OPEN, EntryState.CLAIMED],
            breached_at__isnull=True,
            sla_due_at__lte=now,
        )
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("case__source", "case__case_type", "queue__breach_to", "claimed_by")
        .order_by("sla_due_at")[:limit]
    )
    escalated = 0
    notifications: list[Notification] = []
    for entry in entries:
        case = entry.case
        target = _breach_target(entry.queue) if entry.state == EntryState.OPEN else None
        QueueEntry.objects.filter(pk=entry.pk).update(
            breached_at=now, warned_at=entry.warned_at or now
        )
        entry.breached_at = now
        if target is not None:
            QueueEntry.objects.filter(pk=entry.pk).update(state=EntryState.MOVED, closed_at=now)
            _enqueue(case, target, like=entry, escalated=True)
            if entry.kind == EntryKind.REVIEW and case.status == CaseStatus.PENDING_REVIEW:
                case_transition(case=case, to=CaseStatus.ESCALATED)
            escalated += 1
            reason = (
                f"SLA breached at {entry.sla_due_at:%Y-%m-%d %H:%M %Z}: moved from "
                f"{entry.queue.slug} to {target.slug}"
            )
        elif entry.state == EntryState.CLAIMED:
            holder = entry.claimed_by.get_username() if entry.claimed_by else "?"
            reason = f"SLA breached while {holder} holds the case"
        else:
            reason = "SLA breached; no queue to escalate to"
        audit_event_record(
            kind="sla.breached",
            actor=None,
            case=case,
            reason=reason,
            data={
                "queue": entry.queue.slug,
                "entry": entry.pk,
                "escalated_to": target.slug if target else None,
                "sla_due_at": entry.sla_due_at.isoformat(),
            },
        )
        for person in _supervisors_of(target or entry.queue):
            notifications.append(
                Notification(
                    user=person,
                    kind="sla.breached",
                    case=case,
                    message=f"Case {case.external_id} ({case.case_type.slug}) breached its SLA. "
                    f"{reason}.",
                )
            )
    created = Notification.objects.bulk_create(notifications)
    if created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: _email_later(ids))
    return len(entries), escalated


def _email_later(notification_ids: list[int]) -> None:
    from django_q.tasks import async_task

    try:
        async_task("reviews.tasks.notifications_email", notification_ids)
    except Exception:  # noqa: BLE001 - the in-app notification stands on its own
        logger.exception("Could not queue e-mail for notifications %s", notification_ids)


@audited_transaction()
def sla_sweep(*, now: datetime | None = None, limit: int = 500) -> SweepResult:
    now = now or timezone.now()
    leases = _expire_leases(queue=None, now=now, limit=limit)
    at_risk = _at_risk(now, limit)
    breached, escalated = _breached(now, limit)
    if leases or at_risk or breached:
        logger.info(
            "SLA sweep: %s leases expired, %s at risk, %s breached (%s escalated)",
            leases,
            at_risk,
            breached,
            escalated,
        )
    return SweepResult(leases, at_risk, breached, escalated)


def notifications_email(*, notification_ids: list[int]) -> int:
    """Send the e-mail for in-app notifications (one message per notification)."""
    from django.core.mail import send_mail

    sent = 0
    for note in Notification.objects.filter(pk__in=notification_ids).select_related("user"):
        if not note.user.email:
            continue
        sent += send_mail(
            subject=f"[Loopgate] {note.kind}",
            message=note.message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[note.user.email],
            fail_silently=False,
        )
    return sent
