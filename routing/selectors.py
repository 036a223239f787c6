"""Reads for routing: policies as snapshots the pure router takes, and queues."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from cases.config import cached_config
from cases.errors import NotFound
from routing.business_hours import BusinessHours
from routing.models import PolicyVersion, Queue, RoutingPolicy
from routing.router import PolicySnapshot

BUILT_IN_KEY = "built-in"


@dataclass(frozen=True)
class QueueClocks:
    """Per-queue SLA overrides and business hours, read in one query."""

    sla_minutes: dict[str, dict[str, int]]
    business_hours: dict[str, BusinessHours]


def queue_clocks() -> QueueClocks:
    sla: dict[str, dict[str, int]] = {}
    hours: dict[str, BusinessHours] = {}
    for slug, minutes, calendar in Queue.objects.values_list(
        "slug", "sla_minutes", "business_hours"
    ):
        if minutes:
            sla[slug] = dict(minutes)
        if calendar and (parsed := BusinessHours.from_config(calendar)) is not None:
            hours[slug] = parsed
    return QueueClocks(sla_minutes=sla, business_hours=hours)


def snapshot_of(version: PolicyVersion, *, clocks: QueueClocks | None = None) -> PolicySnapshot:
    policy = version.policy
    clocks = clocks or queue_clocks()
    return PolicySnapshot.from_config(
        version.config(),
        policy_key=policy.key,
        version_id=version.pk,
        number=version.number or 0,
        queue_sla_minutes=clocks.sla_minutes,
        queue_business_hours=clocks.business_hours,
        at_risk_share=settings.LOOPGATE_SLA_AT_RISK_SHARE,
    )


def built_in_snapshot(clocks: QueueClocks) -> PolicySnapshot:
    """The model defaults, for an installation whose default policy was never published."""
    return PolicySnapshot.from_config(
        PolicyVersion().config(),
        policy_key=BUILT_IN_KEY,
        version_id=None,
        number=0,
        queue_sla_minutes=clocks.sla_minutes,
        queue_business_hours=clocks.business_hours,
        at_risk_share=settings.LOOPGATE_SLA_AT_RISK_SHARE,
    )


def policy_snapshots_for(case_type_ids: Iterable[int]) -> dict[int | None, PolicySnapshot]:
    """The policy in force for each case type (key None: the default): every published
    policy, cached until the configuration changes (cases.config)."""
    share = settings.LOOPGATE_SLA_AT_RISK_SHARE
    return cached_config(f"policy-snapshots:{share}", _policy_snapshots)


def _policy_snapshots() -> dict[int | None, PolicySnapshot]:
    policies = RoutingPolicy.objects.filter(current_version__isnull=False).select_related(
        "current_version", "case_type"
    )
    clocks = queue_clocks()
    snapshots: dict[int | None, PolicySnapshot] = {}
    for policy in policies:
        version = policy.current_version
        assert version is not None
        version.policy = policy
        snapshots[policy.case_type_id] = snapshot_of(version, clocks=clocks)
    snapshots.setdefault(None, built_in_snapshot(clocks))
    return snapshots


def queue_ids_by_slug() -> dict[str, int]:
    return cached_config(
        "active-queue-ids",
        lambda: dict(Queue.objects.filter(is_active=True).values_list("slug", "id")),
    )


def policy_version_get(*, version_id: int) -> PolicyVersion:
    version = (
        PolicyVersion.objects.select_related("policy__case_type", "created_by", "published_by")
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        raise NotFound("No such policy version.")
    return version


def policy_version_list(*, case_type: str | None = None, status: str | None = None) -> Any:
    versions = PolicyVersion.objects.select_related(
        "policy__case_type", "created_by", "published_by"
    ).order_by("-created_at", "-id")
    if case_type == "default":
        versions = versions.filter(policy__is_default=True)
    elif case_type:
        versions = versions.filter(policy__case_type__slug=case_type)
    if status == "draft":
        versions = versions.filter(published_at__isnull=True)
    elif status == "published":
        versions = versions.filter(published_at__isnull=False)
    return versions


def queue_list() -> Any:
    return Queue.objects.select_related("role", "escalates_to").order_by("slug")
