"""``Authorization: Token <key>`` (or ``Bearer <key>``) for people and sources alike.

A source's requests run as its service user; ``request.auth`` is then the Source, so
views can tell a system from a person without another query."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from cases import raw_rows
from cases.models import ApiToken, Source
from cases.raw_rows import JoinedShape, joined_shape, link
from cases.tokens import hash_key


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid token header: send 'Authorization: Token <key>'.")
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        token = token_lookup(hash_key(key))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        source = getattr(user, "source", None)
        if source is not None:
            if not source.is_active:
                raise exceptions.AuthenticationFailed(_("This source is deactivated."))
            return user, source
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


@functools.cache
def _lookup_sql() -> tuple[str, JoinedShape]:
    shape, columns = joined_shape((ApiToken, "t"), (get_user_model(), "u"), (Source, "s"))
    sql = (
        f"SELECT {columns} FROM {ApiToken._meta.db_table} t "  # noqa: S608
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = t.user_id "
        f"LEFT JOIN {Source._meta.db_table} s ON s.user_id = u.id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL"
    )
    return sql, shape


def token_lookup(key_hash: str) -> ApiToken | None:
    """The live token with this hash, its user and the user's source (if a system), in one
    query: what ``select_related("user", "user__source")`` reads, as plain SQL, because every
    API request asks and the ORM spent longer building that query than the database took to
    answer it. Column lists come from the models, so they follow any change to them."""
    sql, shape = _lookup_sql()
    row = raw_rows.fetch_one(sql, [key_hash])
    if row is None:
        return None
    token, user, source = shape.build(row)
    # The reverse one-to-one: the source, or None, cached as select_related would.
    Source._meta.get_field("user").remote_field.set_cached_value(user, source)
    if source is not None:
        link(source, "user", user)
    link(token, "user", user)
    return token
