"""The admin pages for queues and policies, in a browser-like test client."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import AuditEvent
from routing.models import PolicyVersion, Queue, RoutingPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any, admin_user: Any) -> Any:
    client.force_login(admin_user)
    return client


def _form(**overrides: Any) -> dict[str, Any]:
    data = {
        "mode": "exception",
        "auto_approve_threshold": "0.95",
        "expert_threshold": "0.7",
        "audit_sample_rate": "0.05",
        "high_risk_tags": '["legal"]',
        "rules": "[]",
        "required_reviews": "1",
        "sla_minutes": '{"low": 1440, "normal": 240, "high": 60, "urgent": 15}',
        "fast_track_window_minutes": "30",
        "generalist_queue": "generalist",
        "expert_queue": "expert",
        "fast_track_queue": "fast-track",
        "audit_queue": "audit",
        "note": "tighten",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _default() -> RoutingPolicy:
    return RoutingPolicy.objects.get(is_default=True)


def test_policy_pages_render(admin_client):
    policy = _default()
    assert admin_client.get("/admin/routing/routingpolicy/").status_code == 200
    page = admin_client.get(f"/admin/routing/routingpolicy/{policy.pk}/change/")
    assert page.status_code == 200
    assert "Save and publish a new version" in page.content.decode()
    assert admin_client.get("/admin/routing/policyversion/").status_code == 200
    assert admin_client.get("/admin/routing/queue/").status_code == 200
    assert admin_client.get("/admin/routing/queueentry/").status_code == 200


def test_editing_a_policy_in_admin_publishes_a_new_version(admin_client, admin_user):
    policy = _default()
    response = admin_client.post(
        f"/admin/routing/routingpolicy/{policy.pk}/change/", _form(expert_threshold="0.6")
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    version = policy.current_version
    assert (version.number, version.expert_threshold, version.note) == (2, 0.6, "tighten")
    assert version.published_by == admin_user
    assert version.changes["expert_threshold"] == {"from": 0.7, "to": 0.6}
    assert PolicyVersion.objects.get(policy=policy, number=1).expert_threshold == 0.7
    assert AuditEvent.objects.filter(kind="policy.published", actor=admin_user).count() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expert_threshold": "0.99"}, "must not be above the auto-approve threshold"),
        ({"auto_approve_threshold": "1.5"}, "less than or equal to 1"),
        ({"audit_sample_rate": "-1"}, "greater than or equal to 0"),
        (
            {
                "rules": '[{"name": "r", "when": {"field": "priority", "op": "eq", '
                '"value": "high"}, "then": {"route_to": "nowhere"}}]'
            },
            "route_to &#x27;nowhere&#x27; is not a known queue",
        ),
        ({"expert_queue": "nowhere"}, "&#x27;nowhere&#x27; is not a known queue"),
    ],
)
def test_admin_refuses_invalid_policies_with_a_readable_message(admin_client, overrides, message):
    policy = _default()
    response = admin_client.post(
        f"/admin/routing/routingpolicy/{policy.pk}/change/", _form(**overrides)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    policy.refresh_from_db()
    assert policy.current_version.number == 1
    assert PolicyVersion.objects.count() == 1


def test_save_as_draft_leads_to_a_dry_run_then_publish(admin_client):
    policy = _default()
    response = admin_client.post(
        f"/admin/routing/routingpolicy/{policy.pk}/change/",
        _form(mode="validator", _save_draft="1", _save=None),
    )
    draft = PolicyVersion.objects.get(published_at__isnull=True)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/routing/policyversion/{draft.pk}/simulate/"
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    assert "Publish this version" in page.content.decode()
    policy.refresh_from_db()
    assert policy.current_version.number == 1

    admin_client.post(response["Location"], {"_publish": "1"})
    policy.refresh_from_db()
    assert (policy.current_version.pk, policy.current_version.number) == (draft.pk, 2)


def test_adding_a_queue_in_admin_grants_its_role(admin_client):
    from guardian.shortcuts import get_groups_with_perms

    from cases.roles import Role, role_group

    response = admin_client.post(
        "/admin/routing/queue/add/",
        {
            "slug": "legal",
            "name": "Legal",
            "kind": "other",
            "role": role_group(Role.EXPERT).pk,
            "ordering": "standard",
            "lease_minutes": "15",
            "sla_minutes": "{}",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    queue = Queue.objects.get(slug="legal")
    assert [g.name for g in get_groups_with_perms(queue)] == ["expert"]
