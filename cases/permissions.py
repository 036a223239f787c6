"""Who may call what. Role checks for the API live here; object access lives in selectors."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from cases.models import Source
from cases.roles import Role, user_has_role


def request_source(request: Request) -> Source | None:
    return request.auth if isinstance(request.auth, Source) else None


def request_person(request: Request) -> User:
    """The authenticated user of a request that passed a permission check."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


class IsSource(BasePermission):
    """A system authenticated with its source token."""

    message = "Only a source (a system posting cases, with its source token) may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_source(request) is not None


class HasRole(BasePermission):
    """Subclass with ``roles`` (any of them grants access) and optional ``read_roles``."""

    roles: tuple[Role, ...] = ()
    read_roles: tuple[Role, ...] = ()
    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request_source(request) is not None:
            return False
        allowed = self.roles + (self.read_roles if request.method in SAFE_METHODS else ())
        return user_has_role(request.user, *allowed)


class IsAdminRole(HasRole):
    roles = (Role.ADMIN,)
    message = "Only users in the admin role may do this."
