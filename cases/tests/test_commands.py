"""create_source and create_reviewer: the contract scripts rely on (token on the last line)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from cases.models import Source
from cases.roles import Role, user_roles

pytestmark = pytest.mark.django_db


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_create_source_prints_a_working_token_on_the_last_line():
    out = StringIO()
    call_command("create_source", "crm", "--callback-url", "https://crm.example/hook", stdout=out)
    token = _last_line(out.getvalue())
    source = Source.objects.get(name="crm")
    assert source.callback_url == "https://crm.example/hook"
    assert source.signing_secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/cases/").status_code == 200


def test_create_source_refuses_a_duplicate_name():
    call_command("create_source", "crm", stdout=StringIO())
    with pytest.raises(CommandError, match="exists"):
        call_command("create_source", "crm", stdout=StringIO())


@pytest.mark.parametrize("role", Role.values)
def test_create_reviewer_puts_the_person_in_the_role_and_prints_a_token(role):
    out = StringIO()
    call_command(
        "create_reviewer", "pat", "--role", role, "--password", "s3cret-enough-pw", stdout=out
    )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="pat")
    assert user.check_password("s3cret-enough-pw")
    assert user_roles(user) == {Role(role)}
    assert user.is_staff is (role in ("admin", "compliance"))
    assert user.is_superuser is (role == "admin")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {_last_line(out.getvalue())}")
    expected = 200 if role == "admin" else 403
    assert client.get("/api/v1/case-types/").status_code == expected


def test_create_reviewer_rejects_an_unknown_role():
    with pytest.raises(CommandError):
        call_command("create_reviewer", "pat", "--role", "janitor", "--password", "x")


def test_create_reviewer_rejects_a_weak_password_and_creates_nobody():
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError, match="too short|too common"):
        call_command(
            "create_reviewer", "pat", "--role", "expert", "--password", "abc", stdout=StringIO()
        )
    assert not get_user_model().objects.filter(username="pat").exists()


def test_create_reviewer_refuses_an_existing_username():
    call_command(
        "create_reviewer",
        "pat",
        "--role",
        "expert",
        "--password",
        "s3cret-enough-pw",
        stdout=StringIO(),
    )
    with pytest.raises(CommandError, match="taken"):
        call_command(
            "create_reviewer",
            "pat",
            "--role",
            "admin",
            "--password",
            "s3cret-enough-pw",
            stdout=StringIO(),
        )
