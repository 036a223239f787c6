"""The token lookup every API request makes: one query, the same objects as the ORM's."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cases.authentication import token_lookup
from cases.models import ApiToken
from cases.services import api_token_create, source_create
from cases.tokens import hash_key

pytestmark = pytest.mark.django_db


def _orm(key: str) -> ApiToken | None:
    return (
        ApiToken.objects.select_related("user", "user__source")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )


def _same(ours: ApiToken, orm: ApiToken) -> None:
    from django.forms.models import model_to_dict

    assert model_to_dict(ours) == model_to_dict(orm) and ours.pk == orm.pk
    assert model_to_dict(ours.user) == model_to_dict(orm.user)
    assert ours.user.password == orm.user.password


def test_a_source_token_reads_as_the_orm_reads_it(django_assert_num_queries):
    source, key = source_create(name="billing-bot", callback_url="https://example.test/hook")
    with django_assert_num_queries(1):
        token = token_lookup(hash_key(key))
        assert token is not None
        assert token.user.source == source  # cached: no second query
        assert token.user.source.callback_url == "https://example.test/hook"
        assert token.user.source.user is token.user
    orm = _orm(key)
    assert orm is not None
    _same(token, orm)
    assert not token._state.adding and token.user._state.db == "default"


def test_a_person_token_has_no_source(generalist, django_assert_num_queries):
    key = api_token_create(user=generalist, name="laptop", scopes=["feedback"])
    with django_assert_num_queries(1):
        token = token_lookup(hash_key(key))
        assert token is not None
        assert getattr(token.user, "source", None) is None
        assert token.scopes == ["feedback"]
    orm = _orm(key)
    assert orm is not None
    _same(token, orm)


def test_revoked_and_unknown_tokens_are_not_found(generalist):
    key = api_token_create(user=generalist, name="old")
    ApiToken.objects.filter(user=generalist).update(revoked_at=timezone.now())
    assert token_lookup(hash_key(key)) is None
    assert token_lookup(hash_key("lg_never-issued")) is None
