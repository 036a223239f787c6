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


class IsReviewer(IsPerson):
    """A person who may work at least one queue (compliance officers may not: read-only)."""

    message = "Only reviewers may claim, release or decide cases."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        from reviews.selectors import works_a_queue

        return works_a_queue(request.user)  # type: ignore[arg-type]
