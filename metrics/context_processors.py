"""Template context for the site navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from metrics.permissions import sees_all_metrics


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"sees_dashboard": bool(user and user.is_authenticated and sees_all_metrics(user))}
