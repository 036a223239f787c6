"""Background tasks of the review workflow: thin, safe to run twice."""

from __future__ import annotations

from dataclasses import asdict

from reviews import sweeps


def sla_sweep() -> dict[str, int]:
    return asdict(sweeps.sla_sweep())


def notifications_email(notification_ids: list[int]) -> int:
    return sweeps.notifications_email(notification_ids=notification_ids)
