"""Compliance officers read everything and change nothing: every write path, refused."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import ApiToken, AuditEvent, Case, CaseType, Source
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from reviews.models import Decision
from routing.models import PolicyVersion, QueueEntry, RoutingPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client_for: Any) -> dict[str, Any]:
    CaseTypeFactory(slug="refund", name="Refund")
    source = SourceFactory(name="shop")
    body = (
        client_for(source.api_key)
        .post("/api/v1/cases/", case_payload(confidence=0.8), format="json")
        .json()
    )
    return {"case": body["id"], "source": source}


def _snapshot() -> dict[str, Any]:
    return {
        "cases": list(Case.objects.values_list("id", "status", "updated_at")),
        "entries": list(QueueEntry.objects.values_list("id", "state", "claimed_by")),
        "decisions": Decision.objects.count(),
        "types": list(CaseType.objects.values_list("slug", "name")),
        "versions": list(PolicyVersion.objects.values_list("id", "published_at")),
        "sources": list(Source.objects.values_list("id", "is_active", "callback_url")),
        "tokens": list(ApiToken.objects.values_list("id", "revoked_at")),
        "business_events": AuditEvent.objects.exclude(kind="case.viewed").count(),
    }


def test_compliance_can_read_the_case_the_trail_and_the_admin(
    client, client_for, compliance_officer, world
):
    client.force_login(compliance_officer)
    assert client.get(f"/cases/{world['case']}/").status_code == 200
    assert client.get(f"/compliance/cases/{world['case']}/").status_code == 200
    assert client.get("/compliance/").status_code == 200
    export = client.get("/compliance/export/", {"format": "jsonl"})
    assert export.status_code == 200
    assert b'"manifest"' in b"".join(export.streaming_content)
    api = client_for(compliance_officer.api_key)
    assert api.get("/api/v1/audit/export", {"format": "csv"}).status_code == 200
    assert api.get(f"/api/v1/reviews/cases/{world['case']}/").status_code == 200
    for url in (
        "/admin/",
        "/admin/cases/case/",
        f"/admin/cases/case/{world['case']}/change/",
        "/admin/routing/routingpolicy/",
        "/admin/cases/source/",
        "/admin/cases/auditevent/",
    ):
        assert client.get(url).status_code == 200, url


def test_compliance_changes_nothing_anywhere(client, client_for, compliance_officer, world):
    api = client_for(compliance_officer.api_key)
    client.force_login(compliance_officer)
    case_id = world["case"]
    policy = RoutingPolicy.objects.get(is_default=True)
    draft = PolicyVersion.objects.create(policy=policy)
    source = world["source"]
    entry = QueueEntry.objects.get(case_id=case_id)
    before = _snapshot()

    api_calls = [
        api.post("/api/v1/cases/", case_payload(external_id="c"), format="json"),
        api.post("/api/v1/cases/bulk/", {"cases": [case_payload(external_id="d")]}, format="json"),
        api.post("/api/v1/case-types/", {"slug": "x", "name": "X"}, format="json"),
        api.patch("/api/v1/case-types/refund/", {"name": "Hacked"}, format="json"),
        api.put("/api/v1/case-types/refund/", {"slug": "refund", "name": "Hacked"}, format="json"),
        api.post("/api/v1/policies/", {"mode": "teacher"}, format="json"),
        api.patch(f"/api/v1/policies/{draft.pk}/", {"mode": "teacher"}, format="json"),
        api.post(f"/api/v1/policies/{draft.pk}/publish/"),
        api.post("/api/v1/queues/generalist/claim/"),
        api.post(f"/api/v1/cases/{case_id}/release/"),
        api.post(f"/api/v1/cases/{case_id}/decision/", {"action": "approve"}, format="json"),
    ]
    assert [r.status_code for r in api_calls] == [403] * 8 + [404, 403, 403]

    ui_calls = [
        client.post("/queues/generalist/next/"),
        client.post(f"/cases/{case_id}/decide/", {"action": "approve"}),
        client.post(f"/cases/{case_id}/release/"),
        client.post(f"/entries/{entry.pk}/reassign/", {"reviewer": "cora"}),
    ]
    assert [r.status_code for r in ui_calls] == [404] * 4
    admin_calls = [
        client.post(
            f"/admin/cases/source/{source.pk}/change/",
            {"name": "renamed", "is_active": "", "callback_url": ""},
        ),
        client.post(
            "/admin/cases/source/", {"action": "rotate_token", "_selected_action": [source.pk]}
        ),
        client.post("/admin/cases/casetype/add/", {"slug": "y", "name": "Y", "reason_codes": "[]"}),
        client.post(f"/admin/routing/routingpolicy/{policy.pk}/change/", {"mode": "teacher"}),
        client.post(f"/admin/routing/policyversion/{draft.pk}/simulate/", {"_publish": "1"}),
        client.post("/admin/routing/queue/add/", {"slug": "z", "name": "Z"}),
        client.post("/admin/cases/apitoken/", {"action": "revoke", "_selected_action": [1]}),
    ]
    # view-only admin: change forms do not save, actions need the change permission
    assert [r.status_code for r in admin_calls] == [403, 200, 403, 403, 200, 403, 200], [
        r.status_code for r in admin_calls
    ]
    assert _snapshot() == before
    draft.refresh_from_db()
    assert (draft.mode, draft.published_at) == ("exception", None)
