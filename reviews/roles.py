"""Which role a reviewer acts in when working a queue."""

from __future__ import annotations

from django.contrib.auth.models import User

from cases.roles import Role, user_roles
from routing.models import Queue

_PREFERENCE = (Role.SUPERVISOR, Role.EXPERT, Role.GENERALIST, Role.ADMIN)


def acting_role(user: User, queue: Queue) -> str:
    roles = user_roles(user)
    if queue.role is not None and queue.role.name in {r.value for r in roles}:
        return queue.role.name
    for role in _PREFERENCE:
        if role in roles:
            return role.value
    return "grant"
