"""Every write in routing: policy drafts, publishing, queue permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from cases.auditing import acting_as, audit_event_record, audited_transaction
from cases.errors import Conflict, InvalidInput
from cases.models import CaseType
from routing.models import POLICY_CONFIG_FIELDS, PolicyVersion, Queue, RoutingPolicy
from routing.validators import policy_config_errors

WORK_QUEUE = "routing.work_queue"


def _policy_for(case_type: CaseType | None) -> RoutingPolicy:
    if case_type is None:
        policy, _ = RoutingPolicy.objects.get_or_create(is_default=True, case_type=None)
    else:
        policy, _ = RoutingPolicy.objects.get_or_create(case_type=case_type)
    return policy


def _validated(version: PolicyVersion) -> None:
    known = set(Queue.objects.values_list("slug", flat=True))
    errors = policy_config_errors(version.config(), known_queues=known)
    if errors:
        raise InvalidInput("The policy configuration is invalid.", fields=errors)


@audited_transaction()
def policy_draft_create(
    *,
    actor: User | None,
    case_type: CaseType | None,
    values: Mapping[str, Any],
    note: str = "",
) -> PolicyVersion:
    """A draft for a case type's policy (or the default). Fields not given are taken from
    the version in force, so a draft can change just one threshold."""
    policy = _policy_for(case_type)
    base = policy.current_version.config() if policy.current_version else PolicyVersion().config()
    config = {**base, **{k: v for k, v in values.items() if k in POLICY_CONFIG_FIELDS}}
    version = PolicyVersion(policy=policy, created_by=actor, note=note, **config)
    _validated(version)
    version.save()
    return version


@audited_transaction()
def policy_draft_update(
    *,
    version: PolicyVersion,
    actor: User | None,
    values: Mapping[str, Any],
    note: str | None = None,
) -> PolicyVersion:
    if version.is_published:
        raise Conflict("A published version cannot be edited; create a new draft.")
    for key, value in values.items():
        if key in POLICY_CONFIG_FIELDS:
            setattr(version, key, value)
    if note is not None:
        version.note = note
    _validated(version)
    version.save()
    return version


def _changes(previous: PolicyVersion | None, version: PolicyVersion) -> dict[str, Any]:
    if previous is None:
        return {"created": True}
    old, new = previous.config(), version.config()
    return {name: {"from": old[name], "to": new[name]} for name in old if old[name] != new[name]}


@audited_transaction()
def policy_publish(*, version: PolicyVersion, actor: User | None) -> PolicyVersion:
    """Make a draft the version in force. It is numbered and frozen from now on; cases
    already routed keep pointing at the version that routed them."""
    policy = RoutingPolicy.objects.select_for_update().get(pk=version.policy_id)
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if version.is_published:
        raise Conflict(f"Version {version.number} is already published.")
    _validated(version)
    previous = policy.current_version
    last = PolicyVersion.objects.filter(policy=policy).aggregate(n=Max("number"))["n"] or 0
    version.number = last + 1
    version.published_at = timezone.now()
    version.published_by = actor
    version.changes = _changes(previous, version)
    with acting_as(actor):
        version.save(update_fields=["number", "published_at", "published_by", "changes"])
        policy.current_version = version
        policy.save(update_fields=["current_version"])
    audit_event_record(
        kind="policy.published",
        actor=actor,
        reason=version.note,
        data={
            "policy": policy.key,
            "policy_version": version.number,
            "policy_version_id": version.pk,
            "previous_version_id": previous.pk if previous else None,
            "changes": version.changes,
        },
    )
    return version


@audited_transaction()
def policy_edit_and_publish(
    *, actor: User | None, case_type: CaseType | None, values: Mapping[str, Any], note: str = ""
) -> PolicyVersion:
    """Editing a policy in admin: a new version, published at once."""
    draft = policy_draft_create(actor=actor, case_type=case_type, values=values, note=note)
    return policy_publish(version=draft, actor=actor)


def queue_role_sync(*, queue: Queue, previous_role: Group | None, actor: User | None) -> None:
    """Keep the object permission of the queue's role group in step with ``queue.role``."""
    with acting_as(actor):
        if previous_role is not None and previous_role != queue.role:
            remove_perm(WORK_QUEUE, previous_role, queue)
        if queue.role is not None:
            assign_perm(WORK_QUEUE, queue.role, queue)


@audited_transaction()
def queue_save(*, queue: Queue, actor: User | None) -> Queue:
    try:
        queue.full_clean()
    except ValidationError as exc:
        raise InvalidInput("The queue is invalid.", fields=exc.message_dict) from None
    previous_role = None
    if queue.pk is not None:
        previous_role = Queue.objects.get(pk=queue.pk).role
    with acting_as(actor):
        queue.save()
    queue_role_sync(queue=queue, previous_role=previous_role, actor=actor)
    return queue
