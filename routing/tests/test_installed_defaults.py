"""What `migrate` installs: standard queues, role groups with object permissions, and the
default policy."""

from __future__ import annotations

import pytest
from guardian.shortcuts import get_groups_with_perms

from routing.models import Queue, RoutingPolicy

pytestmark = pytest.mark.django_db


def test_default_policy_is_published_with_the_documented_values():
    version = RoutingPolicy.objects.get(is_default=True).current_version
    assert version.number == 1
    assert version.is_published
    assert version.mode == "exception"
    assert (version.auto_approve_threshold, version.expert_threshold) == (0.95, 0.70)
    assert version.audit_sample_rate == 0.05
    assert version.sla_minutes == {"low": 1440, "normal": 240, "high": 60, "urgent": 15}
    assert version.required_reviews == 1
    assert version.rules == [
        {
            "name": "urgent-fast-track",
            "when": {"field": "priority", "op": "eq", "value": "urgent"},
            "then": {"route_to": "fast-track"},
        }
    ]


def test_standard_queues_and_who_may_work_them():
    queues = {q.slug: q for q in Queue.objects.select_related("role", "escalates_to")}
    assert set(queues) == {"generalist", "expert", "fast-track", "audit", "supervisor"}
    kinds = {slug: q.kind for slug, q in queues.items()}
    assert kinds == {
        "generalist": "generalist",
        "expert": "expert",
        "fast-track": "fast_track",
        "audit": "audit",
        "supervisor": "supervisor",
    }
    workers = {
        slug: sorted(g.name for g in get_groups_with_perms(queue)) for slug, queue in queues.items()
    }
    assert workers == {
        "generalist": ["expert", "generalist", "supervisor"],
        "fast-track": ["expert", "generalist", "supervisor"],
        "expert": ["expert", "supervisor"],
        "audit": ["expert", "supervisor"],
        "supervisor": ["supervisor"],
    }
    assert queues["generalist"].escalates_to.slug == "expert"
    assert queues["expert"].escalates_to.slug == "supervisor"
