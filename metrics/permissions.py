"""Who sees which figures: supervisors, admins and compliance see everything; reviewers see
the loop's figures only through their own row."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from cases.roles import Role, user_has_role

SEE_ALL = (Role.SUPERVISOR, Role.ADMIN, Role.COMPLIANCE)


def sees_all_metrics(user: User | AnonymousUser) -> bool:
    return user_has_role(user, *SEE_ALL)
