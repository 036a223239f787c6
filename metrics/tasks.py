"""Background tasks for metrics: thin, safe to run twice."""

from __future__ import annotations

from metrics.rollups import rollups_catch_up


def rollups_update() -> int:
    return rollups_catch_up()


def alerts_check() -> int:
    from metrics.alerts import alerts_evaluate

    return len(alerts_evaluate())
