"""``Authorization: Token <key>`` (or ``Bearer <key>``) for people and sources alike.

A source's requests run as its service user; ``request.auth`` is then the Source, so
views can tell a system from a person without another query."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from cases.models import ApiToken
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
        token = (
            ApiToken.objects.select_related("user", "user__source")
            .filter(key_hash=hash_key(key), revoked_at__isnull=True)
            .first()
        )
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
