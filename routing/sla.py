"""SLA clock helpers shared by routing and the review workflow."""

from __future__ import annotations

from datetime import datetime

from routing.business_hours import BusinessHours, add_working_minutes, working_seconds_between


def sla_warn_at(
    *, received: datetime, due: datetime, share: float, hours: BusinessHours | None
) -> datetime:
    """The moment ``share`` of the SLA's working time from ``received`` to ``due`` has
    passed: from then on a waiting case is at risk."""
    total = working_seconds_between(received, due, hours)
    return add_working_minutes(received, share * total / 60, hours)
