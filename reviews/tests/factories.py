"""Helpers for review tests: cases posted through the real ingestion API, reviewers in a
role, policy changes, and a snapshot of everything a review call may write."""

from __future__ import annotations

import itertools
import re
from typing import Any

from guardian.models import UserObjectPermission
from rest_framework.test import APIClient

from cases.models import AuditEvent, Case
from cases.roles import Role
from cases.services import reviewer_create
from cases.tests.factories import SourceFactory, case_payload
from reviews.models import Action, Decision
from routing.models import PolicyVersion, Queue, QueueEntry
from routing.services import policy_edit_and_publish

CASES_URL = "/api/v1/cases/"
REFUND_REASONS = ["wrong_amount", "policy_violation", "other"]
AI_OUTPUT = {"decision": "refund", "amount": 42.5}
# Messages whose wording follows the set of actions (which is growing): matched, not copied.
UNKNOWN_ACTION = f"Must be one of {', '.join(Action.values)}."
OUTPUT_NOT_ALLOWED = re.compile(r"Only an edit\b.* carries a final output\.")


def field_errors_match(actual: dict[str, list[str]], expected: dict[str, list[Any]]) -> bool:
    """``actual`` has exactly the fields and messages of ``expected``, where a message may
    be a compiled pattern that must match the whole text."""
    if set(actual) != set(expected) or any(len(actual[k]) != len(expected[k]) for k in expected):
        return False
    return all(
        want.fullmatch(got) if isinstance(want, re.Pattern) else want == got
        for key in expected
        for got, want in zip(actual[key], expected[key], strict=True)
    )


class Intake:
    """A source posting cases through POST /api/v1/cases/, as a real system would.

    Confidence 0.8 lands in the generalist queue, 0.5 in the expert queue, 0.99 is
    auto-approved and priority "urgent" goes to the fast-track queue (default policy)."""

    _numbers = itertools.count(1)

    def __init__(self, name: str = "billing-bot") -> None:
        self.source = SourceFactory(name=name)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {self.source.api_key}")

    def post(self, **overrides: Any) -> Case:
        overrides.setdefault("external_id", f"order-{next(self._numbers)}")
        response = self.client.post(CASES_URL, case_payload(**overrides), format="json")
        assert response.status_code == 201, response.content
        return Case.objects.get(pk=response.json()["id"])

    def generalist_case(self, **overrides: Any) -> Case:
        return self.post(**{"confidence": 0.8, **overrides})

    def expert_case(self, **overrides: Any) -> Case:
        return self.post(**{"confidence": 0.5, **overrides})

    def fast_track_case(self, **overrides: Any) -> Case:
        return self.post(**{"confidence": 0.8, "priority": "urgent", **overrides})

    def auto_approved_case(self, **overrides: Any) -> Case:
        return self.post(**{"confidence": 0.99, **overrides})


def make_reviewer(username: str, role: Role) -> Any:
    """A person in ``role`` with ``.api_key``, like the personas of the root conftest."""
    user, key = reviewer_create(username=username, role=role, password="pw-12345678")
    user.api_key = key
    return user


def publish_default_policy(**values: Any) -> PolicyVersion:
    """A new version of the default policy, in force at once (the rest copied over)."""
    return policy_edit_and_publish(actor=None, case_type=None, values=values, note="test")


def queue(slug: str) -> Queue:
    return Queue.objects.get(slug=slug)


def live_entry(case: Case, kind: str = "review") -> QueueEntry:
    """The case's open or claimed entry of ``kind``."""
    return QueueEntry.objects.select_related("queue").get(
        case=case, kind=kind, state__in=["open", "claimed"]
    )


def event_kinds(case: Case) -> list[str]:
    """The named business events of a case (``case.*``), in order; field-change records
    (``record.*``) that django-auditlog adds to the same trail are left out."""
    return list(
        AuditEvent.objects.filter(case=case, kind__startswith="case.")
        .order_by("id")
        .values_list("kind", flat=True)
    )


def world() -> dict[str, Any]:
    """Everything a review call can change, to prove that a refused call changed nothing."""
    return {
        "entries": sorted(
            QueueEntry.objects.values_list(
                "id",
                "queue__slug",
                "kind",
                "state",
                "escalated",
                "claimed_by_id",
                "claimed_at",
                "lease_expires_at",
                "closed_at",
            )
        ),
        "cases": sorted(
            (str(pk), status, repr(final_output), repr(decision), repr(decided_at))
            for pk, status, final_output, decision, decided_at in Case.objects.values_list(
                "id", "status", "final_output", "decision", "decided_at"
            )
        ),
        "decisions": sorted(Decision.objects.values_list("id", "case_id", "reviewer_id", "action")),
        "events": list(AuditEvent.objects.order_by("id").values_list("kind", "case_id")),
        "object_perms": sorted(
            UserObjectPermission.objects.values_list("user_id", "permission__codename", "object_pk")
        ),
    }
