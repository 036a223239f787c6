"""Who may use the reviewer endpoints: people (not sources) in a reviewing role or with a
per-user queue grant. Which queue and which case is then decided by the selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from cases.permissions import request_source


class IsPerson(BasePermission):
    message = "Only people (with a personal token or a session) may review cases."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated) and (
            request_source(request) is None
        )
