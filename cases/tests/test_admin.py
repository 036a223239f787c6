"""Django admin for sources, case types and cases, driven through the test client."""

from __future__ import annotations

import re

import pytest

from cases.models import ApiToken, Case, CaseType, Source
from cases.tests.factories import CaseFactory, CaseTypeFactory
from cases.tokens import hash_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    client.force_login(admin_user)
    return client


def test_adding_a_source_shows_its_token_once(admin_client):
    response = admin_client.post(
        "/admin/cases/source/add/",
        {"name": "crm", "callback_url": "https://crm.example/h"},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    match = re.search(r"shown only this once: (lg_[A-Za-z0-9_\-]+)", page)
    assert match, page
    source = Source.objects.get(name="crm")
    assert ApiToken.objects.get(user=source.user).key_hash == hash_key(match.group(1))
    detail = admin_client.get(f"/admin/cases/source/{source.pk}/change/").content.decode()
    assert match.group(1) not in detail


def test_rotate_token_action_revokes_the_old_token(admin_client):
    admin_client.post("/admin/cases/source/add/", {"name": "crm"})
    source = Source.objects.get(name="crm")
    response = admin_client.post(
        "/admin/cases/source/",
        {"action": "rotate_token", "_selected_action": [source.pk]},
        follow=True,
    )
    assert "New token for" in response.content.decode()
    tokens = ApiToken.objects.filter(user=source.user)
    assert tokens.count() == 2
    assert tokens.filter(revoked_at__isnull=True).count() == 1


def test_case_type_admin_refuses_an_invalid_schema_with_a_readable_message(admin_client):
    response = admin_client.post(
        "/admin/cases/casetype/add/",
        {
            "slug": "refund",
            "name": "Refund",
            "kind": "standard",
            "reason_codes": '["ok"]',
            "input_schema": '{"type": "banana"}',
            "output_schema": "null",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Not a valid JSON Schema" in response.content.decode()
    assert not CaseType.objects.exists()


def test_case_type_admin_saves_a_valid_case_type(admin_client):
    response = admin_client.post(
        "/admin/cases/casetype/add/",
        {
            "slug": "refund",
            "name": "Refund",
            "kind": "standard",
            "reason_codes": '["ok", "fraud"]',
            "input_schema": '{"type": "object"}',
            "output_schema": "null",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert CaseType.objects.get().reason_codes == ["ok", "fraud"]


def test_case_admin_lists_and_shows_cases_but_cannot_change_them(admin_client):
    case = CaseFactory(case_type=CaseTypeFactory(slug="refund"))
    assert admin_client.get("/admin/cases/case/").status_code == 200
    assert admin_client.get(f"/admin/cases/case/{case.pk}/change/").status_code == 200
    assert admin_client.get("/admin/cases/case/add/").status_code == 403
    admin_client.post(f"/admin/cases/case/{case.pk}/change/", {"confidence": "0.1"})
    assert admin_client.get(f"/admin/cases/case/{case.pk}/delete/").status_code == 403
    assert Case.objects.get().confidence == 0.8
