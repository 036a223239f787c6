"""Policies and queues as configuration through the API, for the admin role only."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import AuditEvent
from cases.services import api_token_create
from cases.tests.factories import CaseTypeFactory, SourceFactory
from routing.models import PolicyVersion, RoutingPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(client_for: Any, admin_user: Any) -> Any:
    return client_for(admin_user.api_key)


def test_admin_creates_a_draft_for_a_case_type_and_publishes_it(admin_api, admin_user):
    CaseTypeFactory(slug="refund")
    created = admin_api.post(
        "/api/v1/policies/",
        {"case_type": "refund", "expert_threshold": 0.5, "note": "trust the model more"},
        format="json",
    )
    assert created.status_code == 201, created.content
    draft = created.json()
    assert (draft["status"], draft["number"], draft["is_current"]) == ("draft", None, False)
    assert draft["case_type"] == "refund"
    assert draft["expert_threshold"] == 0.5
    assert draft["auto_approve_threshold"] == 0.95

    published = admin_api.post(f"/api/v1/policies/{draft['id']}/publish/")
    assert published.status_code == 200
    assert (published.json()["status"], published.json()["number"]) == ("published", 1)
    assert published.json()["is_current"] is True
    event = AuditEvent.objects.get(kind="policy.published")
    assert (event.actor, event.data["policy"]) == (admin_user, "refund")

    again = admin_api.post(f"/api/v1/policies/{draft['id']}/publish/")
    assert again.status_code == 409


def test_draft_for_the_default_policy_and_patch(admin_api):
    draft = admin_api.post("/api/v1/policies/", {"mode": "validator"}, format="json").json()
    assert draft["policy"] == "default"
    patched = admin_api.patch(
        f"/api/v1/policies/{draft['id']}/", {"audit_sample_rate": 0.2}, format="json"
    )
    assert patched.status_code == 200
    assert (patched.json()["mode"], patched.json()["audit_sample_rate"]) == ("validator", 0.2)


def test_patching_a_published_version_is_a_409(admin_api):
    current = RoutingPolicy.objects.get(is_default=True).current_version
    response = admin_api.patch(
        f"/api/v1/policies/{current.pk}/", {"mode": "teacher"}, format="json"
    )
    assert response.status_code == 409
    current.refresh_from_db()
    assert current.mode == "exception"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expert_threshold": 0.99}, "expert_threshold"),
        ({"auto_approve_threshold": "high"}, "auto_approve_threshold"),
        ({"audit_sample_rate": 2}, "audit_sample_rate"),
        ({"mode": "yolo"}, "mode"),
        ({"case_type": "nope"}, "case_type"),
        (
            {
                "rules": [
                    {
                        "name": "r",
                        "when": {"field": "priority", "op": "eq", "value": "high"},
                        "then": {"route_to": "nowhere"},
                    }
                ]
            },
            "rules",
        ),
        (
            {
                "rules": [
                    {
                        "name": "r",
                        "when": {"field": "__class__", "op": "eq", "value": 1},
                        "then": {"route_to": "expert"},
                    }
                ]
            },
            "rules",
        ),
        ({"sla_minutes": {"normal": 10}}, "sla_minutes"),
    ],
)
def test_invalid_policies_are_a_400_naming_the_field(admin_api, body, field):
    before = PolicyVersion.objects.count()
    response = admin_api.post("/api/v1/policies/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert PolicyVersion.objects.count() == before


def test_rules_error_names_the_unknown_queue(admin_api):
    body = {
        "rules": [
            {
                "name": "big",
                "when": {"field": "metadata.amount", "op": "gt", "value": 1000},
                "then": {"route_to": "nowhere"},
            }
        ]
    }
    response = admin_api.post("/api/v1/policies/", body, format="json")
    assert response.json()["error"]["fields"]["rules"] == [
        "rule #1 ('big'): route_to 'nowhere' is not a known queue"
    ]


def test_list_filters_by_case_type_and_status(admin_api):
    admin_api.post("/api/v1/policies/", {}, format="json")
    drafts = admin_api.get("/api/v1/policies/", {"status": "draft"}).json()
    published = admin_api.get(
        "/api/v1/policies/", {"case_type": "default", "status": "published"}
    ).json()
    assert [v["status"] for v in drafts] == ["draft"]
    assert [v["number"] for v in published] == [1]


def test_simulate_reports_what_a_draft_would_do(admin_api, client_for):
    CaseTypeFactory(slug="refund")
    source = SourceFactory(name="bot")
    bot = client_for(source.api_key)
    from cases.tests.factories import case_payload

    for i, confidence in enumerate([0.5, 0.8, 0.9, 0.97]):
        bot.post(
            "/api/v1/cases/",
            case_payload(external_id=f"s-{i}", confidence=confidence),
            format="json",
        )
    draft = admin_api.post(
        "/api/v1/policies/", {"auto_approve_threshold": 0.85}, format="json"
    ).json()

    for url in (
        f"/api/v1/policies/{draft['id']}/simulate",
        f"/api/v1/policies/{draft['id']}/simulate/",
    ):
        report = admin_api.get(url, {"days": 7}).json()
        assert report["cases"] == 4
        assert report["auto_approved"] == 2
        assert report["by_queue"] == {"expert": 1, "generalist": 1}
        assert report["actual_auto_approved"] == 1
        assert report["actual_by_queue"] == {"expert": 1, "generalist": 2}


def test_simulate_rejects_bad_parameters(admin_api):
    current = RoutingPolicy.objects.get(is_default=True).current_version
    bad = admin_api.get(f"/api/v1/policies/{current.pk}/simulate", {"since": "last week"})
    assert bad.status_code == 400
    assert "since" in bad.json()["error"]["fields"]


def test_queues_are_listed_for_admins(admin_api):
    queues = admin_api.get("/api/v1/queues/").json()
    assert [q["slug"] for q in queues] == [
        "audit",
        "expert",
        "fast-track",
        "generalist",
        "supervisor",
    ]
    assert queues[3]["role"] == "generalist"
    assert queues[3]["escalates_to"] == "expert"


@pytest.mark.parametrize(
    "persona", ["generalist", "expert", "supervisor", "compliance_officer", "outsider", "source"]
)
def test_only_admins_may_touch_policies_and_queues(request, client_for, persona):
    if persona == "source":
        key = SourceFactory(name="bot").api_key
    else:
        user = request.getfixturevalue(persona)
        key = user.api_key or api_token_create(user=user)
    client = client_for(key)
    current = RoutingPolicy.objects.get(is_default=True).current_version
    draft = PolicyVersion.objects.create(policy=current.policy)
    responses = [
        client.get("/api/v1/policies/"),
        client.post("/api/v1/policies/", {"mode": "teacher"}, format="json"),
        client.get(f"/api/v1/policies/{draft.pk}/"),
        client.patch(f"/api/v1/policies/{draft.pk}/", {"mode": "teacher"}, format="json"),
        client.post(f"/api/v1/policies/{draft.pk}/publish/"),
        client.get(f"/api/v1/policies/{draft.pk}/simulate"),
        client.get("/api/v1/queues/"),
    ]
    assert [r.status_code for r in responses] == [403] * 7
    draft.refresh_from_db()
    assert (draft.mode, draft.published_at) == ("exception", None)
    assert PolicyVersion.objects.count() == 2
    assert not AuditEvent.objects.filter(kind="policy.published").exists()
