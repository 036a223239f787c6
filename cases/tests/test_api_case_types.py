"""Case types as configuration: admins only, the same validation as Django admin."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import CaseType
from cases.tests.factories import CaseTypeFactory, SourceFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/case-types/"


def _body(**overrides: Any) -> dict[str, Any]:
    body = {
        "slug": "content-removal",
        "name": "Content removal",
        "reason_codes": ["hate_speech", "spam", "other"],
        "input_schema": {"type": "object", "required": ["text"]},
        "output_schema": None,
    }
    body.update(overrides)
    return body


def test_admin_creates_reads_and_updates_a_case_type(client_for, admin_user):
    client = client_for(admin_user.api_key)
    created = client.post(LIST, _body(), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["reason_codes"] == ["hate_speech", "spam", "other"]

    patched = client.patch(f"{LIST}content-removal/", {"name": "Removals"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["name"] == "Removals"
    assert patched.json()["reason_codes"] == ["hate_speech", "spam", "other"]

    put = client.put(f"{LIST}content-removal/", _body(reason_codes=["spam"]), format="json")
    assert put.status_code == 200
    stored = CaseType.objects.get(slug="content-removal")
    assert (stored.name, stored.reason_codes) == ("Content removal", ["spam"])

    listed = client.get(LIST).json()
    assert [item["slug"] for item in listed] == ["content-removal"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"reason_codes": "spam"}, "reason_codes"),
        ({"reason_codes": ["Has Spaces"]}, "reason_codes"),
        ({"reason_codes": ["spam", "spam"]}, "reason_codes"),
        ({"input_schema": {"type": "no-such-type"}}, "input_schema"),
        ({"output_schema": [1, 2]}, "output_schema"),
        ({"slug": "not a slug"}, "slug"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_configuration_is_a_400_naming_the_field(client_for, admin_user, override, field):
    response = client_for(admin_user.api_key).post(LIST, _body(**override), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not CaseType.objects.exists()


def test_duplicate_slug_is_a_400(client_for, admin_user):
    CaseTypeFactory(slug="content-removal")
    response = client_for(admin_user.api_key).post(LIST, _body(), format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["error"]["fields"]


def test_unknown_case_type_is_a_404(client_for, admin_user):
    response = client_for(admin_user.api_key).get(f"{LIST}nope/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "persona", ["generalist", "expert", "supervisor", "compliance_officer", "outsider", "source"]
)
def test_everyone_but_admins_gets_403_and_changes_nothing(request, client_for, persona):
    CaseTypeFactory(slug="refund", name="Refund")
    if persona == "source":
        key = SourceFactory(name="bot").api_key
    else:
        user = request.getfixturevalue(persona)
        if user.api_key is None:
            from cases.services import api_token_create

            user.api_key = api_token_create(user=user)
        key = user.api_key
    client = client_for(key)
    responses = [
        client.get(LIST),
        client.post(LIST, _body(), format="json"),
        client.get(f"{LIST}refund/"),
        client.patch(f"{LIST}refund/", {"name": "Hacked"}, format="json"),
        client.put(f"{LIST}refund/", _body(slug="refund"), format="json"),
    ]
    assert [r.status_code for r in responses] == [403] * 5
    assert list(CaseType.objects.values_list("slug", "name")) == [("refund", "Refund")]


def test_session_authenticated_admin_can_use_the_api(api_client, admin_user):
    api_client.force_login(admin_user)
    assert api_client.get(LIST).status_code == 200


def test_anonymous_is_a_401(api_client):
    assert api_client.get(LIST).status_code == 401
