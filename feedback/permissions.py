"""Who may read training data: admins, and tokens given the ``feedback`` scope."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from cases.models import ApiToken
from cases.roles import Role, user_has_role


class HasFeedbackAccess(BasePermission):
    message = "Needs the admin role or an API token with the 'feedback' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and "feedback" in (token.scopes or []):
            return True
        return user_has_role(request.user, Role.ADMIN)
