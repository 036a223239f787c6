"""django-q2 cluster configuration: the ORM broker by default, Redis when REDIS_URL is set."""

from __future__ import annotations

from typing import Any


def q_cluster(*, redis_url: str | None, workers: int, sync: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "loopgate",
        "workers": workers,
        "timeout": 120,
        "retry": 180,
        "max_attempts": 5,
        "queue_limit": 200,
        "bulk": 10,
        "catch_up": False,
        "ack_failures": True,
        "save_limit": 1000,
        "sync": sync,
        "label": "Background tasks",
    }
    if redis_url:
        config["redis"] = redis_url
    else:
        config["orm"] = "default"
        config["poll"] = 0.5
    return config
