"""Policy drafts and publishing: versions are numbered, frozen and audited."""

from __future__ import annotations

import pytest
from guardian.shortcuts import get_groups_with_perms

from cases.errors import Conflict, ImmutableRecord, InvalidInput
from cases.models import AuditEvent
from cases.roles import Role, role_group
from cases.tests.factories import CaseTypeFactory
from routing.models import PolicyVersion, Queue, RoutingPolicy
from routing.services import (
    policy_draft_create,
    policy_draft_update,
    policy_edit_and_publish,
    policy_publish,
    queue_save,
)

pytestmark = pytest.mark.django_db


def default_policy() -> RoutingPolicy:
    return RoutingPolicy.objects.select_related("current_version").get(is_default=True)


def test_a_draft_copies_the_version_in_force_and_changes_only_what_is_given(admin_user):
    draft = policy_draft_create(
        actor=admin_user, case_type=None, values={"expert_threshold": 0.6}, note="looser"
    )
    current = default_policy().current_version
    assert draft.number is None
    assert not draft.is_published
    assert draft.expert_threshold == 0.6
    assert draft.auto_approve_threshold == current.auto_approve_threshold
    assert draft.rules == current.rules
    assert default_policy().current_version == current


def test_publishing_numbers_freezes_records_changes_and_audits(admin_user):
    draft = policy_draft_create(actor=admin_user, case_type=None, values={"audit_sample_rate": 0.1})
    published = policy_publish(version=draft, actor=admin_user)

    assert published.number == 2
    assert published.published_by == admin_user
    assert published.changes == {"audit_sample_rate": {"from": 0.05, "to": 0.1}}
    assert default_policy().current_version == published
    event = AuditEvent.objects.get(kind="policy.published")
    assert event.actor == admin_user
    assert event.data["policy_version"] == 2
    assert event.data["changes"] == published.changes


def test_a_published_version_cannot_be_changed_or_published_again(admin_user):
    version = default_policy().current_version
    version.expert_threshold = 0.1
    with pytest.raises(ImmutableRecord):
        version.save()
    with pytest.raises(Conflict):
        policy_publish(version=version, actor=admin_user)
    with pytest.raises(Conflict):
        policy_draft_update(version=version, actor=admin_user, values={"expert_threshold": 0.1})
    assert PolicyVersion.objects.get(pk=version.pk).expert_threshold == 0.7


def test_drafts_can_be_edited_until_published(admin_user):
    draft = policy_draft_create(actor=admin_user, case_type=None, values={})
    policy_draft_update(version=draft, actor=admin_user, values={"mode": "teacher"}, note="why")
    draft.refresh_from_db()
    assert (draft.mode, draft.note) == ("teacher", "why")


def test_version_numbers_are_per_policy(admin_user):
    refund = CaseTypeFactory(slug="refund")
    first = policy_edit_and_publish(actor=admin_user, case_type=refund, values={})
    second = policy_edit_and_publish(actor=admin_user, case_type=refund, values={"mode": "teacher"})
    default_v2 = policy_edit_and_publish(actor=admin_user, case_type=None, values={})
    assert (first.number, second.number, default_v2.number) == (1, 2, 2)
    assert second.changes == {"mode": {"from": "exception", "to": "teacher"}}
    assert first.changes == {"created": True}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"expert_threshold": 0.99}, "expert_threshold"),
        ({"auto_approve_threshold": 1.2}, "auto_approve_threshold"),
        ({"audit_sample_rate": -0.1}, "audit_sample_rate"),
        (
            {
                "rules": [
                    {
                        "name": "x",
                        "when": {"field": "priority", "op": "eq", "value": "high"},
                        "then": {"route_to": "nowhere"},
                    }
                ]
            },
            "rules",
        ),
        ({"expert_queue": "nowhere"}, "expert_queue"),
    ],
)
def test_invalid_drafts_are_refused_with_field_errors_and_nothing_is_saved(
    admin_user, values, field
):
    count = PolicyVersion.objects.count()
    with pytest.raises(InvalidInput) as caught:
        policy_draft_create(actor=admin_user, case_type=None, values=values)
    assert field in caught.value.fields
    assert PolicyVersion.objects.count() == count


def test_queue_role_is_mirrored_as_an_object_permission(admin_user):
    queue = Queue(slug="legal", name="Legal", kind="other", role=role_group(Role.EXPERT))
    queue_save(queue=queue, actor=admin_user)
    assert set(get_groups_with_perms(queue)) == {role_group(Role.EXPERT)}

    queue.role = role_group(Role.SUPERVISOR)
    queue_save(queue=queue, actor=admin_user)
    assert set(get_groups_with_perms(queue)) == {role_group(Role.SUPERVISOR)}


def test_queue_with_bad_sla_overrides_is_refused(admin_user):
    queue = Queue(slug="legal", name="Legal", sla_minutes={"urgent": 0, "someday": 5})
    with pytest.raises(InvalidInput) as caught:
        queue_save(queue=queue, actor=admin_user)
    assert "sla_minutes" in caught.value.fields
    assert not Queue.objects.filter(slug="legal").exists()
