"""GET /api/v1/cases/{id}/ and the cursor-paginated list: auth and source isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.models import Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def refund(db: None) -> Any:
    return CaseTypeFactory(slug="refund")


@pytest.fixture
def source(db: None) -> Any:
    return SourceFactory(name="billing-bot")


def _post(client: Any, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/cases/", case_payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_source_reads_its_case_with_everything_it_posted(client_for, source, refund):
    client = client_for(source.api_key)
    created = _post(client)
    response = client.get(f"/api/v1/cases/{created['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"]
    assert body["status"] == "pending_review"
    assert body["input"] == case_payload()["input"]
    assert body["context"] == case_payload()["context"]
    assert body["final_output"] is None


def test_another_sources_case_is_a_404_not_a_403(client_for, source, refund):
    created = _post(client_for(source.api_key))
    intruder = SourceFactory(name="intruder")
    response = client_for(intruder.api_key).get(f"/api/v1/cases/{created['id']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_shows_only_the_callers_cases(client_for, source, refund):
    _post(client_for(source.api_key), external_id="mine")
    other = SourceFactory(name="other")
    _post(client_for(other.api_key), external_id="theirs")
    body = client_for(source.api_key).get("/api/v1/cases/").json()
    assert [case["external_id"] for case in body["results"]] == ["mine"]


def test_list_filters_by_status_and_updated_since(client_for, source, refund):
    client = client_for(source.api_key)
    old = _post(client, external_id="old")
    new = _post(client, external_id="new")
    Case.objects.filter(pk=old["id"]).update(
        updated_at=timezone.now() - timedelta(days=2), status="approved"
    )
    since = (timezone.now() - timedelta(days=1)).isoformat()

    recent = client.get("/api/v1/cases/", {"updated_since": since}).json()
    approved = client.get("/api/v1/cases/", {"status": "approved"}).json()
    both = client.get("/api/v1/cases/", {"status": "approved,pending_review"}).json()

    assert [c["id"] for c in recent["results"]] == [new["id"]]
    assert [c["id"] for c in approved["results"]] == [old["id"]]
    assert len(both["results"]) == 2


def test_list_rejects_bad_filters_with_field_errors(client_for, source, refund):
    client = client_for(source.api_key)
    bad_status = client.get("/api/v1/cases/", {"status": "lost"})
    bad_since = client.get("/api/v1/cases/", {"updated_since": "yesterday"})
    assert bad_status.status_code == 400
    assert "status" in bad_status.json()["error"]["fields"]
    assert bad_since.status_code == 400
    assert "updated_since" in bad_since.json()["error"]["fields"]


def test_list_is_cursor_paginated_in_update_order(client_for, source, refund):
    client = client_for(source.api_key)
    for i in range(5):
        _post(client, external_id=f"c-{i}")
    seen: list[str] = []
    url: str | None = "/api/v1/cases/?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen.extend(case["external_id"] for case in page["results"])
        url = page["next"]
    assert seen == [f"c-{i}" for i in range(5)]


@pytest.mark.parametrize(
    "header",
    [None, "Token", "Token nope", "Token a b", "Bearer lg_wrong", "Basic dXNlcjpwYXNz"],
)
def test_missing_or_invalid_token_is_a_401(api_client, source, refund, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.post("/api/v1/cases/", case_payload(), format="json")
    assert response.status_code == 401
    assert "error" in response.json()
    assert Case.objects.count() == 0


def test_rotated_token_stops_working_and_the_new_one_works(client_for, source, refund):
    from cases.services import source_rotate_token

    new_key = source_rotate_token(source=source, actor=None)
    old = client_for(source.api_key).get("/api/v1/cases/")
    new = client_for(new_key).get("/api/v1/cases/")
    assert (old.status_code, new.status_code) == (401, 200)


def test_deactivated_source_is_a_401(client_for, source, refund):
    source.is_active = False
    source.save(update_fields=["is_active"])
    response = client_for(source.api_key).post("/api/v1/cases/", case_payload(), format="json")
    assert response.status_code == 401
    assert "deactivated" in response.json()["error"]["message"]


def test_people_cannot_post_cases_as_a_source(client_for, admin_user, generalist, refund):
    for person in (admin_user, generalist):
        response = client_for(person.api_key).post("/api/v1/cases/", case_payload(), format="json")
        assert response.status_code == 403
    assert Case.objects.count() == 0
