"""Audit trail plumbing for the case domain: which models django-auditlog watches, and
the writers services use to record named business events in their own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from cases.models import AuditEvent, Case


def register_models() -> None:
    from auditlog.registry import auditlog
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from cases.models import CaseType, Source

    auditlog.register(Source, exclude_fields=["signing_secret"])
    auditlog.register(CaseType)
    auditlog.register(Group, m2m_fields={"permissions"})
    auditlog.register(
        get_user_model(),
        include_fields=["username", "is_active", "is_staff", "is_superuser"],
        m2m_fields={"groups"},
    )


@dataclass(frozen=True)
class EventSpec:
    kind: str
    case: Case | None = None
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _actor_fields(actor: User | None) -> dict[str, Any]:
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    return {"actor": actor, "actor_label": actor.get_username()}


def audit_event_record(
    *,
    kind: str,
    actor: User | None,
    case: Case | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=kind, case=case, reason=reason, data=data or {}, **_actor_fields(actor)
    )


def audit_events_record_many(
    *, actor: User | None, events: Iterable[EventSpec]
) -> list[AuditEvent]:
    """One INSERT for many events (bulk ingestion)."""
    now = timezone.now()
    actor_fields = _actor_fields(actor)
    rows = [
        AuditEvent(
            kind=spec.kind,
            case=spec.case,
            reason=spec.reason,
            data=spec.data,
            occurred_at=now,
            **actor_fields,
        )
        for spec in events
    ]
    return AuditEvent.objects.bulk_create(rows, batch_size=1000)
