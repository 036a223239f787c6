"""The roles people hold. A role is a Django group of the same name; superusers count as admins."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import models


class Role(models.TextChoices):
    GENERALIST = "generalist", "Generalist reviewer"
    EXPERT = "expert", "Expert reviewer"
    SUPERVISOR = "supervisor", "Supervisor"
    COMPLIANCE = "compliance", "Compliance officer"
    ADMIN = "admin", "Administrator"


_CACHE_ATTR = "_loopgate_roles"


def user_roles(user: User | AnonymousUser) -> frozenset[Role]:
    """The roles of a user, read once per user object (one query) and cached on it."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    names = set(Group.objects.filter(user=user).values_list("name", flat=True))
    roles = {Role(name) for name in names if name in Role.values}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    result = frozenset(roles)
    setattr(user, _CACHE_ATTR, result)
    return result


def user_has_role(user: User | AnonymousUser, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def role_group(role: Role) -> Group:
    group, _ = Group.objects.get_or_create(name=role.value)
    return group


def grant_compliance_view_permissions(**kwargs: object) -> None:
    """Compliance officers may view every model in Django admin and change none
    (run after every migrate, so new models are covered)."""
    from django.contrib.auth.models import Permission

    group, _ = Group.objects.get_or_create(name=Role.COMPLIANCE.value)
    views = Permission.objects.filter(codename__startswith="view_")
    group.permissions.add(*views)
